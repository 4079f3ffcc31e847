//! The browser chat of `bedrock-chat`: an HTTP server whose page is a chat with Claude on Amazon
//! Bedrock, and the JSON and SSE API the page uses. It is a thin frontend: every turn is a
//! [`bedrock_chat::ChatSession`] restored from a [`bedrock_chat::ConversationStore`].
//!
//! ```no_run
//! use bedrock_chat::{ChatConfig, MemoryStore};
//! use bedrock_chat_server::{AppState, ServerConfig, router};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ChatConfig::from_env()?;
//! let state = AppState::new(
//!     config.client().await?,
//!     config.session.clone(),
//!     MemoryStore::new(),
//!     ServerConfig::default(),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! bedrock_chat_server::serve(listener, state, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! Modules import downward only, bottom first:
//!
//! - `limits.rs`: [`Limits`], every limit declared once with its default;
//! - `client_addr.rs`: the client's address, through the proxies the operator trusts;
//! - `hosts.rs`: the `Host` allow-list (against DNS rebinding);
//! - `api_keys.rs`: named `/v1` keys, each with its own budget and rate;
//! - `error.rs`: the one mapping of failures to statuses and bodies;
//! - `emf.rs`: CloudWatch metrics as Embedded Metric Format lines, aggregated each minute;
//! - `telemetry.rs`: `/metrics` (Prometheus), CloudWatch's recorder beside it, and what feeds
//!   both;
//! - `state.rs`: [`AppState`], the one state, and [`ServerConfig`];
//! - `admission.rs`: the one admission path of every turn (rate, spending, capacity);
//! - `identity.rs`: who is asking and whether to answer (host, address, cookie, token, site);
//! - `conversations.rs`: create, list, read, delete;
//! - `turns.rs`: a turn, streamed as SSE or answered as JSON, retry and undo;
//! - `openai/`: the OpenAI-compatible `/v1/chat/completions` and `/v1/models`, split by job
//!   (request conversion, reply shapes, the call, tools, who may call, the error shape);
//! - `listener.rs`: the accept loop, with its connection limits;
//! - `healthcheck.rs`: `bedrock-chat healthcheck`, the container's check of `/readyz`;
//! - `page.rs` and `assets/`: the page, embedded in the binary;
//! - `api_doc.rs` on top: the OpenAPI document of every operation (`/openapi.json`).
#![deny(missing_docs)]

mod admission;
mod api_doc;
mod api_keys;
mod client_addr;
mod conversations;
mod emf;
mod error;
mod export;
mod healthcheck;
mod hosts;
mod identity;
mod limits;
mod listener;
mod models;
mod openai;
mod page;
mod search;
mod state;
mod telemetry;
mod tools;
mod turns;
mod uploads;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

pub use api_doc::document as openapi_document;
pub use api_keys::{ApiKey, ApiKeys};
pub use client_addr::{ClientIp, PeerAddr, TrustedProxies};
pub use emf::{CloudWatchMetrics, EmfRecorder};
pub use error::{ApiError, ErrorKind};
pub use healthcheck::check_health;
pub use hosts::AllowedHosts;
pub use identity::{COOKIE, ClientId};
pub use limits::{Limits, PUBLIC_SERVER_DAILY_USD};
pub use listener::bind;
pub use state::{AppState, ReplyCacheConfig, ServerConfig, ServerKnowledgeBase, ServerTools};
pub use telemetry::{TurnMeter, flush_cloudwatch, init_with_cloudwatch};

/// The server's routes: the page, its assets and `/api`.
pub fn router(state: AppState) -> Router {
    telemetry::init();
    let limits = &state.config().limits;
    let api = Router::new()
        .route(
            "/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/conversations/{id}",
            get(conversations::get)
                .patch(conversations::rename)
                .delete(conversations::delete),
        )
        .route("/conversations/{id}/export", get(export::export))
        .route(
            "/conversations/{id}/messages/{message}/attachments/{attachment}",
            get(uploads::attachment),
        )
        // Messages carry attachments: a larger body than the rest of the API takes.
        .route(
            "/conversations/{id}/messages",
            post(turns::send).layer(DefaultBodyLimit::max(limits.message_body_bytes)),
        )
        .route(
            "/conversations/{id}/edit",
            post(turns::edit).layer(DefaultBodyLimit::max(limits.message_body_bytes)),
        )
        .route("/conversations/{id}/retry", post(turns::retry))
        .route("/conversations/{id}/undo", post(turns::undo))
        .route("/limits", get(uploads::limits))
        .route("/models", get(models::list))
        .fallback(|| async { ApiError::new(ErrorKind::NoRoute, "no such API route") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            identity::identify,
        ))
        .layer(DefaultBodyLimit::max(limits.body_bytes));
    let mut app = Router::new()
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/openapi.json", get(openapi))
        .nest("/api", api);
    if !state.config().separate_metrics {
        app = app.route("/metrics", get(metrics));
    }
    if state.config().openai_api {
        let v1 = Router::new()
            .route("/chat/completions", post(openai::chat_completions))
            .route("/models", get(openai::models))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                openai::authorize,
            ))
            .layer(DefaultBodyLimit::max(limits.openai_body_bytes));
        app = app.nest("/v1", v1);
    }
    app
        // After routing, so requests are counted by their route's pattern, never by the ids in it.
        .route_layer(middleware::from_fn(telemetry::count_requests))
        // Only the wait for the response head: a stream, once started, is never cut off.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            limits.request_timeout,
        ))
        // A body sent slower than this is cut off: a slow sender cannot hold a handler.
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        // gzip for the page and JSON; the default predicate leaves `text/event-stream` alone, so
        // each event reaches the browser as soon as it is written.
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            identity::locate,
        ))
        // Outermost: a host not on the list is refused before anything else runs.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            identity::check_host,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `/metrics` alone, for an address of its own (`--metrics-addr`), as axum's
/// `prometheus-metrics` example serves it.
pub fn metrics_router() -> Router {
    telemetry::init();
    Router::new().route("/metrics", get(telemetry::render))
}

/// Serves [`metrics_router`] on `listener` until the process ends; a failure is logged.
pub async fn serve_metrics(listener: tokio::net::TcpListener) {
    tokio::spawn(telemetry::keep_up());
    if let Err(error) = axum::serve(listener, metrics_router()).await {
        tracing::warn!(%error, "the metrics listener stopped");
    }
}

/// `GET /metrics` served with the API: behind the token when there is one, and otherwise only
/// to a client on loopback (an operator's scraper on the same host); anyone else gets 404.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    ClientIp(address): ClientIp,
    request: axum::extract::Request,
) -> axum::response::Response {
    let allowed = if state.config().auth_token.is_some() {
        identity::check_token(&state, &request).is_ok()
    } else {
        address.is_loopback()
    };
    if !allowed {
        return ApiError::new(ErrorKind::NoRoute, "no such route").into_response();
    }
    telemetry::render().await
}

/// `GET /openapi.json`: the API contract.
async fn openapi() -> axum::response::Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        api_doc::document(),
    )
        .into_response()
}

async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<&'static str, ApiError> {
    state.store().ping().await?;
    Ok("ready")
}

/// Serves `state` on `listener` until `shutdown` resolves; then stops accepting, lets running
/// replies finish for the configured grace period, ends the rest with an `error` event saying
/// to send again, and returns once every connection is closed.
///
/// # Errors
///
/// The listener's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.config().shutdown_grace;
    let stop_turns = state.stop_turns().clone();
    let limits = state.config().limits.clone();
    let proxies = state.config().trusted_proxies.clone();
    let cache_count = tokio::spawn(count_cached_replies(state.clone()));
    let app = router(state);
    let upkeep = tokio::spawn(telemetry::keep_up());
    let shutdown = async move {
        shutdown.await;
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down; letting replies finish"
        );
        // Streams keep their connections open, so they must end for the server to stop.
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            stop_turns.cancel();
        });
    };
    let served = listener::run(listener, app, &limits, &proxies, shutdown).await;
    upkeep.abort();
    cache_count.abort();
    served
}

/// Keeps the reply cache's entry count (a gauge) current while the server runs, when it has a
/// reply cache: one cheap store call every 15 seconds.
async fn count_cached_replies(state: AppState) {
    if state.reply_cache().is_none() {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_secs(15));
    loop {
        every.tick().await;
        if let Ok(Some(count)) = state.store().cached_reply_count().await {
            telemetry::reply_cache_entries(count);
        }
    }
}

/// Resolves at SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// How long a server waits for running replies at shutdown, unless told otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
