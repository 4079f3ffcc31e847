//! What `/v1/chat/completions` answers, in OpenAI's shapes: a whole completion, the chunks of a
//! stream, and the usage both carry. Serialised from these types, never built by hand.

use bedrock_chat::{Message, StopReason, TokenUsage};
use serde::Serialize;
use utoipa::ToSchema;

/// `{"object": "chat.completion", ...}`: a whole reply.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Completion {
    pub(super) id: String,
    pub(super) object: &'static str,
    pub(super) created: u64,
    pub(super) model: String,
    pub(super) choices: Vec<Choice>,
    pub(super) usage: Usage,
}

/// The one choice of a whole reply.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Choice {
    pub(super) index: u32,
    pub(super) message: AssistantMessage,
    pub(super) finish_reason: &'static str,
}

/// A reply as an assistant message: its text (`null` when it only calls tools) and its calls.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AssistantMessage {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall>,
}

/// A call the model asks the client to make.
#[derive(Debug, Serialize, ToSchema)]
struct ToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall,
}

#[derive(Debug, Serialize, ToSchema)]
struct FunctionCall {
    name: String,
    arguments: String,
}

impl AssistantMessage {
    /// A reply of `text` alone.
    pub(super) fn text(text: String) -> Self {
        AssistantMessage {
            role: "assistant",
            content: Some(text),
            tool_calls: Vec::new(),
        }
    }

    /// The reply `message` in OpenAI's shape.
    pub(super) fn of(message: &Message) -> Self {
        let tool_calls: Vec<ToolCall> = message
            .tool_uses()
            .map(|call| ToolCall {
                id: call.id.clone(),
                kind: "function",
                function: FunctionCall {
                    name: call.name.clone(),
                    arguments: call.input.to_string(),
                },
            })
            .collect();
        let text = message.text();
        AssistantMessage {
            role: "assistant",
            // `null` only for a reply that is nothing but tool calls, as OpenAI sends it.
            content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
            tool_calls,
        }
    }
}

/// `{"object": "chat.completion.chunk", ...}`: one event of a stream.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Chunk<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) created: u64,
    pub(super) model: &'a str,
    pub(super) choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) usage: Option<Usage>,
}

/// The one choice of a chunk: what the reply gained, and at the end why it stopped.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChunkChoice {
    pub(super) index: u32,
    pub(super) delta: Delta,
    pub(super) finish_reason: Option<&'static str>,
}

/// What a chunk adds: the role (first chunk), text, or a piece of a tool call.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(super) struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tool_calls: Vec<ToolCallDelta>,
}

/// A piece of a tool call in a stream: its start (id, type, name) or more of its arguments.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ToolCallDelta {
    pub(super) index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<&'static str>,
    pub(super) function: FunctionDelta,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    pub(super) arguments: String,
}

/// Tokens in OpenAI's terms: the prompt counts cached input too, and says how much of it was.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
}

#[derive(Debug, Serialize, ToSchema)]
struct PromptDetails {
    cached_tokens: u64,
}

impl From<&TokenUsage> for Usage {
    fn from(usage: &TokenUsage) -> Self {
        let prompt = usage.input_tokens
            + usage.cache_read_input_tokens.unwrap_or(0)
            + usage.cache_write_input_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: usage.output_tokens,
            total_tokens: prompt + usage.output_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: usage.cache_read_input_tokens.unwrap_or(0),
            },
        }
    }
}

/// Why a reply stopped, in OpenAI's words.
pub(super) fn finish_reason(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => "content_filter",
        _ => "stop",
    }
}

/// `/v1/models`' answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    object: &'static str,
    data: Vec<Model>,
}

impl ModelList {
    pub(super) fn new(data: Vec<Model>) -> Self {
        ModelList {
            object: "list",
            data,
        }
    }
}

/// One model a caller may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Model {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

impl Model {
    /// A model of Bedrock's that a caller may name.
    pub(super) fn new(id: String, created: u64) -> Self {
        Model {
            id,
            object: "model",
            created,
            owned_by: "amazon-bedrock",
        }
    }
}
