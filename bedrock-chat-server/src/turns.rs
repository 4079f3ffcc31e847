//! `/api/conversations/{id}/messages`, `/retry` and `/undo`: a turn on a stored conversation.
//!
//! A turn takes the conversation's lease (one turn at a time, 409 otherwise), restores a session
//! from the store, runs on a task of its own and sends what happens as [`TurnEvent`]s: to an SSE
//! stream (`Accept: text/event-stream`) or, collected, to one JSON answer. The conversation is
//! saved (compare-and-set on its version) only when the reply is complete: a failure, a client
//! that goes away, or a server that shuts down leaves it exactly as it was.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bedrock_chat::{ChatSession, Lease, StoreError, StreamEvent, TokenUsage};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::conversations::{ConversationId, cost_of, view};
use crate::error::ApiError;
use crate::identity::ClientId;
use crate::state::AppState;
use crate::telemetry::TurnMeter;

/// What a turn reports, in order: notices and text, then `Done` or `Error`.
#[derive(Debug)]
enum TurnEvent {
    Notice(String),
    Delta(String),
    Done(Value),
    Error(ApiError),
}

impl TurnEvent {
    fn to_sse(&self) -> Event {
        let (name, data) = match self {
            TurnEvent::Notice(message) => ("notice", json!({"message": message})),
            TurnEvent::Delta(text) => ("delta", json!({"text": text})),
            TurnEvent::Done(done) => ("done", done.clone()),
            TurnEvent::Error(error) => ("error", error.event_data()),
        };
        Event::default().event(name).data(data.to_string())
    }
}

/// What the turn does.
enum Action {
    Say(String),
    Retry,
}

/// `{"text": …}`.
#[derive(Deserialize)]
pub struct SendBody {
    text: String,
}

/// Reads a JSON body, answering a malformed one with the API's own error shape.
fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match body {
        Ok(Json(value)) => Ok(value),
        Err(rejection) => Err(ApiError::new(
            rejection.status(),
            "invalid_body",
            format!(
                "the body must be JSON like {{\"text\": \"Hello\"}} with Content-Type: application/json ({})",
                rejection.body_text()
            ),
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
pub async fn send(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
    headers: HeaderMap,
    body: Result<Json<SendBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let text = json_body(body)?.text;
    ChatSession::check_message(&text)?;
    run(state, client, id, Action::Say(text), wants_stream(&headers)).await
}

/// `POST /api/conversations/{id}/retry`: the last message again, replacing its reply.
pub async fn retry(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    run(state, client, id, Action::Retry, wants_stream(&headers)).await
}

/// `POST /api/conversations/{id}/undo`: removes the last exchange.
pub async fn undo(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
) -> Result<Response, ApiError> {
    let store = state.store();
    let (lease, stored) = store
        .lease_and_load(&client, &id, state.config().turn_lease)
        .await?;
    let undone = (|| {
        let mut session = state.new_session()?;
        session.restore(stored.conversation.clone())?;
        if session.undo().is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "nothing_to_undo",
                "the conversation is empty; there is nothing to undo",
            ));
        }
        Ok(session.snapshot())
    })();
    let conversation = match undone {
        Ok(conversation) => conversation,
        Err(error) => {
            let _ = store.release(&lease).await;
            return Err(error);
        }
    };
    store
        .save_and_release(&lease, &client, stored.version, conversation)
        .await?;
    // Read back for the title and time the store gave it.
    let stored = store.load(&client, &id).await?;
    Ok(Json(view(&state, &stored)).into_response())
}

/// Checks what can be checked before anything is sent, starts the turn, and answers with its
/// stream or, once it is over, its result.
async fn run(
    state: AppState,
    client: String,
    id: String,
    action: Action,
    stream: bool,
) -> Result<Response, ApiError> {
    if let Err(wait) = state.rate().check(&client) {
        return Err(ApiError::too_many(
            "rate_limited",
            format!(
                "too many messages; wait {} s and send again",
                wait.as_secs().max(1)
            ),
            wait,
        ));
    }
    let Ok(permit) = state.turns().try_acquire_owned() else {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the server is writing as many replies as it can; try again in a moment",
        );
        error.retry_after = Some(Duration::from_secs(2));
        return Err(error);
    };
    // At once: each is a round trip to a shared store, and a turn waits for both before
    // anything is sent to the model. A spending cap reached still answers first.
    let (spending, leased) = tokio::join!(
        crate::limits::check_spending(state.store(), &client, &state.config().limits),
        state
            .store()
            .lease_and_load(&client, &id, state.config().turn_lease),
    );
    if let Err(error) = spending {
        if let Ok((lease, _)) = &leased {
            let _ = state.store().release(lease).await;
        }
        return Err(error);
    }
    let (lease, stored) = leased?;
    let (events, mut received) = mpsc::unbounded_channel();
    let turn_state = state.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let last = turn(&turn_state, &client, stored, &lease, action, &events).await;
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
        let events = sse_events(received);
        return Ok((
            // nginx and similar proxies buffer responses unless told not to.
            [("x-accel-buffering", "no")],
            Sse::new(events).keep_alive(KeepAlive::default()),
        )
            .into_response());
    }
    let mut text = String::new();
    let mut notices = Vec::new();
    while let Some(event) = received.recv().await {
        match event {
            TurnEvent::Notice(notice) => notices.push(notice),
            TurnEvent::Delta(delta) => text.push_str(&delta),
            TurnEvent::Error(error) => return Err(error),
            TurnEvent::Done(mut done) => {
                done["text"] = json!(text);
                done["notices"] = json!(notices);
                return Ok(Json(done).into_response());
            }
        }
    }
    Err(ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the turn ended without an answer",
    ))
}

/// The turn's events as SSE events. When the client goes away, the response body and with it
/// the receiver are dropped, which the turn notices (`events.closed()`).
fn sse_events(
    mut received: mpsc::UnboundedReceiver<TurnEvent>,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    futures::stream::poll_fn(move |cx| received.poll_recv(cx)).map(|event| Ok(event.to_sse()))
}

/// The turn itself, on its own task. Every way it can end gives one last event to send once the
/// lease is released (none when the client has gone, since nobody is listening).
async fn turn(
    state: &AppState,
    client: &str,
    stored: bedrock_chat::StoredConversation,
    lease: &Lease,
    action: Action,
    events: &mpsc::UnboundedSender<TurnEvent>,
) -> Option<TurnEvent> {
    let mut meter = TurnMeter::start("chat");
    let result = tokio::select! {
        result = reply(state, client, &stored, lease, action, events, &mut meter) => result,
        // The client went away: dropping the reply cancels it, and nothing is saved.
        () = events.closed() => {
            meter.finish("cancelled", 0, 0, None);
            return None;
        }
        () = state.stop_turns().cancelled() => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutdown",
            "the server is restarting and this reply was stopped; send your message again",
        )),
        error = keep_lease(state, lease) => Err(error),
    };
    match result {
        Ok(done) => {
            let tokens = |direction: &str| done["usage"][direction].as_u64().unwrap_or(0);
            meter.finish(
                "ok",
                tokens("inputTokens"),
                tokens("outputTokens"),
                done["cost_usd"].as_f64(),
            );
            Some(TurnEvent::Done(done))
        }
        Err(error) => {
            meter.finish(error.kind, 0, 0, None);
            Some(TurnEvent::Error(error))
        }
    }
}

/// Renews the lease while the turn runs; returns only if it was lost.
async fn keep_lease(state: &AppState, lease: &Lease) -> ApiError {
    loop {
        // Renewed at a third of its length: two renewals can fail before it lapses.
        let ttl = state.config().turn_lease;
        tokio::time::sleep(ttl / 3).await;
        match state.store().renew(lease, ttl).await {
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
async fn reply(
    state: &AppState,
    client: &str,
    stored: &bedrock_chat::StoredConversation,
    lease: &Lease,
    action: Action,
    events: &mpsc::UnboundedSender<TurnEvent>,
    meter: &mut TurnMeter,
) -> Result<Value, ApiError> {
    let retry_events = events.clone();
    let notice_events = events.clone();
    let mut session = ChatSession::builder(state.client())
        .settings(state.settings().clone())
        .on_retry(move |notice| {
            crate::telemetry::retry(
                ApiError::from(notice.error).kind,
                notice.error.is_throttling(),
            );
            let _ = retry_events.send(TurnEvent::Notice(notice.to_string()));
        })
        .on_notice(move |notice| {
            let _ = notice_events.send(TurnEvent::Notice(notice.to_string()));
        })
        .build()?;
    session.restore(stored.conversation.clone())?;
    let mut stream = match action {
        Action::Say(text) => session.send_streaming(text).await?,
        Action::Retry => session.retry_streaming().await?,
    };
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta(text) = event? {
            meter.first_token();
            let _ = events.send(TurnEvent::Delta(text));
        }
    }
    let response = stream.response().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bedrock_failed",
            "the reply ended without being complete",
        )
    })?;
    drop(stream);
    let usage = response.usage();
    let model = session.model_id().to_string();
    let turn_cost = cost_of(state, &model, &usage);
    // Both at once: the tokens are billed whether or not the save wins.
    let (saved, ()) = tokio::join!(
        state
            .store()
            .save_and_release(lease, client, stored.version, session.snapshot()),
        crate::limits::record_spending(state.store(), client, turn_cost.unwrap_or(0.0)),
    );
    saved?;
    let total: TokenUsage = session.conversation_usage();
    Ok(json!({
        "usage": usage,
        "cost_usd": turn_cost,
        "stop_reason": response.stop_reason().to_string(),
        "conversation_usage": total,
        "conversation_cost_usd": cost_of(state, &model, &total),
    }))
}
