//! Token usage and cost of a session, per turn and in total.

use crate::pricing::PriceTable;
use crate::response::TokenUsage;

/// The tokens one turn used, and the model that answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnUsage {
    /// The tokens, as Bedrock reported them (or as estimated, see [`estimated`](Self::estimated)).
    pub usage: TokenUsage,
    /// The model (or inference profile) id the turn was sent to.
    pub model_id: String,
    /// False for a streamed reply that was stopped (dropped) or cut off before its end: Bedrock
    /// bills the tokens it generated, but the turn is not in the conversation.
    pub complete: bool,
    /// True when Bedrock's own count never arrived (the stream was stopped before its closing
    /// metadata) and the tokens were estimated from the size of the request and of the text
    /// received.
    pub estimated: bool,
}

/// The tokens each billed turn of a session used, and their sum.
///
/// A turn that failed before the model began its reply is not counted: Bedrock bills nothing
/// for it. A streamed reply stopped or cut off part-way is counted, because Bedrock bills the
/// tokens it read and generated; see [`TurnUsage::complete`] and [`TurnUsage::estimated`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionUsage {
    turns: Vec<TurnUsage>,
    total: TokenUsage,
}

/// What a session cost, from a [`PriceTable`].
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SessionCost {
    /// The cost of each turn in US dollars, `None` for a model the table has no price for.
    pub per_turn: Vec<Option<f64>>,
    /// The sum of the priced turns.
    pub total_usd: f64,
    /// How many turns had no price.
    pub unpriced_turns: usize,
}

impl SessionUsage {
    /// Usage of each successful turn, oldest first.
    pub fn turns(&self) -> &[TurnUsage] {
        &self.turns
    }

    /// The sum over all turns.
    pub fn total(&self) -> TokenUsage {
        self.total
    }

    /// Usage of the most recent turn.
    pub fn last(&self) -> Option<TokenUsage> {
        self.turns.last().map(|t| t.usage)
    }

    /// The cost of every turn at the given prices.
    pub fn cost(&self, prices: &PriceTable) -> SessionCost {
        let per_turn: Vec<Option<f64>> = self
            .turns
            .iter()
            .map(|turn| {
                prices
                    .price_for(&turn.model_id)
                    .map(|p| p.cost(&turn.usage))
            })
            .collect();
        SessionCost {
            total_usd: per_turn.iter().flatten().sum(),
            unpriced_turns: per_turn.iter().filter(|c| c.is_none()).count(),
            per_turn,
        }
    }

    pub(crate) fn record(&mut self, usage: TokenUsage, model_id: &str) {
        self.push(TurnUsage {
            usage,
            model_id: model_id.to_string(),
            complete: true,
            estimated: false,
        });
    }

    pub(crate) fn push(&mut self, turn: TurnUsage) {
        self.total += turn.usage;
        self.turns.push(turn);
    }

    /// How many of the turns were stopped or cut off before their end.
    pub fn unfinished_turns(&self) -> usize {
        self.turns.iter().filter(|t| !t.complete).count()
    }
}
