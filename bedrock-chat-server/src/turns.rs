//! `/api/conversations/{id}/messages`, `/retry`, `/edit` and `/undo`: a turn on a stored
//! conversation.
//!
//! A turn takes the conversation's lease (one turn at a time, 409 otherwise), restores a session
//! from the store, runs on a task of its own and sends what happens as [`TurnEvent`]s: to an SSE
//! stream (`Accept: text/event-stream`) or, collected, to one JSON answer. The conversation is
//! saved (compare-and-set on its version) only when the reply is complete: a failure, a client
//! that goes away, or a server that shuts down leaves it exactly as it was.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bedrock_chat::{
    CacheLookup, CachedClient, ChatSession, Lease, ModelClient, StoreError, StreamEvent, TokenUsage,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use utoipa::ToSchema;

use crate::admission::{Permit, Visitor, admit_attachments, admit_cost, admit_rate};
use crate::client_addr::ClientIp;
use crate::conversations::{ConversationId, ConversationView, SourceView, UsageSchema, cost_of};
use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::identity::ClientId;
use crate::state::AppState;
use crate::telemetry::TurnMeter;
use crate::uploads::Upload;

/// What a turn reports, in order: notices and text, then `Done` or `Error`.
#[derive(Debug)]
enum TurnEvent {
    Notice(String),
    Delta(String),
    Citation(SourceView),
    ToolCall(ToolCallData),
    ToolResult(ToolResultData),
    Done(Box<TurnDone>),
    Error(ApiError),
}

/// The `done` event: what the turn used and cost, and the conversation so far.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TurnDone {
    #[schema(value_type = UsageSchema)]
    usage: TokenUsage,
    /// At the server's prices; `null` for a model without one.
    cost_usd: Option<f64>,
    /// Why the model stopped (`end_turn`, `max_tokens`, ...).
    stop_reason: String,
    #[schema(value_type = UsageSchema)]
    conversation_usage: TokenUsage,
    conversation_cost_usd: Option<f64>,
    /// Answered from the reply cache: nothing reached the model and it cost nothing.
    cached: bool,
    /// The sources the reply cites (from the knowledge base, or documents with citations on),
    /// numbered as its `citation` events were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources: Vec<SourceView>,
    /// The model that answered.
    model: String,
}

/// A whole (not streamed) turn's answer: the `done` event with the reply's text and notices.
#[derive(Serialize, ToSchema)]
pub(crate) struct WholeTurn {
    #[serde(flatten)]
    done: TurnDone,
    /// The reply.
    text: String,
    /// Retry notices and other notes, in order.
    notices: Vec<String>,
    /// The operator's tools the model called, in order.
    tool_calls: Vec<ToolCallData>,
    /// Their results, in order.
    tool_results: Vec<ToolResultData>,
}

/// The `tool_call` event: the model called one of the operator's tools.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ToolCallData {
    /// The call's id; its `tool_result` names it.
    id: String,
    /// The tool (`server__tool`).
    name: String,
    /// What the model passed.
    input: serde_json::Value,
}

/// The `tool_result` event: what the tool answered (shortened), before the model reads it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ToolResultData {
    /// The call's id.
    id: String,
    /// Whether the call succeeded.
    ok: bool,
    /// The result as text, at most 2,000 characters.
    text: String,
}

/// How much of a tool's result the page is shown: the model reads all of it.
const SHOWN_RESULT_CHARS: usize = 2_000;

#[derive(Serialize)]
struct NoticeData<'a> {
    message: &'a str,
}

#[derive(Serialize)]
struct DeltaData<'a> {
    text: &'a str,
}

impl TurnEvent {
    fn to_sse(&self) -> Event {
        let (name, data) = match self {
            TurnEvent::Notice(message) => {
                ("notice", serde_json::to_string(&NoticeData { message }))
            }
            TurnEvent::Delta(text) => ("delta", serde_json::to_string(&DeltaData { text })),
            TurnEvent::Citation(source) => ("citation", serde_json::to_string(source)),
            TurnEvent::ToolCall(call) => ("tool_call", serde_json::to_string(call)),
            TurnEvent::ToolResult(result) => ("tool_result", serde_json::to_string(result)),
            TurnEvent::Done(done) => ("done", serde_json::to_string(done)),
            TurnEvent::Error(error) => ("error", serde_json::to_string(&error.detail())),
        };
        Event::default()
            .event(name)
            .data(data.unwrap_or_else(|_| "{}".to_string()))
    }
}

/// What the turn does.
enum Action {
    Say {
        text: String,
        attachments: Vec<bedrock_chat::Attachment>,
        /// The model the visitor picked for the conversation, if any.
        model: Option<String>,
    },
    Retry,
    Edit(String),
}

impl Action {
    /// The bytes of text the new message counts as in the estimate of what the turn may cost.
    fn message_bytes(&self, session: &ChatSession) -> usize {
        match self {
            Action::Say {
                text, attachments, ..
            } => {
                text.len()
                    + attachments
                        .iter()
                        .map(bedrock_chat::Attachment::estimated_text_bytes)
                        .sum::<usize>()
            }
            Action::Retry => 0,
            // The edited message keeps the attachments of the one it replaces.
            Action::Edit(text) => {
                text.len()
                    + session
                        .history()
                        .iter()
                        .rev()
                        .find(|m| m.role() == bedrock_chat::Role::User && !m.is_tool_results())
                        .map_or(0, |m| {
                            m.attachments()
                                .map(bedrock_chat::Attachment::estimated_text_bytes)
                                .sum()
                        })
            }
        }
    }

    /// The bytes the conversation grows by when kept (attachments as base64), at most.
    fn stored_bytes(&self) -> usize {
        match self {
            Action::Say {
                text, attachments, ..
            } => {
                text.len()
                    + attachments
                        .iter()
                        .map(|a| a.len().div_ceil(3) * 4 + 256)
                        .sum::<usize>()
            }
            Action::Retry => 0,
            Action::Edit(text) => text.len(),
        }
    }
}

/// `{"text": …, "attachments": [{"name", "data"}, …]}`.
#[derive(Deserialize, ToSchema)]
pub struct SendBody {
    /// The message (at most 1 MiB, no control characters but newlines and tabs); may be empty
    /// when images are attached.
    #[serde(default)]
    text: String,
    /// Images and documents, sent before the text (Bedrock's limits: 20 images of at most
    /// 3.75 MB, 5 documents of at most 4.5 MB, and a document needs text with it).
    #[serde(default)]
    attachments: Vec<Upload>,
    /// The model to answer with from now on in this conversation, one of `GET /api/models`
    /// [default: the conversation's]
    #[serde(default)]
    model: Option<String>,
}

/// `{"text": …}`: the new text of the last message.
#[derive(Deserialize, ToSchema)]
pub struct EditBody {
    /// The message (as for `/messages`); the attachments of the message it replaces are kept.
    text: String,
}

/// What a turn answers: JSON once it is over, or (with `Accept: text/event-stream`) server-sent
/// events `notice` and `delta` as they come, then `done` (a [`TurnDone`]) or `error` (an
/// [`ErrorDetail`](crate::error::ErrorDetail)).
const TURN_ANSWERS: &str = "The reply: JSON once complete, or with `Accept: text/event-stream` \
    server-sent events `notice` {message}, `delta` {text}, `citation` (SourceView) when the reply \
    cites a source, `tool_call` (ToolCallData) and `tool_result` (ToolResultData) as the \
    operator's tools run, then `done` (TurnDone) or `error` (ErrorDetail)";

/// Reads a JSON body, answering a malformed one with the API's own error shape.
fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match body {
        Ok(Json(value)) => Ok(value),
        Err(rejection) => Err(ApiError::unreadable_body(
            &rejection,
            r#"{"text": "Hello"}"#,
        )),
    }
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"))
}

/// `POST /api/conversations/{id}/messages`.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/messages",
    tag = "turns",
    params(("id" = String, Path, description = "The conversation's id (32 hex digits)")),
    request_body = SendBody,
    responses(
        (status = 200, description = TURN_ANSWERS, content(
            (WholeTurn = "application/json"),
            (String = "text/event-stream")
        )),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody),
        (status = 409, description = "A reply is already being written in it", body = ErrorBody),
        (status = 502, description = "Bedrock refused or failed", body = ErrorBody)
    )
)]
pub async fn send(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ClientIp(address): ClientIp,
    ConversationId(id): ConversationId,
    headers: HeaderMap,
    body: Result<Json<SendBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let model = body
        .model
        .map(|m| crate::models::offered(&state, &m))
        .transpose()?;
    let attachments = crate::uploads::decode(body.attachments)?;
    ChatSession::check_message_with(&body.text, &attachments)?;
    let stream = wants_stream(&headers);
    let action = Action::Say {
        text: body.text,
        attachments,
        model,
    };
    run(state, client, address, id, action, stream).await
}

/// `POST /api/conversations/{id}/edit`: the last message with new text, replacing its reply.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/edit",
    tag = "turns",
    params(("id" = String, Path, description = "The conversation's id (32 hex digits)")),
    request_body = EditBody,
    responses(
        (status = 200, description = TURN_ANSWERS, content(
            (WholeTurn = "application/json"),
            (String = "text/event-stream")
        )),
        (status = 400, description = "Nothing to edit, or the text is not a message", body = ErrorBody),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody),
        (status = 409, description = "A reply is already being written in it", body = ErrorBody),
        (status = 502, description = "Bedrock refused or failed", body = ErrorBody)
    )
)]
pub async fn edit(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ClientIp(address): ClientIp,
    ConversationId(id): ConversationId,
    headers: HeaderMap,
    body: Result<Json<EditBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let text = json_body(body)?.text;
    ChatSession::check_message(&text)?;
    let stream = wants_stream(&headers);
    run(state, client, address, id, Action::Edit(text), stream).await
}

/// `POST /api/conversations/{id}/retry`: the last message again, replacing its reply.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/retry",
    tag = "turns",
    params(("id" = String, Path, description = "The conversation's id (32 hex digits)")),
    responses(
        (status = 200, description = TURN_ANSWERS, content(
            (WholeTurn = "application/json"),
            (String = "text/event-stream")
        )),
        (status = 400, description = "Nothing to send again", body = ErrorBody),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody),
        (status = 409, description = "A reply is already being written in it", body = ErrorBody),
        (status = 502, description = "Bedrock refused or failed", body = ErrorBody)
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ClientIp(address): ClientIp,
    ConversationId(id): ConversationId,
    headers: HeaderMap,
    // Read and ignored, so the keep-alive connection survives a body (see `create`).
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let stream = wants_stream(&headers);
    run(state, client, address, id, Action::Retry, stream).await
}

/// `POST /api/conversations/{id}/undo`: removes the last exchange.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/undo",
    tag = "turns",
    params(("id" = String, Path, description = "The conversation's id (32 hex digits)")),
    responses(
        (status = 200, description = "The conversation without its last exchange", body = ConversationView),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody),
        (status = 409, description = "Empty, or a reply is being written", body = ErrorBody)
    )
)]
pub async fn undo(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
    // Read and ignored, so the keep-alive connection survives a body (see `create`).
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let view = crate::conversations::change(&state, &client, &id, |session| match session.undo() {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            ErrorKind::NothingToUndo,
            "the conversation is empty; there is nothing to undo",
        )),
    })
    .await?;
    Ok(Json(view).into_response())
}

/// Checks what can be checked before anything is sent, starts the turn, and answers with its
/// stream or, once it is over, its result.
async fn run(
    state: AppState,
    client: String,
    address: std::net::IpAddr,
    id: String,
    action: Action,
    stream: bool,
) -> Result<Response, ApiError> {
    let visitor = Visitor::browser(&client, address);
    // The rate first: a flood is refused before it costs a read of the conversation.
    admit_rate(&state, &visitor).await?;
    if let Action::Say { attachments, .. } = &action {
        admit_attachments(&state, &visitor, attachments.len()).await?;
    }
    let (lease, stored) = state
        .store()
        .lease_and_load(&client, &id, state.config().turn_lease)
        .await?;
    let (events, mut received) = mpsc::unbounded_channel();
    // A new message may be answered from the cache; Regenerate always asks the model. Askers
    // are told apart by address, so new cookies cannot make a question "frequently asked".
    let cached = match (&action, state.reply_cache()) {
        (Action::Say { .. }, Some(cache)) => Some(cache.client(state.client(), &visitor.address)),
        _ => None,
    };
    let session = match restore(&state, &stored, &events, cached.as_ref()) {
        // Said before a stream starts, so it is a 400 rather than a stream's error event.
        Ok(session)
            if session.exchange_count() == 0
                && matches!(action, Action::Retry | Action::Edit(_)) =>
        {
            let _ = state.store().release(&lease).await;
            return Err(ApiError::new(
                ErrorKind::InvalidInput,
                "there is no message to send again yet; send one first",
            ));
        }
        Ok(session) => session,
        Err(error) => {
            let _ = state.store().release(&lease).await;
            return Err(error);
        }
    };
    let mut session = session;
    if let Action::Say {
        model: Some(model), ..
    } = &action
        && let Err(error) = session.set_model_id(model.clone())
    {
        let _ = state.store().release(&lease).await;
        return Err(error.into());
    }
    if let Some(tools) = &state.config().tools {
        // A server may have changed its tools, or come back, since the last turn.
        tools.mcp.refresh().await;
        if let Err(error) = session.set_tools(crate::tools::for_turn(&state, &visitor)) {
            tracing::warn!(%error, "MCP tools refused by the session");
        }
    }
    // A message that would make the conversation too large to keep is refused before it is
    // paid for: the save after the reply would fail, and the visitor lose the answer.
    let limit = state.config().limits.conversation_bytes;
    // Passages the knowledge base will add are kept with the message.
    let passages = match (&action, &state.config().knowledge_base) {
        (Action::Say { .. } | Action::Edit(_), Some(kb)) => kb.reserve_bytes,
        _ => 0,
    };
    let grown = serde_json::to_vec(&stored.conversation).map_or(0, |json| json.len())
        + action.stored_bytes()
        + passages;
    if grown > limit {
        let _ = state.store().release(&lease).await;
        return Err(ApiError::new(
            ErrorKind::TooLarge,
            format!(
                "with this message the conversation would be about {grown} bytes, more than the \
                 {limit} kept; start a new chat, or attach smaller or fewer files"
            ),
        ));
    }
    // The passages are input too: reserved at their most.
    let most = cost_of(
        &state,
        session.model_id(),
        &session.most_turn_usage(action.message_bytes(&session) + passages),
    );
    let permit = match admit_cost(&state, &visitor, most.unwrap_or(0.0)).await {
        Ok(permit) => permit,
        Err(error) => {
            let _ = state.store().release(&lease).await;
            return Err(error);
        }
    };
    let turn_state = state.clone();
    tokio::spawn(async move {
        let last = turn(
            &turn_state,
            &client,
            session,
            stored,
            &lease,
            action,
            permit,
            &events,
            cached.as_ref(),
        )
        .await;
        // The lease is given back before the last event goes out (a completed turn's with its
        // save, any other's here): a client that sends its next message the moment this reply
        // is done must not find the conversation still busy.
        if !matches!(last, Some(TurnEvent::Done(_))) {
            let _ = turn_state.store().release(&lease).await;
        }
        if let Some(last) = last {
            let _ = events.send(last);
        }
    });

    if stream {
        let events = UnboundedReceiverStream::new(received)
            .map(|event| Ok::<_, std::convert::Infallible>(event.to_sse()));
        return Ok((
            // nginx and similar proxies buffer responses unless told not to.
            [("x-accel-buffering", "no")],
            Sse::new(events).keep_alive(KeepAlive::default()),
        )
            .into_response());
    }
    let mut text = String::new();
    let mut notices = Vec::new();
    let mut tool_calls = Vec::new();
    let mut tool_results = Vec::new();
    while let Some(event) = received.recv().await {
        match event {
            TurnEvent::Notice(notice) => notices.push(notice),
            TurnEvent::Delta(delta) => text.push_str(&delta),
            // The `done` data lists the sources.
            TurnEvent::Citation(_) => {}
            TurnEvent::ToolCall(call) => tool_calls.push(call),
            TurnEvent::ToolResult(result) => tool_results.push(result),
            TurnEvent::Error(error) => return Err(error),
            TurnEvent::Done(done) => {
                return Ok(Json(WholeTurn {
                    done: *done,
                    text,
                    notices,
                    tool_calls,
                    tool_results,
                })
                .into_response());
            }
        }
    }
    Err(ApiError::new(
        ErrorKind::Internal,
        "the turn ended without an answer",
    ))
}

/// A session with the server's settings holding `stored`, telling `events` of its retries and
/// notices.
fn restore(
    state: &AppState,
    stored: &bedrock_chat::StoredConversation,
    events: &mpsc::UnboundedSender<TurnEvent>,
    cached: Option<&CachedClient>,
) -> Result<ChatSession, ApiError> {
    let retry_events = events.clone();
    let notice_events = events.clone();
    let client: Arc<dyn ModelClient> = match cached {
        Some(cached) => Arc::new(cached.clone()),
        None => state.client(),
    };
    let mut builder = ChatSession::builder(client).settings(state.settings().clone());
    if let Some(kb) = &state.config().knowledge_base {
        builder = builder.retriever(kb.retriever.clone());
    }
    let mut session = builder
        .on_retry(move |notice| {
            crate::telemetry::retry(
                ApiError::from(notice.error).kind.as_str(),
                notice.error.is_throttling(),
            );
            let _ = retry_events.send(TurnEvent::Notice(notice.to_string()));
        })
        .on_notice(move |notice| {
            let _ = notice_events.send(TurnEvent::Notice(notice.to_string()));
        })
        .build()?;
    session.restore(stored.conversation.clone())?;
    // A conversation held with a model the operator no longer offers goes on with the default.
    if !state
        .offered_models()
        .iter()
        .any(|m| m == session.model_id())
    {
        session.set_model_id(state.settings().model_id.clone())?;
    }
    Ok(session)
}

/// The turn itself, on its own task. Every way it can end gives one last event to send once the
/// lease is released (none when the client has gone, since nobody is listening), and every way
/// settles the permit with what Bedrock billed: a reply the client hung up on, one that failed
/// part-way and one the server stopped are charged too (Bedrock's count when it arrived, else
/// the session's estimate from the text sent and received).
#[allow(clippy::too_many_arguments)]
async fn turn(
    state: &AppState,
    client: &str,
    mut session: ChatSession,
    stored: bedrock_chat::StoredConversation,
    lease: &Lease,
    action: Action,
    mut permit: Permit,
    events: &mpsc::UnboundedSender<TurnEvent>,
    cached: Option<&CachedClient>,
) -> Option<TurnEvent> {
    // The conversation's model, which the visitor may have picked.
    let mut meter = TurnMeter::start("chat", session.model_id());
    let billed_before = session.usage().turns().len();
    let result = tokio::select! {
        result = reply(state, client, &mut session, &stored, lease, action, events, &mut meter) => Some(result),
        // The client went away: dropping the reply cancels it (and its stream records what
        // Bedrock billed so far in the session), and nothing is saved.
        () = events.closed() => None,
        () = state.stop_turns().cancelled() => Some(Err(ApiError::new(
            ErrorKind::Shutdown,
            "the server is restarting and this reply was stopped; send your message again",
        ))),
        error = keep_lease(state, lease, &permit) => Some(Err(error)),
    };
    let mut billed = TokenUsage::default();
    for turn in &session.usage().turns()[billed_before..] {
        billed += turn.usage;
    }
    let cost = cost_of(state, session.model_id(), &billed);
    permit.settle(cost.unwrap_or(0.0)).await;
    let outcome = match &result {
        None => "cancelled",
        Some(Ok(_)) => "ok",
        Some(Err(error)) => error.kind.as_str(),
    };
    meter.finish(outcome, &billed, cost);
    let lookup = cached.and_then(CachedClient::lookup);
    if let Some(lookup) = &lookup {
        let saved = match lookup {
            CacheLookup::Hit { saved } => cost_of(state, session.model_id(), saved),
            CacheLookup::Miss => None,
        };
        crate::telemetry::reply_cache(lookup.is_hit(), saved);
    }
    match result? {
        Ok(mut done) => {
            done.cost_usd = cost;
            done.cached = lookup.is_some_and(|l| l.is_hit());
            Some(TurnEvent::Done(Box::new(done)))
        }
        Err(error) => Some(TurnEvent::Error(error)),
    }
}

/// Renews the lease and the permit's slots while the turn runs; returns only if the lease was
/// lost.
async fn keep_lease(state: &AppState, lease: &Lease, permit: &Permit) -> ApiError {
    loop {
        // Renewed at a third of its length: two renewals can fail before it lapses.
        let ttl = state.config().turn_lease;
        tokio::time::sleep(ttl / 3).await;
        let (renewed, ()) = tokio::join!(state.store().renew(lease, ttl), permit.renew());
        match renewed {
            Ok(()) => {}
            Err(StoreError::Unavailable { .. }) => {
                // Keep trying: the lease lasts a while yet, and the save will tell.
            }
            Err(error) => return error.into(),
        }
    }
}

/// Sends the message, streams the reply to `events`, and saves the conversation when the reply
/// is complete, giving the lease back with the save. Returns the `done` event's data.
#[allow(clippy::too_many_arguments)]
async fn reply(
    state: &AppState,
    client: &str,
    session: &mut ChatSession,
    stored: &bedrock_chat::StoredConversation,
    lease: &Lease,
    action: Action,
    events: &mpsc::UnboundedSender<TurnEvent>,
    meter: &mut TurnMeter,
) -> Result<TurnDone, ApiError> {
    let mut stream = match action {
        Action::Say {
            text, attachments, ..
        } => session.send_streaming_with(text, attachments).await?,
        Action::Retry => session.retry_streaming().await?,
        Action::Edit(text) => session.edit_streaming(text).await?,
    };
    let mut sources = bedrock_chat::Sources::default();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta(text) => {
                meter.first_token();
                let _ = events.send(TurnEvent::Delta(text));
            }
            StreamEvent::Citation { citation, .. } => {
                let number = sources.number(&citation);
                if let Some(source) = sources.list().get(number - 1) {
                    let _ = events.send(TurnEvent::Citation(SourceView::from(source)));
                }
            }
            StreamEvent::ToolCall(call) => {
                let _ = events.send(TurnEvent::ToolCall(ToolCallData {
                    id: call.id,
                    name: call.name,
                    input: call.input,
                }));
            }
            StreamEvent::ToolResult(result) => {
                let text: String = result.text().chars().take(SHOWN_RESULT_CHARS).collect();
                let _ = events.send(TurnEvent::ToolResult(ToolResultData {
                    ok: !result.is_error(),
                    id: result.tool_use_id,
                    text,
                }));
            }
            _ => {}
        }
    }
    let response = stream.response().cloned().ok_or_else(|| {
        ApiError::new(
            ErrorKind::BedrockFailed,
            "the reply ended without being complete",
        )
    })?;
    drop(stream);
    state
        .store()
        .save_and_release(lease, client, stored.version, session.snapshot())
        .await?;
    let model = session.model_id().to_string();
    let total: TokenUsage = session.conversation_usage();
    Ok(TurnDone {
        usage: response.usage(),
        cost_usd: None,
        stop_reason: response.stop_reason().to_string(),
        conversation_usage: total,
        conversation_cost_usd: cost_of(state, &model, &total),
        cached: false,
        sources: response
            .sources()
            .list()
            .iter()
            .map(SourceView::from)
            .collect(),
        model,
    })
}
