//! Streamed replies: the events a model client yields as a reply is generated.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;

use crate::error::Result;
use crate::response::{StopReason, TokenUsage};

/// One event of a streamed reply. It serialises as `{"textDelta": "..."}`,
/// `{"messageStop": "end_turn"}` or `{"metadata": {"usage": {...}, "latencyMs": 802}}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum StreamEvent {
    /// The next piece of the reply's text.
    TextDelta(String),
    /// The model stopped generating, and why.
    MessageStop(StopReason),
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
pub struct EventStream {
    request_id: Option<String>,
    events: BoxedEvents,
}

impl EventStream {
    /// Wraps a stream of events.
    pub fn new(events: impl Stream<Item = Result<StreamEvent>> + Send + 'static) -> Self {
        EventStream {
            request_id: None,
            events: Box::pin(events),
        }
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

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}
