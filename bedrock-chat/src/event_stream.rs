//! Streamed replies: the events a model client yields as a reply is generated.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{Fuse, Stream, StreamExt};

use crate::error::{Error, Result};
use crate::response::TokenUsage;
use crate::stop_reason::StopReason;

/// One event of a streamed reply. It serialises as `{"textDelta": "..."}`,
/// `{"messageStop": "end_turn"}`, `{"metadata": {"usage": {...}, "latencyMs": 802}}`, and so on.
///
/// A [`ModelClient`](crate::ModelClient) yields the text, tool-call and closing events of one
/// model call; a [`ChatStream`](crate::ChatStream) passes them on and adds
/// [`ToolCall`](Self::ToolCall) and [`ToolResult`](Self::ToolResult) as it runs the tools, so
/// a frontend can show "calling get_weather…" while a turn goes on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum StreamEvent {
    /// The next piece of the reply's text.
    TextDelta(String),
    /// The model stopped generating, and why.
    MessageStop(StopReason),
    /// A tool call begins; its input follows in [`ToolUseInputDelta`](Self::ToolUseInputDelta)
    /// pieces under the same block index (several calls may be open at once).
    ToolUseStart {
        /// The content block's index in the reply.
        index: u32,
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// The next piece of a tool call's input, as JSON text; the pieces of one index joined
    /// are the input. A tool without input may get one empty piece, or none.
    ToolUseInputDelta {
        /// The content block's index in the reply.
        index: u32,
        /// The piece of JSON text.
        input: String,
    },
    /// The next piece of the model's reasoning (extended thinking), before its answer.
    ReasoningDelta {
        /// The content block's index in the reply.
        index: u32,
        /// The piece of reasoning text.
        text: String,
    },
    /// The signature of a reasoning block, which must go back to Bedrock with it.
    ReasoningSignature {
        /// The content block's index in the reply.
        index: u32,
        /// The signature.
        signature: String,
    },
    /// Reasoning Bedrock redacted: encrypted bytes that go back to it as they are.
    RedactedReasoning {
        /// The content block's index in the reply.
        index: u32,
        /// The encrypted reasoning.
        data: Vec<u8>,
    },
    /// A citation of the text block at `index`: the block's words come from its source. (The
    /// block's text arrives as [`TextDelta`](Self::TextDelta)s.)
    Citation {
        /// The content block's index in the reply.
        index: u32,
        /// The citation.
        citation: crate::citation::Citation,
    },
    /// A content block (text, reasoning or tool call) is complete.
    ContentBlockStop {
        /// The content block's index in the reply.
        index: u32,
    },
    /// A tool call with its whole input, about to run (from a [`ChatStream`](crate::ChatStream)).
    ToolCall(crate::message::ToolUse),
    /// A tool's result, about to go back to the model (from a
    /// [`ChatStream`](crate::ChatStream)).
    ToolResult(crate::message::ToolResult),
    /// What the guardrail found (from the stream's closing metadata, just before
    /// [`Metadata`](Self::Metadata)), when a guardrail with its trace on assessed something.
    GuardrailTrace(crate::guardrail::GuardrailTrace),
    /// What the reply used; the last event of a stream.
    Metadata {
        /// The tokens the reply used.
        usage: TokenUsage,
        /// The model's latency as Bedrock measured it.
        #[serde(default, rename = "latencyMs", with = "crate::response::millis")]
        latency: Option<Duration>,
    },
}

type BoxedEvents = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send + 'static>>;

/// The raw event stream of one model call, as returned by
/// [`ModelClient::converse_stream`](crate::ModelClient::converse_stream).
///
/// Events arrive as soon as the model produces them. An error ends the stream. Dropping the
/// stream closes the connection and abandons the reply.
///
/// Once the wrapped stream has ended, an `EventStream` keeps answering `None`: many streams
/// (`futures::stream::unfold`, which the Bedrock client uses, among them) panic when polled after
/// their end, and a reply with no text is read to its end before the caller sees it.
pub struct EventStream {
    request_id: Option<String>,
    events: Fuse<BoxedEvents>,
    idle: Option<Idle>,
}

/// The longest pause allowed between two events, and the timer for the current pause.
///
/// A pause starts when the caller begins to wait, so time the caller spends between polls is not
/// counted as a pause of the server's. Re-arming a timer for every pause costs more than the
/// rest of an event's handling (it re-registers with the runtime's timer wheel), so one timer
/// is made for the first pause and left to run: each later pause only notes when it began, and
/// when the timer fires early for the pause under way it is moved on to that pause's end.
struct Idle {
    limit: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When the current pause began.
    pause_began: tokio::time::Instant,
    /// Whether an event arrived since the current pause began (so the next wait is a new pause).
    event_since: bool,
}

impl EventStream {
    /// Wraps a stream of events.
    pub fn new(events: impl Stream<Item = Result<StreamEvent>> + Send + 'static) -> Self {
        let events: BoxedEvents = Box::pin(events);
        EventStream {
            request_id: None,
            events: events.fuse(),
            idle: None,
        }
    }

    /// Ends the stream with [`Error::Timeout`] when no event arrives for `limit`: before the
    /// first event, and between any two. A long reply that keeps arriving is never cut off.
    /// Default is no limit.
    #[must_use]
    pub fn with_idle_timeout(mut self, limit: Duration) -> Self {
        // Clamped so the end of a pause can always be computed (an `Instant` cannot hold
        // `Duration::MAX` from now); a limit of 30 years is no limit.
        const LONGEST: Duration = Duration::from_secs(30 * 365 * 86_400);
        self.idle = Some(Idle {
            limit: limit.min(LONGEST),
            timer: None,
            pause_began: tokio::time::Instant::now(),
            event_since: true,
        });
        self
    }

    /// Sets the request id of the call. Default is none.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// Bedrock's request id for this call.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl Stream for EventStream {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.events.poll_next_unpin(cx) {
            Poll::Ready(item) => {
                if let Some(idle) = &mut this.idle {
                    match &item {
                        // The stream is over: no more pauses to time.
                        None | Some(Err(_)) => this.idle = None,
                        Some(Ok(_)) => idle.event_since = true,
                    }
                }
                Poll::Ready(item)
            }
            Poll::Pending => {
                let Some(idle) = &mut this.idle else {
                    return Poll::Pending;
                };
                let limit = idle.limit;
                // The clock is read only when a pause begins, not on every poll within it.
                if idle.event_since {
                    idle.pause_began = tokio::time::Instant::now();
                    idle.event_since = false;
                }
                let ends = idle.pause_began + limit;
                let timer = idle
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(ends)));
                loop {
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // Fired: at the end of this pause, or of an earlier one that events ended.
                    if timer.deadline() >= ends {
                        break;
                    }
                    timer.as_mut().reset(ends);
                }
                this.idle = None;
                // Whatever the inner stream would say next is no longer wanted.
                let ended: BoxedEvents = Box::pin(futures::stream::empty());
                this.events = ended.fuse();
                Poll::Ready(Some(Err(Error::Timeout {
                    source: format!(
                        "no part of the reply arrived for {} (the read timeout)",
                        humantime::format_duration(limit)
                    )
                    .into(),
                })))
            }
        }
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("request_id", &self.request_id)
            .field("idle_timeout", &self.idle.as_ref().map(|idle| idle.limit))
            .finish_non_exhaustive()
    }
}
