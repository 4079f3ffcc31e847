//! The fake's script vocabulary: the replies, errors and stream faults a test scripts, and the
//! requests it records. The server that plays them is `fake_bedrock.rs`.

use std::time::Duration;

use serde_json::Value;

use super::wire::WireUsage;

/// A Bedrock error the fake can answer with, with its real code, status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeError {
    /// `ThrottlingException`, 429.
    Throttling,
    /// `ModelNotReadyException`, 429.
    ModelNotReady,
    /// `ServiceUnavailableException`, 503.
    ServiceUnavailable,
    /// `InternalServerException`, 500.
    InternalServer,
    /// `ModelTimeoutException`, 408.
    ModelTimeout,
    /// `ModelErrorException`, 424.
    ModelError,
    /// `ValidationException`, 400, with the given message.
    Validation(String),
    /// `AccessDeniedException`, 403.
    AccessDenied,
    /// `ResourceNotFoundException`, 404.
    ResourceNotFound,
    /// `ServiceQuotaExceededException`, 400.
    ServiceQuotaExceeded,
}

impl FakeError {
    /// The error code, as in `x-amzn-errortype`.
    pub fn code(&self) -> &'static str {
        match self {
            FakeError::Throttling => "ThrottlingException",
            FakeError::ModelNotReady => "ModelNotReadyException",
            FakeError::ServiceUnavailable => "ServiceUnavailableException",
            FakeError::InternalServer => "InternalServerException",
            FakeError::ModelTimeout => "ModelTimeoutException",
            FakeError::ModelError => "ModelErrorException",
            FakeError::Validation(_) => "ValidationException",
            FakeError::AccessDenied => "AccessDeniedException",
            FakeError::ResourceNotFound => "ResourceNotFoundException",
            FakeError::ServiceQuotaExceeded => "ServiceQuotaExceededException",
        }
    }

    /// The HTTP status Bedrock sends with it.
    pub fn status(&self) -> u16 {
        match self {
            FakeError::Throttling | FakeError::ModelNotReady => 429,
            FakeError::ServiceUnavailable => 503,
            FakeError::InternalServer => 500,
            FakeError::ModelTimeout => 408,
            FakeError::ModelError => 424,
            FakeError::Validation(_) | FakeError::ServiceQuotaExceeded => 400,
            FakeError::AccessDenied => 403,
            FakeError::ResourceNotFound => 404,
        }
    }

    /// The message, as real Bedrock words it where it is known.
    pub fn message(&self) -> String {
        match self {
            FakeError::Throttling => "Too many requests, please wait before trying again.".into(),
            FakeError::ModelNotReady => {
                "Model is not ready for inference. Wait and try your request again.".into()
            }
            FakeError::ServiceUnavailable => "Bedrock is unable to process your request.".into(),
            FakeError::InternalServer => {
                "The server encountered an internal error while processing the request.".into()
            }
            FakeError::ModelTimeout => {
                "Model has timed out in processing the request. Try your request again.".into()
            }
            FakeError::ModelError => {
                "The model returned an error while processing the request.".into()
            }
            FakeError::Validation(message) => message.clone(),
            FakeError::AccessDenied => {
                "You don't have access to the model with the specified model ID.".into()
            }
            FakeError::ResourceNotFound => "Model not found.".into(),
            FakeError::ServiceQuotaExceeded => "Your account has exceeded a service quota.".into(),
        }
    }

    /// The `:exception-type` this error has inside an event stream, for the kinds Bedrock sends
    /// there; others are sent as `internalServerException`.
    pub(super) fn stream_exception_type(&self) -> &'static str {
        match self {
            FakeError::Throttling => "throttlingException",
            FakeError::ServiceUnavailable => "serviceUnavailableException",
            FakeError::Validation(_) => "validationException",
            FakeError::ModelError => "modelStreamErrorException",
            _ => "internalServerException",
        }
    }
}

/// How a streamed reply breaks after its first text chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamFault {
    /// An exception frame (`:message-type: exception`) for the error.
    Exception(FakeError),
    /// A frame whose CRC does not match its content.
    CorruptFrame,
    /// The connection is closed mid-body.
    DropConnection,
    /// The body ends cleanly but without `messageStop` and `metadata`.
    Truncate,
}

/// One scripted answer of the fake server.
///
/// The same reply serves both APIs: a text reply is one JSON body for Converse and a sequence of
/// event-stream frames (one `contentBlockDelta` per chunk) for ConverseStream.
#[derive(Clone, Debug)]
#[must_use]
pub struct FakeReply {
    pub(super) kind: ReplyKind,
    pub(super) delay: Duration,
    pub(super) chunk_delay: Duration,
    pub(super) pause: Option<(usize, Duration)>,
    pub(super) retry_after: Option<u64>,
}

/// A tool call in a scripted reply: its id, the tool's name, and its input as the JSON text the
/// model writes (which need not be valid, to test how a client copes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FakeToolCall {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) input: String,
}

// A handful of replies are made per test: their size does not matter, their plain fields do.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(super) enum ReplyKind {
    Text {
        chunks: Vec<String>,
        stop_reason: String,
        usage: Option<WireUsage>,
        fault: Option<(usize, StreamFault)>,
        tool_calls: Vec<FakeToolCall>,
        /// Stream the tool calls' input pieces in turn across all calls, as Bedrock may when it
        /// writes several at once, rather than one call after the other.
        interleave: bool,
        /// The `trace` of the reply (a whole reply's body, a stream's metadata).
        trace: Option<Value>,
        /// Reasoning before the answer (extended thinking), sent first with a signature.
        thinking: Option<String>,
        /// Cited text blocks after the text: each block's words and its citation's JSON.
        cited: Vec<(String, Value)>,
    },
    Error(FakeError),
    DropConnection,
}

impl FakeReply {
    /// A reply with the given text, streamed one word (with its trailing space) per chunk.
    pub fn text(text: &str) -> Self {
        let mut chunks: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        if chunks.is_empty() {
            chunks.push(String::new());
        }
        Self::chunks(chunks)
    }

    /// A reply streamed as exactly these chunks.
    pub fn chunks<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        FakeReply {
            kind: ReplyKind::Text {
                chunks: chunks.into_iter().map(Into::into).collect(),
                stop_reason: "end_turn".into(),
                usage: None,
                fault: None,
                tool_calls: Vec::new(),
                interleave: false,
                trace: None,
                thinking: None,
                cited: Vec::new(),
            },
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            pause: None,
            retry_after: None,
        }
    }

    /// An error response (before any stream starts).
    pub fn error(error: FakeError) -> Self {
        FakeReply {
            kind: ReplyKind::Error(error),
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            pause: None,
            retry_after: None,
        }
    }

    /// Closes the connection without answering.
    pub fn drop_connection() -> Self {
        FakeReply {
            kind: ReplyKind::DropConnection,
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            pause: None,
            retry_after: None,
        }
    }

    /// A reply that calls one tool, without text; chain [`tool_call`](Self::tool_call) for
    /// more. Its stop reason is `tool_use`.
    pub fn tool_use(id: &str, name: &str, input: Value) -> Self {
        Self::chunks(Vec::<String>::new()).tool_call(id, name, input)
    }

    /// Adds a tool call after the reply's text (the stop reason becomes `tool_use`). Streamed,
    /// it is a `contentBlockStart` with the id and name, the input's JSON text in three
    /// `contentBlockDelta` pieces (one empty piece for an empty object, as Bedrock sends for a
    /// tool without input), and a `contentBlockStop`.
    pub fn tool_call(self, id: &str, name: &str, input: Value) -> Self {
        let text = if input.as_object().is_some_and(serde_json::Map::is_empty) {
            String::new()
        } else {
            input.to_string()
        };
        self.tool_call_raw(id, name, &text)
    }

    /// Adds a tool call whose input is this JSON text as written, valid or not.
    pub fn tool_call_raw(mut self, id: &str, name: &str, input: &str) -> Self {
        if let ReplyKind::Text {
            tool_calls,
            stop_reason,
            ..
        } = &mut self.kind
        {
            tool_calls.push(FakeToolCall {
                id: id.to_string(),
                name: name.to_string(),
                input: input.to_string(),
            });
            *stop_reason = "tool_use".to_string();
        }
        self
    }

    /// Streams the pieces of several tool calls' input in turn (first piece of each call, then
    /// the second of each, ...), all blocks open at once. Default is one call after another.
    pub fn interleave_tool_calls(mut self) -> Self {
        if let ReplyKind::Text { interleave, .. } = &mut self.kind {
            *interleave = true;
        }
        self
    }

    /// A reply a guardrail stopped: `message` as its text (what Bedrock sends in place of the
    /// model's answer), stop reason `guardrail_intervened`, and a trace saying the content
    /// filter `filter` (such as `VIOLENCE`) blocked the input.
    pub fn guardrail_intervened(message: &str, filter: &str) -> Self {
        let mut reply = Self::chunks([message]).stop_reason("guardrail_intervened");
        if let ReplyKind::Text { trace, .. } = &mut reply.kind {
            *trace = Some(serde_json::json!({"guardrail": {
                "actionReason": "Guardrail blocked.",
                "inputAssessment": {"gr-fake": {"contentPolicy": {"filters": [
                    {"type": filter, "confidence": "HIGH", "filterStrength": "HIGH",
                     "action": "BLOCKED", "detected": true}
                ]}}},
            }}));
        }
        reply
    }

    /// Puts the model's reasoning (extended thinking) before the reply, as its first block with
    /// a signature; streamed, as `reasoningContent` text deltas, a signature delta and a block
    /// stop, the other blocks' indexes moved up by one.
    pub fn thinking(mut self, reasoning: &str) -> Self {
        if let ReplyKind::Text { thinking, .. } = &mut self.kind {
            *thinking = Some(reasoning.to_string());
        }
        self
    }

    /// Adds a block of text that cites a source, after the reply's text: `citation` is the
    /// citation's JSON as Bedrock writes it (`{"title", "source", "sourceContent": [{"text"}],
    /// "location": {"searchResultLocation": {...}}}`). Whole, it is a `citationsContent` block;
    /// streamed, the block's text delta then a `citation` delta and its stop.
    pub fn cited(mut self, text: &str, citation: Value) -> Self {
        if let ReplyKind::Text { cited, .. } = &mut self.kind {
            cited.push((text.to_string(), citation));
        }
        self
    }

    /// Sets the stop reason. Default is `end_turn`, or `tool_use` with tool calls.
    pub fn stop_reason(mut self, reason: &str) -> Self {
        if let ReplyKind::Text { stop_reason, .. } = &mut self.kind {
            *stop_reason = reason.to_string();
        }
        self
    }

    /// Sets the token usage reported. Default is an estimate: a token per 4 bytes of request
    /// text, and one per chunk of output.
    pub fn usage(mut self, input: u64, output: u64) -> Self {
        if let ReplyKind::Text { usage, .. } = &mut self.kind {
            let cache = usage.unwrap_or_default();
            *usage = Some(WireUsage {
                input,
                output,
                ..cache
            });
        }
        self
    }

    /// Sets the prompt-cache figures reported. Default is none.
    pub fn cache_usage(mut self, read: u64, write: u64) -> Self {
        if let ReplyKind::Text { usage, .. } = &mut self.kind {
            let mut figures = usage.unwrap_or_default();
            figures.cache_read = Some(read);
            figures.cache_write = Some(write);
            *usage = Some(figures);
        }
        self
    }

    /// Breaks a streamed reply after `after` text chunks. For Converse, an exception becomes the
    /// same error as a JSON response, a corrupt frame a truncated JSON body, and a dropped
    /// connection a connection closed before the response. Default is no fault.
    pub fn fault_after(mut self, after: usize, fault: StreamFault) -> Self {
        if let ReplyKind::Text { fault: slot, .. } = &mut self.kind {
            *slot = Some((after, fault));
        }
        self
    }

    /// Waits this long before sending the response head. Default is no wait.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sends a `Retry-After` header of this many seconds with an error response. Default is
    /// none (as Bedrock does today).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Waits this long before each frame of a streamed reply. Default is no wait.
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Pauses a streamed reply once, for `pause`, after its first `chunks` text chunks have been
    /// sent: a stream that stalls part-way. Default is no pause.
    pub fn pause_after(mut self, chunks: usize, pause: Duration) -> Self {
        self.pause = Some((chunks, pause));
        self
    }
}

/// Which API a request called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `POST /model/{id}/converse`.
    Converse,
    /// `POST /model/{id}/converse-stream`.
    ConverseStream,
}

/// A request the fake received.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The API called.
    pub operation: Operation,
    /// The model id from the path, percent-decoded.
    pub model_id: String,
    /// The JSON body.
    pub body: Value,
    /// Whether the request carried a SigV4 `authorization` header.
    pub signed: bool,
    /// The access key id the request was signed with (from the `Credential=` part of the
    /// `authorization` header), to tell which credentials a program used. Never a secret.
    pub access_key_id: Option<String>,
    /// The scheme of the `authorization` header: `AWS4-HMAC-SHA256` for a SigV4-signed request,
    /// `Bearer` for a Bedrock API key. The token itself is never recorded.
    pub authorization_scheme: Option<String>,
}

impl RecordedRequest {
    /// The `(role, text)` of each message in the body.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.body["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| {
                        let text = m["content"]
                            .as_array()
                            .map(|blocks| {
                                blocks.iter().filter_map(|b| b["text"].as_str()).collect()
                            })
                            .unwrap_or_default();
                        (m["role"].as_str().unwrap_or_default().to_string(), text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tool calls (`toolUse` blocks) of each assistant message and the results
    /// (`toolResult` blocks) of each user message, in order, as JSON.
    pub fn tool_blocks(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
            .filter(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some())
            .collect()
    }

    /// The names of the tools in the request's `toolConfig`.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["toolConfig"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The system prompt's text, if the request had one.
    pub fn system(&self) -> Option<String> {
        let blocks = self.body["system"].as_array()?;
        Some(blocks.iter().filter_map(|b| b["text"].as_str()).collect())
    }
}
