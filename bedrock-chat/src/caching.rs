//! Prompt caching: where a request's cache points go.
//!
//! A cache point (`{"cachePoint": {"type": "default"}}`) asks Bedrock to cache everything before
//! it (tools, then the system prompt, then the messages), so the next request that starts the
//! same way reads that prefix at a tenth of the input price instead of paying for it again
//! (writing it costs 1.25x once). Bedrock takes at most four per request and silently ignores one
//! whose prefix is shorter than the model's minimum, so points are placed only past it.

use serde::{Deserialize, Serialize};

use crate::context::TokenEstimator;
use crate::message::Message;
use crate::tier::CacheTtl;

/// The most cache points Bedrock accepts in one request.
pub const MAX_CACHE_POINTS: usize = 4;

/// Where a request's cache points go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CachePoints {
    /// After the tool definitions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tools: bool,
    /// After the system prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    /// After these messages (indexes into the request's messages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_messages: Vec<usize>,
    /// How long the entries live. Default is five minutes.
    #[serde(default, skip_serializing_if = "is_default_ttl")]
    pub ttl: CacheTtl,
}

fn is_default_ttl(ttl: &CacheTtl) -> bool {
    *ttl == CacheTtl::FiveMinutes
}

impl CachePoints {
    /// How many points there are.
    pub fn count(&self) -> usize {
        usize::from(self.tools) + usize::from(self.system) + self.after_messages.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

/// The fewest tokens a prefix needs for the model to cache it: 4,096 for Claude Haiku 4.5 and
/// Opus 4.5, 2,048 for the Claude 3 Haiku models, 1,024 for the others.
pub fn min_cacheable_tokens(model_id: &str) -> u64 {
    let model = model_id.to_ascii_lowercase();
    if model.contains("haiku-4-5") || model.contains("opus-4-5") {
        4096
    } else if model.contains("haiku") {
        2048
    } else {
        1024
    }
}

/// Places cache points where they pay off: after the tools and after the system prompt when
/// the prefix so far is long enough, after the request's last message (written now, read by the
/// next turn), and after the user message before it (where the previous turn wrote its cache, so
/// this request reads it). Never more than [`MAX_CACHE_POINTS`], never where the prefix is below
/// the model's minimum.
pub(crate) fn place(
    model_id: &str,
    tools_bytes: usize,
    system: Option<&str>,
    messages: &[Message],
    estimator: &TokenEstimator,
) -> CachePoints {
    let minimum = min_cacheable_tokens(model_id);
    let mut points = CachePoints::default();
    let mut prefix_bytes = tools_bytes;
    if tools_bytes > 0 && estimator.tokens(prefix_bytes, 0) >= minimum {
        points.tools = true;
    }
    if let Some(system) = system {
        prefix_bytes += system.len();
        if estimator.tokens(prefix_bytes, 0) >= minimum {
            points.system = true;
        }
    }
    // The prefix length at the end of each message.
    let mut ends = Vec::with_capacity(messages.len());
    for message in messages {
        prefix_bytes += message.size_bytes();
        ends.push(estimator.tokens(prefix_bytes, ends.len() + 1));
    }
    let last = messages.len().checked_sub(1);
    let previous = messages.len().checked_sub(3);
    for index in [last, previous].into_iter().flatten() {
        if points.count() < MAX_CACHE_POINTS && ends[index] >= minimum {
            points.after_messages.push(index);
        }
    }
    points.after_messages.sort_unstable();
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimums_follow_the_model() {
        assert_eq!(
            min_cacheable_tokens("global.anthropic.claude-sonnet-4-6"),
            1024
        );
        assert_eq!(
            min_cacheable_tokens("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            4096
        );
        assert_eq!(
            min_cacheable_tokens("global.anthropic.claude-opus-4-5-20251101-v1:0"),
            4096
        );
        assert_eq!(
            min_cacheable_tokens("anthropic.claude-3-haiku-20240307-v1:0"),
            2048
        );
    }

    #[test]
    fn points_go_only_past_the_minimum_and_never_more_than_four() {
        let est = TokenEstimator::default();
        let model = "global.anthropic.claude-sonnet-4-6";
        let short = [Message::user("hi")];
        assert!(place(model, 0, Some("Be brief."), &short, &est).is_empty());

        let long_system = "x".repeat(4000); // about 1,333 tokens at 3 bytes a token
        let conversation = [
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
        ];
        let points = place(model, 5000, Some(&long_system), &conversation, &est);
        assert!(points.tools && points.system);
        assert_eq!(points.after_messages, [0, 2]);
        assert_eq!(points.count(), MAX_CACHE_POINTS);

        // Only the system prompt is long: the messages after it are past the minimum too.
        let points = place(model, 0, Some(&long_system), &short, &est);
        assert!(!points.tools && points.system);
        assert_eq!(points.after_messages, [0]);
    }
}
