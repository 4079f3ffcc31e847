//! Why the model stopped generating: at the bottom of the crate's layers (it imports nothing of
//! the crate), since errors name it as replies do.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why the model stopped generating.
///
/// Bedrock adds stop reasons over time; one this crate does not know yet arrives as
/// [`StopReason::Other`] with Bedrock's spelling, rather than as an error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// The model finished its answer.
    EndTurn,
    /// The model wants to call a tool.
    ToolUse,
    /// The reply reached the max-tokens limit and is cut short.
    MaxTokens,
    /// The model produced one of the stop sequences.
    StopSequence,
    /// A guardrail intervened.
    GuardrailIntervened,
    /// Content filters stopped the reply.
    ContentFiltered,
    /// The model's output could not be parsed.
    MalformedModelOutput,
    /// The model produced a malformed tool call.
    MalformedToolUse,
    /// The conversation no longer fits the model's context window.
    ModelContextWindowExceeded,
    /// A reason this version of the crate does not know, as Bedrock spelled it.
    Other(String),
}

impl StopReason {
    /// Bedrock's spelling of the reason, such as `end_turn`.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::GuardrailIntervened => "guardrail_intervened",
            StopReason::ContentFiltered => "content_filtered",
            StopReason::MalformedModelOutput => "malformed_model_output",
            StopReason::MalformedToolUse => "malformed_tool_use",
            StopReason::ModelContextWindowExceeded => "model_context_window_exceeded",
            StopReason::Other(other) => other,
        }
    }
}

impl From<&str> for StopReason {
    fn from(value: &str) -> Self {
        match value {
            "end_turn" => StopReason::EndTurn,
            "tool_use" => StopReason::ToolUse,
            "max_tokens" => StopReason::MaxTokens,
            "stop_sequence" => StopReason::StopSequence,
            "guardrail_intervened" => StopReason::GuardrailIntervened,
            "content_filtered" => StopReason::ContentFiltered,
            "malformed_model_output" => StopReason::MalformedModelOutput,
            "malformed_tool_use" => StopReason::MalformedToolUse,
            "model_context_window_exceeded" => StopReason::ModelContextWindowExceeded,
            other => StopReason::Other(other.to_string()),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StopReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StopReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(StopReason::from(text.as_str()))
    }
}
