//! A streamed turn: events pass through to the caller and the turn is committed at the end.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::{Stream, StreamExt};

use super::ChatSession;
use crate::client::ModelClient;
use crate::error::{Error, Result};
use crate::event_stream::{EventStream, StreamEvent};
use crate::message::Message;
use crate::request::ChatRequest;
use crate::response::{ChatResponse, StopReason, TokenUsage};

/// A stream opened far enough to know it carries text, with the events read so far.
pub(super) struct Opened {
    ahead: VecDeque<StreamEvent>,
    events: EventStream,
}

impl Opened {
    /// The stream again as one [`EventStream`]: the events read ahead, then the rest.
    pub(super) fn into_events(self) -> EventStream {
        let request_id = self.events.request_id().map(str::to_string);
        let ahead = futures::stream::iter(self.ahead.into_iter().map(Ok));
        EventStream::new(ahead.chain(self.events)).with_request_id(request_id)
    }
}

/// Opens a stream and reads it up to its first piece of text.
///
/// Nothing read here has reached the caller yet, so any failure up to this point can be retried
/// without the caller seeing text twice; that is why the retry loop wraps this function and not
/// just the call that opens the stream.
pub(super) async fn open_until_text(
    client: &dyn ModelClient,
    request: &ChatRequest,
) -> Result<Opened> {
    let mut events = client.converse_stream(request).await?;
    let mut ahead = VecDeque::new();
    loop {
        match events.next().await {
            Some(Ok(event)) => {
                let has_text = matches!(&event, StreamEvent::TextDelta(t) if !t.is_empty());
                ahead.push_back(event);
                if has_text {
                    break;
                }
            }
            Some(Err(error)) => return Err(error),
            None => {
                if !ahead
                    .iter()
                    .any(|e| matches!(e, StreamEvent::MessageStop(_)))
                {
                    return Err(Error::Transport {
                        source: "the response stream ended before the reply began".into(),
                    });
                }
                break;
            }
        }
    }
    Ok(Opened { ahead, events })
}

/// A reply being streamed, from [`ChatSession::send_streaming`].
///
/// Yields [`StreamEvent`]s as they arrive. When the stream has been read to its end, the user's
/// message and the reply are appended to the session's history and [`response`](Self::response)
/// returns the whole reply. If it fails part-way, the last item is
/// [`Error::StreamInterrupted`] with the text delivered so far.
///
/// Dropping the stream before its end cancels the turn: the connection is closed and the history
/// is left exactly as it was before the turn. The tokens Bedrock billed for it are still counted
/// in the session's [`usage`](ChatSession::usage) (and budget) as an unfinished turn: Bedrock's
/// own count when the stream's closing metadata had arrived, otherwise an estimate marked
/// [`estimated`](crate::TurnUsage::estimated).
pub struct ChatStream<'a> {
    session: &'a mut ChatSession,
    keep: usize,
    user: Option<Message>,
    request: ChatRequest,
    ahead: VecDeque<StreamEvent>,
    events: EventStream,
    text: String,
    stop_reason: Option<StopReason>,
    usage: TokenUsage,
    /// Whether Bedrock's closing metadata (its token count) arrived.
    reported: bool,
    latency: Option<Duration>,
    state: State,
    span: tracing::Span,
}

enum State {
    Streaming,
    Done(Box<ChatResponse>),
    Failed,
}

impl<'a> ChatStream<'a> {
    pub(super) fn new(
        session: &'a mut ChatSession,
        keep: usize,
        user: Message,
        request: ChatRequest,
        opened: Opened,
    ) -> Self {
        ChatStream {
            session,
            keep,
            user: Some(user),
            request,
            ahead: opened.ahead,
            events: opened.events,
            text: String::new(),
            stop_reason: None,
            usage: TokenUsage::default(),
            reported: false,
            latency: None,
            state: State::Streaming,
            span: tracing::Span::none(),
        }
    }

    /// The turn's span, to record the reply's usage on when it completes.
    pub(super) fn with_span(mut self, span: tracing::Span) -> Self {
        self.span = span;
        self
    }

    /// The text received so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The whole reply, once the stream has ended successfully.
    pub fn response(&self) -> Option<&ChatResponse> {
        match &self.state {
            State::Done(response) => Some(response),
            _ => None,
        }
    }

    /// Reads the rest of the stream and returns the whole reply.
    ///
    /// # Errors
    ///
    /// The stream's error: [`Error::StreamInterrupted`] with the text delivered so far, or
    /// [`Error::EmptyReply`] for a reply without text.
    pub async fn finish(mut self) -> Result<ChatResponse> {
        while let Some(event) = self.next().await {
            event?;
        }
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Done(response) => Ok(*response),
            // The stream only ends without a response after yielding its error, which `?`
            // returned above; this arm is kept for completeness.
            _ => Err(Error::Transport {
                source: "the response stream ended without a reply".into(),
            }),
        }
    }

    fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::TextDelta(text) => self.text.push_str(text),
            StreamEvent::MessageStop(reason) => self.stop_reason = Some(reason.clone()),
            StreamEvent::Metadata { usage, latency } => {
                self.usage = *usage;
                self.reported = true;
                self.latency = *latency;
            }
        }
    }

    fn interrupted(&self, source: Error) -> Error {
        Error::StreamInterrupted {
            partial_text: self.text.clone(),
            source: Box::new(source),
        }
    }

    /// The stream ended: commit the turn if the reply is complete.
    fn complete(&mut self) -> Result<()> {
        let Some(stop_reason) = self.stop_reason.clone() else {
            return Err(self.interrupted(Error::Transport {
                source: "the response stream ended before the reply was complete".into(),
            }));
        };
        if stop_reason == StopReason::ModelContextWindowExceeded {
            // Text was already shown, so the turn cannot be sent again quietly; the next one
            // will be estimated more carefully.
            self.session.stream_overflowed();
            let source = super::turn::stopped_for_context(self.events.request_id());
            return Err(self.interrupted(source));
        }
        if self.text.trim().is_empty() {
            return Err(Error::EmptyReply { stop_reason });
        }
        let reply = Message::assistant(self.text.clone());
        let response = ChatResponse::new(reply.clone(), stop_reason, self.usage)
            .with_latency(self.latency)
            .with_request_id(self.events.request_id().map(str::to_string));
        let user = self.user.take().ok_or_else(|| Error::Transport {
            source: "the stream was completed twice".into(),
        })?;
        self.session
            .commit(self.keep, user, reply, self.usage, &self.request);
        super::turn::record_reply(&self.span, &self.usage, response.stop_reason());
        self.state = State::Done(Box::new(response));
        Ok(())
    }
}

impl Stream for ChatStream<'_> {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !matches!(this.state, State::Streaming) {
            return Poll::Ready(None);
        }
        let next = match this.ahead.pop_front() {
            Some(event) => Some(Ok(event)),
            None => ready!(this.events.poll_next_unpin(cx)),
        };
        match next {
            Some(Ok(event)) => {
                this.observe(&event);
                Poll::Ready(Some(Ok(event)))
            }
            Some(Err(error)) => {
                this.state = State::Failed;
                Poll::Ready(Some(Err(this.interrupted(error))))
            }
            None => match this.complete() {
                Ok(()) => Poll::Ready(None),
                Err(error) => {
                    this.state = State::Failed;
                    Poll::Ready(Some(Err(error)))
                }
            },
        }
    }
}

impl Drop for ChatStream<'_> {
    fn drop(&mut self) {
        // `user` is taken only when the turn is committed; still here, the turn never made it
        // into the history, but Bedrock billed it all the same.
        if self.user.is_some() {
            let reported = self.reported.then_some(self.usage);
            self.session
                .record_unfinished(reported, self.text.len(), &self.request);
        }
    }
}

impl fmt::Debug for ChatStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("text_len", &self.text.len())
            .field("stop_reason", &self.stop_reason)
            .field("request_id", &self.events.request_id())
            .finish_non_exhaustive()
    }
}
