//! Token usage and cost of a session, per turn and in total.

use std::sync::Arc;

use crate::pricing::PriceTable;
use crate::response::TokenUsage;

/// The tokens one turn used, and the model that answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnUsage {
    /// The tokens, as Bedrock reported them (or as estimated, see [`estimated`](Self::estimated)).
    pub usage: TokenUsage,
    /// The model (or inference profile) id the turn was sent to.
    ///
    /// Shared with the session and its requests rather than copied: a record is kept for every
    /// turn, and a small allocation left behind by each one scatters glibc's heap and slowed
    /// every later allocation of the process (measured with `perf`: `_int_malloc` took about
    /// half as long again, 1.3% of a whole turn).
    pub model_id: Arc<str>,
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

    pub(crate) fn record(&mut self, usage: TokenUsage, model_id: &Arc<str>) {
        self.push(TurnUsage {
            usage,
            model_id: Arc::clone(model_id),
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

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::sync::Arc;

    use crate::ChatSession;
    use crate::testing::ScriptedClient;

    #[tokio::test]
    async fn every_turn_shares_the_sessions_model_id_rather_than_copying_it() {
        let client = ScriptedClient::new().with_text("one").with_text("two");
        let mut session = ChatSession::builder(client)
            .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for question in ["first?", "second?"] {
            session
                .send(question)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let turns = session.usage().turns();
        assert_eq!(turns.len(), 2);
        assert!(Arc::ptr_eq(&turns[0].model_id, &session.model));
        assert!(Arc::ptr_eq(&turns[1].model_id, &session.model));
    }
}
