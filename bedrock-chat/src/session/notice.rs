//! Things a session tells its frontend about, besides retries: trimmed context and the budget.

use std::fmt;
use std::sync::Arc;

use crate::usd::Usd;

/// Something the user should know about a turn, though it did not fail.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Notice {
    /// Older exchanges were not sent with this turn (they stay in the history).
    ContextTrimmed {
        /// Messages at the start of the history that were not sent.
        dropped_messages: usize,
        /// Messages of history that were sent (the new message not counted).
        sent_messages: usize,
        /// True when Bedrock had refused the conversation as too long and the turn was sent
        /// again with less.
        after_overflow: bool,
    },
    /// The next turn could take the session over its budget (the turn is still sent: the budget
    /// is set to warn).
    BudgetWarning {
        /// Spent so far, in US dollars.
        spent_usd: f64,
        /// The most the next turn could cost.
        next_turn_usd: f64,
        /// The budget.
        limit_usd: f64,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::ContextTrimmed {
                dropped_messages,
                sent_messages,
                after_overflow: false,
            } => write!(
                f,
                "context: the {dropped_messages} oldest messages were not sent, to stay within the \
                 context policy ({sent_messages} sent; all are kept in the history)"
            ),
            Notice::ContextTrimmed {
                dropped_messages,
                sent_messages,
                after_overflow: true,
            } => write!(
                f,
                "context: the conversation did not fit the model's context window; sent again \
                 without the {dropped_messages} oldest messages ({sent_messages} sent; all are kept \
                 in the history)"
            ),
            Notice::BudgetWarning {
                spent_usd,
                next_turn_usd,
                limit_usd,
            } => write!(
                f,
                "budget: {} spent, and this turn could cost up to {}, over the {} budget",
                Usd(*spent_usd),
                Usd(*next_turn_usd),
                Usd(*limit_usd)
            ),
        }
    }
}

/// A callback told about each [`Notice`].
pub type NoticeObserver = Arc<dyn Fn(&Notice) + Send + Sync>;
