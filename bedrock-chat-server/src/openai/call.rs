//! One call to Bedrock for `/v1`, run on a task of its own that owns the call's admission
//! permit: whatever the client does (waits, hangs up before the reply or in the middle of it),
//! what Bedrock bills is charged, and the reply slot is given back.

use std::sync::Arc;

use axum::response::sse::Event;
use bedrock_chat::{
    CacheLookup, CachedClient, CheckedRequest, ModelClient, StreamEvent, TokenUsage, converse_once,
    converse_stream_once,
};
use futures::StreamExt;

use super::error::OpenAiError;
use super::reply::{
    AssistantMessage, Choice, Chunk, ChunkChoice, Completion, Delta, FunctionDelta, ToolCallDelta,
    Usage, finish_reason,
};
use crate::admission::Permit;
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::TurnMeter;

/// What a call sends its handler: a whole reply, or the stream's events.
pub(super) enum Out {
    Whole(Box<Completion>),
    Chunk(Event),
}

/// Where a call sends what it has: the first item decides the response's status.
pub(super) type Sender = tokio::sync::mpsc::UnboundedSender<Result<Out, OpenAiError>>;

/// One call and what it needs to answer and to be charged.
pub(super) struct Call {
    pub(super) state: AppState,
    pub(super) request: CheckedRequest,
    pub(super) model: String,
    pub(super) permit: Permit,
    /// The model, or the reply cache in front of it.
    pub(super) client: Arc<dyn ModelClient>,
    /// The reply cache's client, when there is one, to say what it did.
    pub(super) cached: Option<CachedClient>,
    pub(super) meter: TurnMeter,
    pub(super) id: String,
    pub(super) created: u64,
    pub(super) include_usage: bool,
    /// The tool whose call carries a `response_format` reply: its input is the content.
    pub(super) answer_tool: Option<String>,
}

/// What `usage` costs at the server's prices (`None` for an unpriced model).
pub(super) fn price(state: &AppState, model: &str, usage: &TokenUsage) -> Option<f64> {
    state
        .settings()
        .prices
        .price_for(model)
        .map(|price| price.cost(usage))
}

impl Call {
    fn observer() -> bedrock_chat::RetryObserver {
        std::sync::Arc::new(|notice| {
            crate::telemetry::retry(
                ApiError::from(notice.error).kind.as_str(),
                notice.error.is_throttling(),
            );
        })
    }

    /// Charges `usage` (nothing, for a call Bedrock refused before it began) and records the
    /// turn.
    async fn finish(mut self, outcome: &str, usage: TokenUsage) {
        let cost = price(&self.state, &self.model, &usage);
        self.permit.settle(cost.unwrap_or(0.0)).await;
        if let Some(lookup) = self.cached.as_ref().and_then(CachedClient::lookup) {
            let saved = match &lookup {
                CacheLookup::Hit { saved } => price(&self.state, &self.model, saved),
                CacheLookup::Miss => None,
            };
            crate::telemetry::reply_cache(lookup.is_hit(), saved);
        }
        self.meter.finish(outcome, &usage, cost);
    }

    /// A chunk of this call's stream.
    fn chunk(&self, delta: Delta, finish: Option<&'static str>) -> Event {
        self.event(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
            }],
            usage: None,
        })
    }

    fn event(&self, chunk: &Chunk<'_>) -> Event {
        Event::default().data(serde_json::to_string(chunk).unwrap_or_default())
    }

    /// A whole reply (Converse).
    pub(super) async fn whole(mut self, sender: Sender) {
        let client = self.client.clone();
        let policy = self.state.settings().retry_policy.clone();
        let observer = Self::observer();
        let answer = converse_once(client.as_ref(), &self.request, &policy, Some(&observer)).await;
        match answer {
            Ok(response) => {
                self.meter.first_token();
                let usage = response.usage();
                let completion = Completion {
                    id: self.id.clone(),
                    object: "chat.completion",
                    created: self.created,
                    model: self.model.clone(),
                    choices: vec![match self.answer(response.message()) {
                        Some(message) => Choice {
                            index: 0,
                            message,
                            finish_reason: "stop",
                        },
                        None => Choice {
                            index: 0,
                            message: AssistantMessage::of(response.message()),
                            finish_reason: finish_reason(response.stop_reason()),
                        },
                    }],
                    usage: Usage::from(&usage),
                };
                self.finish("ok", usage).await;
                let _ = sender.send(Ok(Out::Whole(Box::new(completion))));
            }
            Err(error) => {
                // A whole reply that failed was not billed (Bedrock bills only replies it
                // began, and a whole reply is all or nothing).
                let kind = ApiError::from(&error).kind.as_str();
                self.finish(kind, TokenUsage::default()).await;
                let _ = sender.send(Err(OpenAiError::from(error)));
            }
        }
    }

    /// A `response_format` reply carried by the answer tool's call, as the content it is.
    fn answer(&self, message: &bedrock_chat::Message) -> Option<AssistantMessage> {
        let name = self.answer_tool.as_deref()?;
        let call = message.tool_uses().find(|c| c.name == name)?;
        Some(AssistantMessage::text(call.input.to_string()))
    }

    /// A streamed reply (ConverseStream), as chunks.
    pub(super) async fn stream(self, sender: Sender) {
        let client = self.client.clone();
        let policy = self.state.settings().retry_policy.clone();
        let observer = Self::observer();
        let opened =
            converse_stream_once(client.as_ref(), &self.request, &policy, Some(&observer)).await;
        let mut events = match opened {
            Ok(events) => events,
            Err(error) => {
                let kind = ApiError::from(&error).kind.as_str();
                self.finish(kind, TokenUsage::default()).await;
                let _ = sender.send(Err(OpenAiError::from(error)));
                return;
            }
        };
        let mut call = self;
        call.meter.first_token();
        let send = |event: Event| sender.send(Ok(Out::Chunk(event))).is_ok();
        let first = Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            ..Delta::default()
        };
        let mut gone = !send(call.chunk(first, None));
        let mut stop = None;
        let mut usage = None;
        let mut text_bytes = 0;
        // OpenAI numbers a reply's tool calls from 0; Bedrock's block indexes count text too.
        let mut call_numbers: Vec<u32> = Vec::new();
        let mut failed = None;
        // The answer tool's block, whose input streams as content.
        let mut answer_block = None;
        while !gone && let Some(event) = events.next().await {
            let delta = match event {
                Ok(StreamEvent::ToolUseStart { index, name, .. })
                    if call.answer_tool.as_deref() == Some(name.as_str()) =>
                {
                    answer_block = Some(index);
                    None
                }
                Ok(StreamEvent::ToolUseInputDelta { index, input })
                    if answer_block == Some(index) =>
                {
                    text_bytes += input.len();
                    Some(Delta {
                        content: Some(input),
                        ..Delta::default()
                    })
                }
                Ok(StreamEvent::ToolUseStart { index, id, name }) => {
                    call_numbers.push(index);
                    text_bytes += name.len();
                    Some(Delta {
                        tool_calls: vec![ToolCallDelta {
                            index: call_numbers.len() - 1,
                            id: Some(id),
                            kind: Some("function"),
                            function: FunctionDelta {
                                name: Some(name),
                                arguments: String::new(),
                            },
                        }],
                        ..Delta::default()
                    })
                }
                Ok(StreamEvent::ToolUseInputDelta { index, input }) if !input.is_empty() => {
                    text_bytes += input.len();
                    call_numbers
                        .iter()
                        .position(|i| *i == index)
                        .map(|n| Delta {
                            tool_calls: vec![ToolCallDelta {
                                index: n,
                                id: None,
                                kind: None,
                                function: FunctionDelta {
                                    name: None,
                                    arguments: input,
                                },
                            }],
                            ..Delta::default()
                        })
                }
                Ok(StreamEvent::TextDelta(text)) => {
                    text_bytes += text.len();
                    Some(Delta {
                        content: Some(text),
                        ..Delta::default()
                    })
                }
                Ok(StreamEvent::MessageStop(reason)) => {
                    stop = Some(reason);
                    None
                }
                Ok(StreamEvent::Metadata { usage: u, .. }) => {
                    usage = Some(u);
                    None
                }
                Ok(_) => None,
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            };
            if let Some(delta) = delta {
                // The client went away: dropping the stream closes Bedrock's.
                gone = !send(call.chunk(delta, None));
            }
        }
        drop(events);
        // Bedrock's own count when its closing metadata arrived; else an estimate from the
        // request and the text it wrote before the client left or the stream failed.
        let billed =
            usage.unwrap_or_else(|| bedrock_chat::estimate_usage(&call.request, Some(text_bytes)));
        if let Some(error) = failed {
            let error = OpenAiError::from(error);
            call.finish(error.api().kind.as_str(), billed).await;
            // Never a normal stop: an error chunk, which the clients raise.
            let _ = send(Event::default().data(error.body()));
            return;
        }
        if gone {
            call.finish("cancelled", billed).await;
            return;
        }
        let reason = match (&answer_block, &stop) {
            // The forced call was the answer: it stopped as a reply does.
            (Some(_), Some(bedrock_chat::StopReason::ToolUse)) => "stop",
            _ => stop.as_ref().map_or("stop", finish_reason),
        };
        let _ = send(call.chunk(Delta::default(), Some(reason)));
        if call.include_usage {
            let last = call.event(&Chunk {
                id: &call.id,
                object: "chat.completion.chunk",
                created: call.created,
                model: &call.model,
                choices: Vec::new(),
                usage: Some(Usage::from(&billed)),
            });
            let _ = send(last);
        }
        call.finish("ok", billed).await;
        let _ = send(Event::default().data("[DONE]"));
    }
}
