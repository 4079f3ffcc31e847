//! `/v1/chat/completions` and `/v1/models`: the OpenAI chat-completions API over Bedrock, so the
//! `openai` SDKs and the tools built on them can talk to Claude through this server.
//!
//! Stateless: the client sends the whole conversation each time. Off unless switched on
//! (`--openai-api`), and never open to the network without a token (the CLI refuses to start
//! that way): an open gateway spends its owner's AWS money for anyone who finds it.

//! Split by job: `request.rs` converts a request, `reply.rs` holds the answer's shapes,
//! `call.rs` makes the call on a task of its own, `tools.rs` converts tool calls, `auth.rs` says
//! who may call, `error.rs` is the error shape; this file holds the two handlers.

mod auth;
mod call;
mod error;
mod reply;
mod request;
mod tools;

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bedrock_chat::estimate_usage;
use futures::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;

pub use auth::{ApiCaller, authorize};
pub(crate) use error::Body as OpenAiErrorBody;
pub use error::OpenAiError;
pub use request::CompletionRequest;

use crate::admission::{Visitor, admit_turn};
use crate::client_addr::ClientIp;
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;
use crate::telemetry::TurnMeter;
use call::{Call, Out, price};
pub use reply::{Model, ModelList};
use request::{Converted, to_request};

/// `POST /v1/chat/completions`.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai",
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "A completion, or with `\"stream\": true` server-sent events \
            of chunks (`data: {ChatCompletionChunk}`) ending with `data: [DONE]`", content(
            (reply::Completion = "application/json"),
            (String = "text/event-stream")
        )),
        (status = 404, description = "The model is not available here", body = error::Body),
        (status = 502, description = "Bedrock refused or failed", body = error::Body)
    )
)]
///
/// Callers are limited by their address and, with named API keys, by their key (and the whole
/// server's limits): a single shared token is a gate, not an identity, so one caller spending
/// cannot lock out the others, and rotating `Authorization` values gains nothing.
pub async fn chat_completions(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    caller: Option<axum::Extension<ApiCaller>>,
    body: Result<Json<CompletionRequest>, JsonRejection>,
) -> Result<Response, OpenAiError> {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => {
            return Err(ApiError::unreadable_body(
                &rejection,
                r#"{"model": "…", "messages": […]}"#,
            )
            .into());
        }
    };
    let Converted {
        request,
        model,
        stream,
        include_usage,
    } = to_request(&state, body)?;
    let key = caller.and_then(|axum::Extension(ApiCaller(key))| key);
    let visitor = Visitor::api(key.as_deref(), address);
    let most = price(&state, &model, &estimate_usage(&request, None));
    let permit = admit_turn(&state, &visitor, most.unwrap_or(0.0)).await?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = now();
    // The call runs on a task of its own that owns the permit, so whatever the client does
    // (waits, hangs up before the reply or in the middle of it), what Bedrock bills is charged.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let call = Call {
        state: state.clone(),
        request,
        model: model.clone(),
        permit,
        meter: TurnMeter::start("openai", &model),
        id: id.clone(),
        created,
        include_usage,
    };
    if stream {
        tokio::spawn(call.stream(sender));
    } else {
        tokio::spawn(call.whole(sender));
    }
    // The first item says whether the reply started: an error before it is the response's
    // status; after it, an error is a chunk of the stream.
    match receiver.recv().await {
        Some(Ok(Out::Whole(completion))) => Ok(Json(completion).into_response()),
        Some(Ok(Out::Chunk(first))) => {
            let rest = UnboundedReceiverStream::new(receiver).map(|item| {
                Ok::<_, Infallible>(match item {
                    Ok(Out::Chunk(event)) => event,
                    Ok(Out::Whole(_)) => Event::default(),
                    Err(error) => Event::default().data(error.body()),
                })
            });
            let events =
                futures::stream::once(async move { Ok::<_, Infallible>(first) }).chain(rest);
            Ok((
                [("x-accel-buffering", "no")],
                Sse::new(events).keep_alive(KeepAlive::default()),
            )
                .into_response())
        }
        Some(Err(error)) => Err(error),
        None => Err(ApiError::new(ErrorKind::Internal, "the reply ended without an answer").into()),
    }
}

/// `GET /v1/models`: the server's model and the allowed list.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    responses((status = 200, description = "The models a caller may name", body = ModelList))
)]
pub async fn models(State(state): State<AppState>) -> Json<ModelList> {
    let created = now();
    let mut ids = vec![state.settings().model_id.clone()];
    for model in &state.config().allowed_models {
        if !ids.contains(model) {
            ids.push(model.clone());
        }
    }
    Json(ModelList::new(
        ids.into_iter().map(|id| Model::new(id, created)).collect(),
    ))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
