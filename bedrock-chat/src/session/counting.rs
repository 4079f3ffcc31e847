//! Exact token counts: Bedrock's `CountTokens` before a turn, for the context policy and the
//! budget, with the estimate as the fallback; and what the next turn would send.

use super::ChatSession;
use super::turn::Prepared;
use crate::context::ContextPolicy;
use crate::error::{Error, Result};
use crate::message::Message;

/// The most times a turn is counted again after dropping exchanges to fit the token budget: the
/// first count calibrates the estimate, so one more is nearly always enough.
const MAX_RECOUNTS: usize = 2;

/// What the next turn would send: how many tokens, by Bedrock's count when it gave one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCount {
    /// The estimate from the text's size and earlier turns' counts.
    pub estimated: u64,
    /// Bedrock's count (`CountTokens`), when the client could count.
    pub exact: Option<u64>,
    /// The messages the request would carry (the new one included).
    pub messages: usize,
    /// The earlier messages the context policy would leave out.
    pub dropped: usize,
}

impl ChatSession {
    /// `prepared` fitted by Bedrock's count: the estimate calibrated by it, and the context
    /// policy's token budget filled by it (exchanges dropped while the count is over, added
    /// while the calibrated estimate says more fit and the count agrees). Returns the request
    /// and its count, for the budget; `None` when the count failed, which leaves the estimate
    /// in charge (a model that cannot count is not asked again).
    pub(super) async fn counted(
        &mut self,
        keep: usize,
        turn: &[Message],
        round: u32,
        prepared: Prepared,
    ) -> Result<(Prepared, Option<u64>)> {
        let token_budget = match self.settings.context_policy {
            ContextPolicy::TokenBudget(budget) => Some(budget),
            _ => None,
        };
        // The largest request counted within the budget, and the one to count next.
        let mut fitting: Option<(Prepared, u64)> = None;
        let mut candidate = Some(prepared);
        for attempt in 0..=MAX_RECOUNTS {
            let Some(current) = candidate.take() else {
                break;
            };
            let exact = match self.route().count_tokens(&current.request).await {
                Ok(Some(tokens)) => tokens,
                outcome => {
                    match outcome {
                        Ok(_) => self.count_refused = true,
                        Err(error) => {
                            if matches!(error, Error::InvalidRequest { .. }) {
                                self.count_refused = true;
                            }
                            tracing::info!(%error, "could not count tokens; using the estimate");
                        }
                    }
                    return Ok(match fitting {
                        Some((best, exact)) => (best, Some(exact)),
                        None => (current, None),
                    });
                }
            };
            self.estimator
                .calibrate(current.text_bytes, current.request.messages().len(), exact);
            let fits = token_budget.is_none_or(|budget| exact <= budget);
            let start = current.start;
            if fits {
                fitting = Some((current, exact));
            } else {
                candidate = Some(current);
            }
            if token_budget.is_none() || attempt == MAX_RECOUNTS {
                break;
            }
            // Calibrated, the estimate now says where the window starts.
            let next = self.assemble(keep, turn, None, round, Vec::new())?;
            let better = if fits {
                next.start < start
            } else {
                next.start > start
            };
            if !better {
                break;
            }
            candidate = Some(next);
        }
        match (fitting, candidate) {
            (Some((best, exact)), _) => Ok((best, Some(exact))),
            // Over the budget with nothing left to drop: Bedrock says whether it fits.
            (None, Some(last)) => Ok((last, None)),
            (None, None) => Err(Error::invalid_input(
                "the conversation could not be fitted to the token budget",
            )),
        }
    }

    /// What the next turn would send if its message were `text`: the estimate, and Bedrock's
    /// exact count when the client can give one (whether or not the session uses exact counts
    /// for its turns). Nothing is sent to the model and the session is unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a message [`send`](Self::send) would refuse; the budget's
    /// refusal is not an error here.
    pub async fn count_next_turn(&self, text: &str) -> Result<TokenCount> {
        let text = if text.trim().is_empty() { "?" } else { text };
        let user = super::user_message(text.to_string())?;
        let keep = self.history.len();
        let turn = [user];
        let mut prepared = self.assemble(keep, &turn, None, 0, Vec::new())?;
        let estimated = self
            .estimator
            .likely_tokens(prepared.text_bytes, prepared.request.messages().len());
        let exact = match self.route().count_tokens(&prepared.request).await {
            Ok(count) => count,
            Err(error) => {
                tracing::info!(%error, "could not count tokens");
                None
            }
        };
        let messages = prepared.request.take_messages().len();
        Ok(TokenCount {
            estimated,
            exact,
            messages,
            dropped: prepared.start,
        })
    }
}
