//! A streamed turn: events pass through to the caller, tool rounds run in between, and the turn
//! is committed at the end.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};

use super::ChatSession;
use super::call::Route;
use super::turn::{Ask, Prepared, tool_results_message};
use crate::citation::{Citation, CitedText};
use crate::error::{Error, Result};
use crate::event_stream::{EventStream, StreamEvent};
use crate::message::{
    ContentBlock, INVALID_INPUT_KEY, Message, Reasoning, Role, ToolResult, ToolUse,
};
use crate::request::ChatRequest;
use crate::response::{ChatResponse, TokenUsage};
use crate::stop_reason::StopReason;

struct Streamed;

impl Ask for Streamed {
    type Answer = Opened;

    /// A stream is retried only until its first text; see `open_until_text`.
    async fn ask(session: &ChatSession, request: &ChatRequest) -> Result<Opened> {
        let route = session.route();
        session
            .settings
            .retry_policy
            .run(session.on_retry.as_ref(), || {
                open_until_text(route, request)
            })
            .await
    }
}

impl ChatSession {
    /// A streamed turn, returned once its first output (text or a tool call) has arrived.
    pub(super) async fn start_stream(
        &mut self,
        keep: usize,
        user: Message,
    ) -> Result<ChatStream<'_>> {
        self.structured = None;
        let mut turn = Vec::with_capacity(2);
        turn.push(user);
        let (opened, prepared, span) = self.traced::<Streamed>(keep, &turn, 0).await?;
        Ok(ChatStream::new(self, keep, turn, prepared, opened).with_span(span))
    }
}

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

/// Opens a stream and reads it up to its first output: a piece of text or the start of a tool
/// call.
///
/// Nothing read here has reached the caller yet, so any failure up to this point can be retried
/// without the caller seeing output twice; that is why the retry loop wraps this function and
/// not just the call that opens the stream.
pub(super) async fn open_until_text(route: Route<'_>, request: &ChatRequest) -> Result<Opened> {
    let mut events = route.converse_stream(request).await?;
    let mut ahead = VecDeque::new();
    loop {
        match events.next().await {
            Some(Ok(event)) => {
                let has_text = matches!(&event, StreamEvent::TextDelta(t) if !t.is_empty())
                    || matches!(&event, StreamEvent::ToolUseStart { .. });
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
/// Yields [`StreamEvent`]s as they arrive. When the model asks for tools, the stream yields the
/// calls ([`StreamEvent::ToolUseStart`] as each begins, [`StreamEvent::ToolCall`] with its whole
/// input), runs them, yields each [`StreamEvent::ToolResult`], sends the results and streams the
/// model's next answer, until the model ends its turn. When the stream has been read to its
/// end, the turn (the user's message, any tool rounds, and the reply) is appended to the
/// session's history and [`response`](Self::response) returns the final reply. If it fails
/// part-way, the last item is [`Error::StreamInterrupted`] with the text delivered so far.
///
/// Dropping the stream before its end cancels the turn: the connection is closed, a running
/// tool call is dropped, and the history is left exactly as it was before the turn. The tokens
/// Bedrock billed for it are still counted in the session's [`usage`](ChatSession::usage) (and
/// budget) as an unfinished turn: Bedrock's own count when the stream's closing metadata had
/// arrived, otherwise an estimate marked [`estimated`](crate::TurnUsage::estimated).
pub struct ChatStream<'a> {
    session: &'a mut ChatSession,
    keep: usize,
    /// The turn's messages so far: the user's, then each finished tool round.
    turn: Vec<Message>,
    committed: bool,
    /// The request of the current round.
    request: Prepared,
    /// Tool rounds finished.
    round: u32,
    ahead: VecDeque<StreamEvent>,
    events: EventStream,
    /// Events to yield before reading on (a finished tool call after its block's stop, results).
    pending: VecDeque<StreamEvent>,
    /// All text the caller has been given in this turn.
    text: String,
    /// This round's reply, block by block.
    reply: ReplyBuilder,
    stop_reason: Option<StopReason>,
    /// What the finished rounds were billed.
    billed: TokenUsage,
    /// This round's usage, once its metadata arrived.
    round_usage: Option<TokenUsage>,
    /// Whether a request's stream is open and not yet billed into `billed`.
    round_open: bool,
    latency: Option<Duration>,
    guardrail_trace: Option<crate::guardrail::GuardrailTrace>,
    state: State,
    span: tracing::Span,
}

enum State {
    Streaming,
    RunningTools(BoxFuture<'static, Vec<ToolResult>>),
    Opening(BoxFuture<'static, Result<Opened>>),
    Done(Box<ChatResponse>),
    Failed,
}

/// One round's reply assembled from its stream: text blocks and tool calls in the order they
/// began. Tool calls are keyed by their block index, since several can be open at once.
#[derive(Default)]
struct ReplyBuilder {
    blocks: Vec<Block>,
    /// The text block being written, if one is open.
    open_text: Option<usize>,
    tools: HashMap<u32, usize>,
}

enum Block {
    /// Text, with the citations of its sources when it has any.
    Text(String, Vec<Citation>),
    Reasoning {
        text: String,
        signature: Option<String>,
        redacted: Option<Vec<u8>>,
    },
    Tool {
        id: String,
        name: String,
        input: String,
    },
}

impl ReplyBuilder {
    fn text(&mut self, delta: &str) {
        if let Some(Block::Text(text, _)) = self.open_text_block() {
            text.push_str(delta);
        }
    }

    /// A citation of the open text block (a cited block's citations may come before its text).
    fn citation(&mut self, citation: &Citation) {
        if let Some(Block::Text(_, citations)) = self.open_text_block() {
            citations.push(citation.clone());
        }
    }

    fn open_text_block(&mut self) -> Option<&mut Block> {
        let at = match self.open_text {
            Some(at) => at,
            None => {
                self.blocks.push(Block::Text(String::new(), Vec::new()));
                self.open_text = Some(self.blocks.len() - 1);
                self.blocks.len() - 1
            }
        };
        self.blocks.get_mut(at)
    }

    /// The reasoning block at `index`, begun on its first piece.
    fn reasoning(&mut self, index: u32) -> Option<&mut Block> {
        let at = match self.tools.get(&index) {
            Some(&at) => at,
            None => {
                self.open_text = None;
                self.blocks.push(Block::Reasoning {
                    text: String::new(),
                    signature: None,
                    redacted: None,
                });
                self.tools.insert(index, self.blocks.len() - 1);
                self.blocks.len() - 1
            }
        };
        self.blocks.get_mut(at)
    }

    fn tool_start(&mut self, index: u32, id: &str, name: &str) {
        self.open_text = None;
        self.blocks.push(Block::Tool {
            id: id.to_string(),
            name: name.to_string(),
            input: String::new(),
        });
        self.tools.insert(index, self.blocks.len() - 1);
    }

    fn tool_input(&mut self, index: u32, piece: &str) {
        if let Some(&at) = self.tools.get(&index)
            && let Some(Block::Tool { input, .. }) = self.blocks.get_mut(at)
        {
            input.push_str(piece);
        }
    }

    /// A block ended: for a tool call, its finished call.
    fn stop(&mut self, index: u32) -> Option<ToolUse> {
        match self.tools.get(&index).and_then(|&at| self.blocks.get(at)) {
            Some(Block::Tool { id, name, input }) => {
                Some(ToolUse::new(id, name, parse_input(input)))
            }
            _ => {
                self.open_text = None;
                None
            }
        }
    }

    fn has_tool_calls(&self) -> bool {
        self.blocks.iter().any(|b| matches!(b, Block::Tool { .. }))
    }

    /// The reply as a message: its non-empty text blocks and its tool calls, in order. Taken by
    /// value, so the text is moved into the message, not copied.
    fn into_message(self) -> Message {
        let blocks = self.blocks.into_iter().filter_map(|block| match block {
            Block::Text(text, _) if text.trim().is_empty() => None,
            Block::Text(text, citations) if citations.is_empty() => Some(ContentBlock::Text(text)),
            Block::Text(text, citations) => Some(ContentBlock::CitationsContent(CitedText::new(
                text, citations,
            ))),
            Block::Tool { id, name, input } => Some(ContentBlock::ToolUse(ToolUse::new(
                id,
                name,
                parse_input(&input),
            ))),
            Block::Reasoning {
                redacted: Some(data),
                ..
            } => Some(ContentBlock::ReasoningContent(Reasoning::RedactedContent(
                data,
            ))),
            Block::Reasoning {
                text, signature, ..
            } => Some(ContentBlock::ReasoningContent(Reasoning::ReasoningText {
                text,
                signature,
            })),
        });
        Message::from_blocks(Role::Assistant, blocks)
    }
}

/// A tool call's input from its JSON text. A call without input sends an empty string (or
/// nothing), which is `{}`. Text that is not a JSON object is kept as `{"_invalid_input": text}`
/// so the history stays one Bedrock accepts; the tool then refuses it and the model is told.
fn parse_input(text: &str) -> serde_json::Value {
    if text.trim().is_empty() {
        return serde_json::json!({});
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => serde_json::json!({ INVALID_INPUT_KEY: text }),
    }
}

impl<'a> ChatStream<'a> {
    pub(super) fn new(
        session: &'a mut ChatSession,
        keep: usize,
        turn: Vec<Message>,
        request: Prepared,
        opened: Opened,
    ) -> Self {
        ChatStream {
            session,
            keep,
            turn,
            committed: false,
            request,
            round: 0,
            ahead: opened.ahead,
            events: opened.events,
            pending: VecDeque::new(),
            text: String::new(),
            reply: ReplyBuilder::default(),
            stop_reason: None,
            billed: TokenUsage::default(),
            round_usage: None,
            round_open: true,
            latency: None,
            guardrail_trace: None,
            state: State::Streaming,
            span: tracing::Span::none(),
        }
    }

    /// The turn's span, to record the reply's usage on when it completes.
    pub(super) fn with_span(mut self, span: tracing::Span) -> Self {
        self.span = span;
        self
    }

    /// The text received so far (over all the turn's tool rounds).
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
    /// The stream's error: [`Error::StreamInterrupted`] with the text delivered so far,
    /// [`Error::EmptyReply`] for a reply without text, or [`Error::ToolRoundsExceeded`].
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
            StreamEvent::TextDelta(text) => {
                self.text.push_str(text);
                self.reply.text(text);
            }
            StreamEvent::Citation { citation, .. } => self.reply.citation(citation),
            StreamEvent::ToolUseStart { index, id, name } => {
                self.reply.tool_start(*index, id, name);
            }
            StreamEvent::ToolUseInputDelta { index, input } => self.reply.tool_input(*index, input),
            StreamEvent::ReasoningDelta { index, text } => {
                if let Some(Block::Reasoning { text: so_far, .. }) = self.reply.reasoning(*index) {
                    so_far.push_str(text);
                }
            }
            StreamEvent::ReasoningSignature { index, signature } => {
                if let Some(Block::Reasoning {
                    signature: slot, ..
                }) = self.reply.reasoning(*index)
                {
                    *slot = Some(signature.clone());
                }
            }
            StreamEvent::RedactedReasoning { index, data } => {
                if let Some(Block::Reasoning { redacted, .. }) = self.reply.reasoning(*index) {
                    redacted
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(data);
                }
            }
            StreamEvent::ContentBlockStop { index } => {
                if let Some(call) = self.reply.stop(*index) {
                    self.pending.push_back(StreamEvent::ToolCall(call));
                }
            }
            StreamEvent::MessageStop(reason) => self.stop_reason = Some(reason.clone()),
            StreamEvent::GuardrailTrace(trace) => self.guardrail_trace = Some(trace.clone()),
            StreamEvent::Metadata { usage, latency } => {
                self.round_usage = Some(*usage);
                self.latency = *latency;
            }
            _ => {}
        }
    }

    fn interrupted(&self, source: Error) -> Error {
        Error::StreamInterrupted {
            partial_text: self.text.clone(),
            source: Box::new(source),
        }
    }

    /// A round's stream ended: start the tools it asked for, or commit the turn.
    fn round_ended(&mut self) -> Result<()> {
        let Some(stop_reason) = self.stop_reason.take() else {
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
        let usage = self.round_usage.take().unwrap_or_default();
        super::turn::record_reply(&self.span, &usage, &stop_reason);
        self.billed += usage;
        self.round_open = false;
        let reply = std::mem::take(&mut self.reply);
        let has_tool_calls = reply.has_tool_calls();
        let message = reply.into_message();
        if has_tool_calls {
            self.round += 1;
            if self.round >= self.session.max_tool_rounds {
                return Err(Error::ToolRoundsExceeded {
                    rounds: self.session.max_tool_rounds,
                });
            }
            let calls: Vec<ToolUse> = message.tool_uses().cloned().collect();
            self.turn.push(message);
            let tools = Arc::clone(&self.session.tools);
            self.state = State::RunningTools(async move { tools.run(&calls).await }.boxed());
            return Ok(());
        }
        let intervened = stop_reason == StopReason::GuardrailIntervened;
        if (message.has_blank_content() || !message.has_text()) && !intervened {
            return Err(Error::EmptyReply { stop_reason });
        }
        let response = ChatResponse::new(message.clone(), stop_reason, self.billed)
            .with_latency(self.latency)
            .with_request_id(self.events.request_id().map(str::to_string))
            .with_guardrail_trace(self.guardrail_trace.take());
        if intervened {
            // Shown but not kept, as for a whole reply: see `run_turn`.
            self.session
                .record_unfinished(self.billed, Some(TokenUsage::default()), 0, None);
            self.committed = true;
            self.state = State::Done(Box::new(response));
            return Ok(());
        }
        let mut turn = std::mem::take(&mut self.turn);
        turn.push(message);
        self.session
            .commit(self.keep, turn, self.billed, &self.request);
        // For the next turn to build on, as a whole turn leaves it (see `last_sent`).
        self.session.last_sent = self.request.request.take_messages();
        self.committed = true;
        self.state = State::Done(Box::new(response));
        Ok(())
    }

    /// The tools answered: yield their results and ask the model again.
    fn tools_answered(&mut self, results: Vec<ToolResult>) -> Result<()> {
        self.pending
            .extend(results.iter().cloned().map(StreamEvent::ToolResult));
        self.turn.push(tool_results_message(results));
        let prepared = self
            .session
            .prepare(self.keep, &self.turn, None, self.round)?;
        self.request = prepared;
        let client = self.session.client.clone();
        let policy = self.session.settings.retry_policy.clone();
        let observer = self.session.on_retry.clone();
        let request = self.request.request.clone();
        self.state = State::Opening(
            async move {
                policy
                    .run(observer.as_ref(), || {
                        open_until_text(client.route(), &request)
                    })
                    .await
            }
            .boxed(),
        );
        Ok(())
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<StreamEvent>>> {
        self.state = State::Failed;
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for ChatStream<'_> {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            match &mut this.state {
                State::Done(_) | State::Failed => return Poll::Ready(None),
                State::RunningTools(running) => {
                    let results = ready!(running.poll_unpin(cx));
                    if let Err(error) = this.tools_answered(results) {
                        let error = this.interrupted(error);
                        return this.fail(error);
                    }
                }
                State::Opening(opening) => match ready!(opening.poll_unpin(cx)) {
                    Ok(opened) => {
                        this.ahead = opened.ahead;
                        this.events = opened.events;
                        this.round_open = true;
                        this.state = State::Streaming;
                    }
                    Err(error) => {
                        let error = this.interrupted(error);
                        return this.fail(error);
                    }
                },
                State::Streaming => {
                    let next = match this.ahead.pop_front() {
                        Some(event) => Some(Ok(event)),
                        None => ready!(this.events.poll_next_unpin(cx)),
                    };
                    match next {
                        Some(Ok(event)) => {
                            this.observe(&event);
                            return Poll::Ready(Some(Ok(event)));
                        }
                        Some(Err(error)) => {
                            let error = this.interrupted(error);
                            return this.fail(error);
                        }
                        None => {
                            if let Err(error) = this.round_ended() {
                                return this.fail(error);
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Drop for ChatStream<'_> {
    fn drop(&mut self) {
        // Not committed: the turn never made it into the history, but Bedrock billed its
        // requests all the same. A round still streaming is counted from its metadata, or
        // estimated when that never came.
        if self.committed {
            return;
        }
        let current = if self.round_open {
            self.round_usage
        } else {
            Some(TokenUsage::default())
        };
        let round_text = self.reply.blocks.iter().map(|b| match b {
            Block::Text(text, _) | Block::Reasoning { text, .. } => text.len(),
            Block::Tool { input, .. } => input.len(),
        });
        let bytes = round_text.sum();
        self.session
            .record_unfinished(self.billed, current, bytes, Some(&self.request.request));
    }
}

impl fmt::Debug for ChatStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("text_len", &self.text.len())
            .field("round", &self.round)
            .field("stop_reason", &self.stop_reason)
            .field("request_id", &self.events.request_id())
            .finish_non_exhaustive()
    }
}
