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
//! - `state.rs`: [`AppState`], the one state, and [`ServerConfig`];
//! - `identity.rs`: the client id cookie, the bearer token, cross-site refusal;
//! - `conversations.rs`: create, list, read, delete;
//! - `turns.rs`: a turn, streamed as SSE or answered as JSON, retry and undo;
//! - `openai.rs`: the OpenAI-compatible `/v1/chat/completions` and `/v1/models`;
//! - `limits.rs`: rate limit and daily spending caps;
//! - `error.rs`: the one mapping of failures to statuses;
//! - `telemetry.rs`: `/metrics` (Prometheus) and what feeds it;
//! - `page.rs` and `assets/`: the page, embedded in the binary.
#![deny(missing_docs)]

mod conversations;
mod error;
mod identity;
mod limits;
mod openai;
mod openai_tools;
mod page;
mod state;
mod telemetry;
mod turns;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use identity::{COOKIE, ClientId};
pub use limits::Limits;
pub use state::{AppState, ServerConfig};

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
            get(conversations::get).delete(conversations::delete),
        )
        .route("/conversations/{id}/messages", post(turns::send))
        .route("/conversations/{id}/retry", post(turns::retry))
        .route("/conversations/{id}/undo", post(turns::undo))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such API route")
        })
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
        .route("/metrics", get(telemetry::render))
        .nest("/api", api);
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
        // gzip for the page and JSON; the default predicate leaves `text/event-stream` alone, so
        // each event reaches the browser as soon as it is written.
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
    let app = router(state);
    // Each SSE event is a small write: without TCP_NODELAY, Nagle's algorithm holds it until the
    // client's delayed ACK (40 ms on Linux) and a streamed reply stutters.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
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
        })
        .await
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
