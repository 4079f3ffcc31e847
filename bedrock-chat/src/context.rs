//! How much of a long conversation is sent: the context-window policy and its token estimates.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::message::Message;

/// The input-token budget of [`ContextPolicy::default`]. Claude's context window is 200,000
/// tokens, shared by the input and the reply; the budget leaves room for a long reply and for
/// the error in estimating tokens from text.
pub const DEFAULT_CONTEXT_TOKENS: u64 = 150_000;

/// How much of the conversation a turn sends to the model.
///
/// Whatever the policy, the session keeps the full history for display and saving; only what is
/// sent changes. Trimming drops whole exchanges (a user message and its reply) from the oldest
/// end and never the system prompt, so what is sent is always a valid conversation.
///
/// The default is [`ContextPolicy::TokenBudget`] of [`DEFAULT_CONTEXT_TOKENS`]: a conversation
/// can go on for hours without failing, and nothing is dropped until it would no longer fit.
/// [`ContextPolicy::SendAll`] is the original chatbot's behaviour: everything, until Bedrock
/// refuses the conversation as too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextPolicy {
    /// Send the whole conversation every turn.
    SendAll,
    /// Send only the last `n` exchanges.
    LastExchanges(usize),
    /// Send the most recent exchanges that fit in this many input tokens (system prompt and new
    /// message included), estimated from the usage Bedrock reported for earlier turns and from
    /// the size of the text.
    TokenBudget(u64),
}

impl Default for ContextPolicy {
    fn default() -> Self {
        ContextPolicy::TokenBudget(DEFAULT_CONTEXT_TOKENS)
    }
}

impl fmt::Display for ContextPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextPolicy::SendAll => f.write_str("all"),
            ContextPolicy::LastExchanges(n) => write!(f, "last:{n}"),
            ContextPolicy::TokenBudget(n) => write!(f, "tokens:{n}"),
        }
    }
}

impl FromStr for ContextPolicy {
    type Err = Error;

    /// `all`, `last:N` (exchanges) or `tokens:N`.
    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_input(format!(
                "{text:?} is not a context policy; use all, last:N (the last N exchanges) or tokens:N (a token budget)"
            ))
        };
        let text = text.trim();
        if text == "all" {
            return Ok(ContextPolicy::SendAll);
        }
        let (kind, number) = text.split_once(':').ok_or_else(bad)?;
        let number: u64 = number.trim().parse().map_err(|_| bad())?;
        match kind.trim() {
            "last" => Ok(ContextPolicy::LastExchanges(number as usize)),
            "tokens" if number > 0 => Ok(ContextPolicy::TokenBudget(number)),
            _ => Err(bad()),
        }
    }
}

/// Tokens Bedrock counts for each message beyond its text (role and framing).
const PER_MESSAGE_TOKENS: f64 = 5.0;

/// Estimates tokens from bytes of text, calibrated by what Bedrock reports.
///
/// Two estimates: [`tokens`](Self::tokens) leans high, for what must fit (the context window, a
/// budget's reservation); [`likely_tokens`](Self::likely_tokens) aims at the count itself, for
/// what a stopped reply is recorded as having cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TokenEstimator {
    tokens_per_byte: f64,
    /// The tokens a byte of text is, as the last large enough request measured it.
    likely_per_byte: f64,
    /// The last request Bedrock counted.
    last_counted: Option<Counted>,
}

/// A request whose input tokens Bedrock reported.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Counted {
    text_bytes: usize,
    messages: usize,
    input_tokens: u64,
}

/// Tokens a message adds beyond its text, as Claude counts them (about 3), and a request beyond
/// its messages (about 5 or 6): measured on real Bedrock, where "Reply with exactly OK." (22 bytes)
/// was 12 input tokens and "What is the capital of France?" (30 bytes) 21.
const LIKELY_PER_MESSAGE: f64 = 3.0;
const LIKELY_PER_REQUEST: f64 = 5.5;

impl Default for TokenEstimator {
    fn default() -> Self {
        // English runs at about 4 bytes per token for Claude; 3 errs on the side of sending less.
        TokenEstimator {
            tokens_per_byte: 1.0 / 3.0,
            likely_per_byte: 1.0 / 4.0,
            last_counted: None,
        }
    }
}

impl TokenEstimator {
    pub(crate) fn tokens(&self, text_bytes: usize, messages: usize) -> u64 {
        (text_bytes as f64 * self.tokens_per_byte + messages as f64 * PER_MESSAGE_TOKENS).ceil()
            as u64
    }

    /// The likeliest count of a request of `text_bytes` in `messages` messages: from the last
    /// request Bedrock counted when this one holds it and more (a conversation's next turn, whose
    /// count is the last one's plus what was added), else from the text's size.
    pub(crate) fn likely_tokens(&self, text_bytes: usize, messages: usize) -> u64 {
        let estimate = match self.last_counted {
            Some(last) if text_bytes >= last.text_bytes && messages >= last.messages => {
                last.input_tokens as f64
                    + (text_bytes - last.text_bytes) as f64 * self.likely_per_byte
                    + (messages - last.messages) as f64 * LIKELY_PER_MESSAGE
            }
            _ => {
                text_bytes as f64 * self.likely_per_byte
                    + messages as f64 * LIKELY_PER_MESSAGE
                    + LIKELY_PER_REQUEST
            }
        };
        estimate.round() as u64
    }

    /// The likeliest count of `text_bytes` of generated text (a stopped reply's).
    pub(crate) fn likely_output_tokens(&self, text_bytes: usize) -> u64 {
        (text_bytes as f64 * self.likely_per_byte).ceil() as u64
    }

    /// Learns from a turn that sent `text_bytes` of text in `messages` messages and was billed
    /// `input_tokens`. Small turns say little about the ratio, which only larger ones change.
    pub(crate) fn calibrate(&mut self, text_bytes: usize, messages: usize, input_tokens: u64) {
        if input_tokens == 0 {
            return;
        }
        self.last_counted = Some(Counted {
            text_bytes,
            messages,
            input_tokens,
        });
        if text_bytes < 512 {
            return;
        }
        let text_tokens = input_tokens as f64 - messages as f64 * PER_MESSAGE_TOKENS;
        let ratio = text_tokens / text_bytes as f64;
        if ratio.is_finite() {
            // Lean high: under-estimating is what makes a request overflow.
            self.tokens_per_byte = (ratio * 1.1).clamp(0.1, 2.0);
        }
        let likely =
            (input_tokens as f64 - messages as f64 * LIKELY_PER_MESSAGE - LIKELY_PER_REQUEST)
                / text_bytes as f64;
        if likely.is_finite() {
            self.likely_per_byte = likely.clamp(0.1, 2.0);
        }
    }

    /// After Bedrock refused a conversation the estimate called small enough, estimate higher.
    pub(crate) fn raise(&mut self) {
        self.tokens_per_byte = (self.tokens_per_byte * 1.5).min(2.0);
    }
}

/// Where each exchange of a history begins: at each user message that is not tool results. An
/// exchange is a user's message, the model's final reply, and any tool calls and results
/// between; trimming and undo remove whole exchanges, so a tool call is never split from its
/// result.
pub(crate) fn exchange_starts(messages: &[Message]) -> impl DoubleEndedIterator<Item = usize> + '_ {
    messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role() == crate::message::Role::User && !m.is_tool_results())
        .map(|(index, _)| index)
}

/// What a turn sends: the index in the history where the sent part begins, and the bytes of
/// text the request will carry (system prompt and messages) when the policy had to count them
/// anyway (so the caller need not count them again).
///
/// `kept` is the history the turn builds on (whole exchanges); `turn` holds the turn's own
/// messages so far (the user's new message, then any tool rounds).
pub(crate) fn window(
    policy: ContextPolicy,
    kept: &[Message],
    system: Option<&str>,
    turn: &[Message],
    estimator: &TokenEstimator,
) -> Result<(usize, Option<usize>)> {
    match policy {
        ContextPolicy::SendAll => Ok((0, None)),
        ContextPolicy::LastExchanges(0) => Ok((kept.len(), None)),
        ContextPolicy::LastExchanges(n) => {
            Ok((exchange_starts(kept).rev().nth(n - 1).unwrap_or(0), None))
        }
        ContextPolicy::TokenBudget(budget) => {
            let turn_bytes: usize = turn.iter().map(Message::size_bytes).sum();
            let fixed_bytes = system.map_or(0, str::len) + turn_bytes;
            let fixed = estimator.tokens(fixed_bytes, turn.len());
            if fixed > budget {
                return Err(Error::invalid_input(format!(
                    "the message (with the system prompt) is about {fixed} tokens, more than the \
                     context budget of {budget}; shorten it or raise the budget"
                )));
            }
            // Newest exchanges first, while they fit: linear in the history.
            let mut total = fixed;
            let mut bytes_sent = fixed_bytes;
            let mut start = kept.len();
            for exchange_start in exchange_starts(kept).rev() {
                let exchange = &kept[exchange_start..start];
                let bytes: usize = exchange.iter().map(Message::size_bytes).sum();
                let cost = estimator.tokens(bytes, exchange.len());
                if total + cost > budget {
                    break;
                }
                total += cost;
                bytes_sent += bytes;
                start = exchange_start;
            }
            Ok((start, Some(bytes_sent)))
        }
    }
}

/// After an overflow: where to start instead, dropping at least one more exchange and about
/// half of what was sent. `None` when nothing is left to drop.
pub(crate) fn shrink(start: usize, kept: &[Message]) -> Option<usize> {
    let sent: Vec<usize> = exchange_starts(kept).filter(|&s| s >= start).collect();
    if sent.is_empty() {
        return None;
    }
    let drop = sent.len().div_ceil(2);
    Some(sent.get(drop).copied().unwrap_or(kept.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real Bedrock's counts of two first questions (from the recorded replies in the test
    /// suite): the likely estimate is within 25% of each; the high one is not meant to be.
    #[test]
    fn the_likely_estimate_of_a_first_question_is_within_a_quarter_of_bedrocks_count() {
        let estimator = TokenEstimator::default();
        for (question, counted) in [
            ("Reply with exactly OK.", 12.0),
            ("What is the capital of France?", 21.0),
        ] {
            let likely = estimator.likely_tokens(question.len(), 1) as f64;
            assert!(
                (likely - counted).abs() / counted <= 0.25,
                "{question:?}: {likely} against {counted}"
            );
        }
    }

    /// The next turn of a conversation is estimated from the last one's count: what it adds is
    /// small against what was counted, so the estimate follows the count closely whatever the
    /// text's ratio of bytes to tokens.
    #[test]
    fn a_later_turn_is_estimated_from_the_last_count() {
        let mut estimator = TokenEstimator::default();
        // Code or another script: 2 bytes a token, far from English's 4.
        estimator.calibrate(2_000, 3, 1_000 + 15);
        let next = estimator.likely_tokens(2_000 + 200 + 40, 5);
        let counted = 1_015.0 + 120.0 + 6.0;
        assert!(
            (next as f64 - counted).abs() / counted <= 0.25,
            "{next} against {counted}"
        );
        // The leaning-high estimate of the same request would have been 1.1x the ratio.
        assert!(estimator.tokens(2_240, 5) > next);
        // A request that is not a continuation (after /undo) falls back to the ratio.
        assert!(estimator.likely_tokens(100, 1) < 100);
    }

    fn first_sent(
        policy: ContextPolicy,
        kept: &[Message],
        system: Option<&str>,
        turn: &[Message],
        estimator: &TokenEstimator,
    ) -> Result<usize> {
        window(policy, kept, system, turn, estimator).map(|(start, _)| start)
    }

    fn conversation(exchanges: usize, bytes: usize) -> Vec<Message> {
        (0..exchanges)
            .flat_map(|i| {
                [
                    Message::user(format!("{i:>4}{}", "q".repeat(bytes - 4))),
                    Message::assistant("a".repeat(bytes)),
                ]
            })
            .collect()
    }

    #[test]
    fn policies_parse_from_text() {
        assert_eq!(
            "all".parse::<ContextPolicy>().unwrap(),
            ContextPolicy::SendAll
        );
        assert_eq!(
            "last:5".parse::<ContextPolicy>().unwrap(),
            ContextPolicy::LastExchanges(5)
        );
        assert_eq!(
            "tokens:1000".parse::<ContextPolicy>().unwrap(),
            ContextPolicy::TokenBudget(1000)
        );
        for bad in ["", "some", "last:x", "tokens:0", "tokens", "first:3"] {
            assert!(bad.parse::<ContextPolicy>().is_err(), "{bad}");
        }
        assert_eq!(ContextPolicy::LastExchanges(3).to_string(), "last:3");
    }

    #[test]
    fn last_exchanges_keeps_whole_pairs() {
        let kept = conversation(10, 10);
        let user = [Message::user("new")];
        let est = TokenEstimator::default();
        assert_eq!(
            first_sent(ContextPolicy::LastExchanges(3), &kept, None, &user, &est).unwrap(),
            14
        );
        assert_eq!(
            first_sent(ContextPolicy::LastExchanges(0), &kept, None, &user, &est).unwrap(),
            20
        );
        assert_eq!(
            first_sent(ContextPolicy::LastExchanges(50), &kept, None, &user, &est).unwrap(),
            0
        );
        assert_eq!(
            first_sent(ContextPolicy::SendAll, &kept, None, &user, &est).unwrap(),
            0
        );
    }

    #[test]
    fn a_token_budget_sends_the_newest_exchanges_that_fit() {
        let est = TokenEstimator::default();
        // Each exchange: 600 bytes, about 200 + 10 tokens.
        let kept = conversation(20, 300);
        let user = [Message::user("x".repeat(30))];
        let start = first_sent(
            ContextPolicy::TokenBudget(1000),
            &kept,
            Some("sys"),
            &user,
            &est,
        )
        .unwrap();
        assert_eq!(start % 2, 0);
        let sent = &kept[start..];
        let sent_tokens = est.tokens(
            sent.iter().map(Message::text_len).sum::<usize>(),
            sent.len(),
        ) + est.tokens(33, 1);
        assert!(sent_tokens <= 1000, "{sent_tokens}");
        assert_eq!(
            sent.len(),
            8,
            "four exchanges of about 210 tokens fit in 1000"
        );
        let too_big = [Message::user("x".repeat(10_000))];
        assert!(
            first_sent(
                ContextPolicy::TokenBudget(1000),
                &kept,
                None,
                &too_big,
                &est
            )
            .is_err()
        );
    }

    #[test]
    fn calibration_follows_reported_usage_and_leans_high() {
        let mut est = TokenEstimator::default();
        est.calibrate(4000, 3, 1015);
        // (1015 - 15) / 4000 = 0.25 tokens per byte, plus 10%.
        assert!((1100..=1101).contains(&est.tokens(4000, 0)));
        est.calibrate(10, 1, 1000); // too small to learn from
        assert!((1100..=1101).contains(&est.tokens(4000, 0)));
        est.raise();
        // 1.5 times as many, give or take the rounding up of a float.
        assert!((1650..=1651).contains(&est.tokens(4000, 0)));
    }

    #[test]
    fn shrinking_drops_about_half_and_at_least_one_exchange() {
        let kept = conversation(10, 10);
        assert_eq!(shrink(0, &kept), Some(10));
        assert_eq!(shrink(0, &kept[..2]), Some(2));
        assert_eq!(shrink(4, &kept[..10]), Some(8));
        assert_eq!(shrink(10, &kept[..10]), None);
    }

    #[test]
    fn tool_exchanges_are_trimmed_whole() {
        use crate::message::{ContentBlock, Role, ToolResult, ToolResultContent, ToolUse};
        let call = Message::new(
            Role::Assistant,
            vec![ContentBlock::ToolUse(ToolUse::new(
                "t",
                "clock",
                serde_json::json!({}),
            ))],
        );
        let result = Message::new(
            Role::User,
            vec![ContentBlock::ToolResult(ToolResult::success(
                "t",
                ToolResultContent::Text("noon".into()),
            ))],
        );
        // Exchange 1: four messages with a tool round; exchange 2: two.
        let kept = vec![
            Message::user("time?"),
            call,
            result,
            Message::assistant("noon"),
            Message::user("thanks"),
            Message::assistant("welcome"),
        ];
        assert_eq!(exchange_starts(&kept).collect::<Vec<_>>(), [0, 4]);
        let est = TokenEstimator::default();
        let new = [Message::user("new")];
        assert_eq!(
            first_sent(ContextPolicy::LastExchanges(1), &kept, None, &new, &est).unwrap(),
            4
        );
        assert_eq!(shrink(0, &kept), Some(4));
        assert_eq!(shrink(4, &kept), Some(6));
    }
}
