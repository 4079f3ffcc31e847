//! What comes back: the reply, why it stopped, and what it used.

use std::ops::AddAssign;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::guardrail::GuardrailTrace;
use crate::message::Message;
use crate::stop_reason::StopReason;
use crate::tier::{Latency, ServiceTier};

/// Tokens used by one request, or summed over many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TokenUsage {
    /// Tokens read from the request (not counting cache reads).
    pub input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
    /// Input tokens served from the prompt cache, when Bedrock reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache, when Bedrock reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
    /// Of the cache writes, those kept for an hour ([`CacheTtl::OneHour`](crate::CacheTtl::OneHour)), which cost more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h_input_tokens: Option<u64>,
    /// The service tier Bedrock served the request on, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// The latency profile Bedrock served the request with, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

impl TokenUsage {
    /// Usage with the given input and output token counts and no cache figures.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        TokenUsage {
            input_tokens,
            output_tokens,
            cache_read_input_tokens: None,
            cache_write_input_tokens: None,
            cache_write_1h_input_tokens: None,
            service_tier: None,
            latency: None,
        }
    }

    /// Sets how the request was served: its tier and latency profile. Default is unknown.
    #[must_use]
    pub fn with_serving(mut self, tier: Option<ServiceTier>, latency: Option<Latency>) -> Self {
        self.service_tier = tier;
        self.latency = latency;
        self
    }

    /// Sets how many of the cache writes are kept for an hour. Default is none.
    #[must_use]
    pub fn with_long_cache_writes(mut self, tokens: Option<u64>) -> Self {
        self.cache_write_1h_input_tokens = tokens;
        self
    }

    /// Sets the cache read and write figures.
    #[must_use]
    pub fn with_cache(mut self, read: Option<u64>, write: Option<u64>) -> Self {
        self.cache_read_input_tokens = read;
        self.cache_write_input_tokens = write;
        self
    }

    /// Input plus output tokens, plus cache reads and writes.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens.unwrap_or(0)
            + self.cache_write_input_tokens.unwrap_or(0)
    }
}

impl AddAssign for TokenUsage {
    fn add_assign(&mut self, rhs: Self) {
        fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            }
        }
        self.input_tokens += rhs.input_tokens;
        self.output_tokens += rhs.output_tokens;
        self.cache_read_input_tokens =
            add(self.cache_read_input_tokens, rhs.cache_read_input_tokens);
        self.cache_write_input_tokens =
            add(self.cache_write_input_tokens, rhs.cache_write_input_tokens);
        self.cache_write_1h_input_tokens = add(
            self.cache_write_1h_input_tokens,
            rhs.cache_write_1h_input_tokens,
        );
        // A sum over requests served differently has no one tier; one that does not say takes
        // the other's.
        fn same<T: PartialEq>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (None, x) | (x, None) => x,
                (Some(a), Some(b)) => (a == b).then_some(a),
            }
        }
        self.service_tier = same(self.service_tier, rhs.service_tier);
        self.latency = same(self.latency, rhs.latency);
    }
}

/// A whole reply from the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatResponse {
    message: Message,
    stop_reason: StopReason,
    #[serde(default)]
    usage: TokenUsage,
    #[serde(
        default,
        rename = "latencyMs",
        with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    latency: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    guardrail_trace: Option<GuardrailTrace>,
}

/// `Option<Duration>` as whole milliseconds, the way Bedrock reports latency.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

impl ChatResponse {
    /// A reply: the assistant's message, why it stopped and what it used.
    pub fn new(message: Message, stop_reason: StopReason, usage: TokenUsage) -> Self {
        ChatResponse {
            message,
            stop_reason,
            usage,
            latency: None,
            request_id: None,
            guardrail_trace: None,
        }
    }

    /// Sets what a guardrail found. Default is none.
    #[must_use]
    pub fn with_guardrail_trace(mut self, trace: Option<GuardrailTrace>) -> Self {
        self.guardrail_trace = trace;
        self
    }

    /// What the session's guardrail found, when it has its trace on and assessed something.
    pub fn guardrail_trace(&self) -> Option<&GuardrailTrace> {
        self.guardrail_trace.as_ref()
    }

    /// Sets the latency Bedrock reported. Default is none.
    #[must_use]
    pub fn with_latency(mut self, latency: Option<Duration>) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the request id. Default is none.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// The reply with its message replaced (a structured turn's tool call, kept as its JSON).
    pub(crate) fn with_message(mut self, message: Message) -> Self {
        self.message = message;
        self
    }

    /// Every citation in the reply, in order.
    pub fn citations(&self) -> impl Iterator<Item = &crate::citation::Citation> {
        self.message.citations()
    }

    /// The reply's sources, numbered in order of first citation (empty when it cites nothing).
    pub fn sources(&self) -> crate::citation::Sources {
        crate::citation::Sources::of(self.message.citations())
    }

    /// The usage of a whole turn whose tool rounds took several requests.
    pub(crate) fn with_turn_usage(mut self, usage: TokenUsage) -> Self {
        self.usage = usage;
        self
    }

    /// The assistant's message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The reply's text.
    pub fn text(&self) -> String {
        self.message.text()
    }

    /// Why the model stopped.
    pub fn stop_reason(&self) -> &StopReason {
        &self.stop_reason
    }

    /// The tokens this reply used; for a turn of a [`ChatSession`](crate::ChatSession) with tool
    /// rounds, the sum over all its requests.
    pub fn usage(&self) -> TokenUsage {
        self.usage
    }

    /// The model's latency as Bedrock measured it.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// Bedrock's request id.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_stop_reasons_round_trip() {
        let reason: StopReason = serde_json::from_str("\"brand_new_reason\"").unwrap();
        assert_eq!(reason, StopReason::Other("brand_new_reason".into()));
        assert_eq!(
            serde_json::to_string(&reason).unwrap(),
            "\"brand_new_reason\""
        );
        assert_eq!(StopReason::from("end_turn"), StopReason::EndTurn);
    }

    #[test]
    fn responses_round_trip_through_json() {
        let response = ChatResponse::new(
            Message::assistant("Hi"),
            StopReason::EndTurn,
            TokenUsage::new(1, 2),
        )
        .with_latency(Some(Duration::from_millis(802)))
        .with_request_id(Some("rid".into()));
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["latencyMs"], 802);
        assert_eq!(json["stopReason"], "end_turn");
        assert_eq!(
            serde_json::from_value::<ChatResponse>(json).unwrap(),
            response
        );
    }

    #[test]
    fn usage_adds_up_and_keeps_cache_figures_optional() {
        let mut total = TokenUsage::new(10, 5);
        total += TokenUsage::new(1, 2);
        assert_eq!(total, TokenUsage::new(11, 7));
        total += TokenUsage::new(0, 0).with_cache(Some(3), None);
        assert_eq!(total.cache_read_input_tokens, Some(3));
        assert_eq!(total.cache_write_input_tokens, None);
        assert_eq!(total.total_tokens(), 21);
    }
}
