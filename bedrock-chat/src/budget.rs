//! A spending limit: a policy a session applies before each turn.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A spending limit for a session, in US dollars, checked before each turn against what the
/// session has spent plus the most the turn could cost (its estimated input and `max_tokens` of
/// output, at the model's price).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Budget {
    /// The limit in US dollars.
    pub limit_usd: f64,
    /// Refuse the turn (with [`Error::BudgetExceeded`]) rather than warn.
    pub refuse: bool,
}

impl Budget {
    /// Warn (with a [`Notice::BudgetWarning`](crate::Notice::BudgetWarning)) when a turn could go
    /// over `limit_usd`.
    pub fn warn(limit_usd: f64) -> Self {
        Budget {
            limit_usd,
            refuse: false,
        }
    }

    /// Refuse a turn that could go over `limit_usd`.
    pub fn refuse(limit_usd: f64) -> Self {
        Budget {
            limit_usd,
            refuse: true,
        }
    }

    /// A limit with the given mode.
    pub fn new(limit_usd: f64, mode: BudgetMode) -> Self {
        Budget {
            limit_usd,
            refuse: mode == BudgetMode::Refuse,
        }
    }

    /// What happens when a turn could go over the limit.
    pub fn mode(&self) -> BudgetMode {
        if self.refuse {
            BudgetMode::Refuse
        } else {
            BudgetMode::Warn
        }
    }

    /// Checks that the limit is a number of dollars of at least 0.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a negative, infinite or NaN limit.
    pub fn validate(&self) -> Result<()> {
        if self.limit_usd.is_finite() && self.limit_usd >= 0.0 {
            Ok(())
        } else {
            Err(Error::config(format!(
                "the budget must be a number of US dollars of at least 0, got {}",
                self.limit_usd
            )))
        }
    }
}

/// What a [`Budget`] does when a turn could go over it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BudgetMode {
    /// Send the turn, with a warning.
    #[default]
    Warn,
    /// Refuse the turn.
    Refuse,
}

impl FromStr for BudgetMode {
    type Err = Error;

    /// `warn` or `refuse`.
    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "warn" => Ok(BudgetMode::Warn),
            "refuse" => Ok(BudgetMode::Refuse),
            other => Err(Error::config(format!(
                "{other:?} is not a budget mode; use warn or refuse"
            ))),
        }
    }
}

impl fmt::Display for BudgetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BudgetMode::Warn => "warn",
            BudgetMode::Refuse => "refuse",
        })
    }
}
