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
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bedrock_chat::{CachedClient, ModelClient, ReplyCache, estimate_usage};
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
    headers: HeaderMap,
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
        user,
        answer_tool,
    } = to_request(&state, body)?;
    let key = caller.and_then(|axum::Extension(ApiCaller(key))| key);
    let visitor = Visitor::api(key.as_deref(), address);
    let cached = state
        .reply_cache()
        .map(|cache| reply_cache_client(&state, cache, &visitor, key.as_deref(), user, &headers));
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
        client: cached.as_ref().map_or_else(
            || state.client(),
            |cached| Arc::new(cached.clone()) as Arc<dyn ModelClient>,
        ),
        cached: cached.clone(),
        meter: TurnMeter::start("openai", &model),
        id: id.clone(),
        created,
        include_usage,
        answer_tool,
    };
    if stream {
        tokio::spawn(call.stream(sender));
    } else {
        tokio::spawn(call.whole(sender));
    }
    // The first item says whether the reply started: an error before it is the response's
    // status; after it, an error is a chunk of the stream.
    let first = receiver.recv().await;
    // Whether the reply came from the cache is known once it has begun.
    let cache_header = cached.map(|cached| {
        let hit = cached.lookup().is_some_and(|lookup| lookup.is_hit());
        (CACHE_HEADER, if hit { "hit" } else { "miss" })
    });
    let mut response = answer(first, receiver)?;
    if let Some((name, value)) = cache_header {
        response
            .headers_mut()
            .insert(name, axum::http::HeaderValue::from_static(value));
    }
    Ok(response)
}

/// The response header that says whether the reply cache answered (`hit`) or the model
/// (`miss`); absent when the server has no reply cache.
pub const CACHE_HEADER: &str = "x-bedrock-chat-cache";

/// The cache client for one `/v1` call. Askers are told apart by API key and, within a key (or
/// an address, without one), by OpenAI's `user` field; each key has a namespace of its own, so
/// tenants never share an answer. `Cache-Control: no-cache` serves nothing from the cache and
/// `no-store` keeps nothing in it.
fn reply_cache_client(
    state: &AppState,
    cache: &ReplyCache,
    visitor: &Visitor,
    key: Option<&str>,
    user: Option<String>,
    headers: &HeaderMap,
) -> CachedClient {
    let directives: Vec<String> = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|directive| directive.trim().to_ascii_lowercase())
        .collect();
    let cache = match key {
        Some(name) => cache.clone().namespace(format!("key:{name}")),
        None => cache.clone(),
    };
    let who = visitor.id.as_deref().unwrap_or(&visitor.address);
    cache
        .client(
            state.client(),
            format!("{who}/user:{}", user.unwrap_or_default()),
        )
        .reading(!directives.iter().any(|d| d == "no-cache"))
        .writing(!directives.iter().any(|d| d == "no-store"))
}

/// The response for the call's first item: the whole reply, or a stream that begins with it.
fn answer(
    first: Option<Result<Out, OpenAiError>>,
    receiver: tokio::sync::mpsc::UnboundedReceiver<Result<Out, OpenAiError>>,
) -> Result<Response, OpenAiError> {
    match first {
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
    Json(ModelList::new(
        state
            .offered_models()
            .into_iter()
            .map(|id| Model::new(id, created))
            .collect(),
    ))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
