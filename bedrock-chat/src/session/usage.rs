//! Token usage of a session, per turn and in total.

use crate::response::TokenUsage;

/// The tokens each successful turn of a session used, and their sum.
///
/// Failed turns are not counted: Bedrock does not report usage for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionUsage {
    turns: Vec<TokenUsage>,
    total: TokenUsage,
}

impl SessionUsage {
    /// Usage of each successful turn, oldest first.
    pub fn turns(&self) -> &[TokenUsage] {
        &self.turns
    }

    /// The sum over all turns.
    pub fn total(&self) -> TokenUsage {
        self.total
    }

    /// Usage of the most recent turn.
    pub fn last(&self) -> Option<TokenUsage> {
        self.turns.last().copied()
    }

    pub(crate) fn record(&mut self, usage: TokenUsage) {
        self.turns.push(usage);
        self.total += usage;
    }
}
