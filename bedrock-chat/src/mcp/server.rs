//! One MCP server: its connection, made when first needed and made again after it breaks (a
//! stdio server restarted, an HTTP one reconnected), with backoff between attempts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, Tool,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ServiceExt};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::config::{INHERITED_VARIABLES, McpServerConfig, McpTransport};

/// How long connecting (starting, and the MCP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long listing the tools may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// The first wait after a failed connection, doubled after each failure up to [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Hears the server's notifications: a changed tool list is remembered until it is read.
#[derive(Clone)]
struct Handler {
    tools_changed: Arc<AtomicBool>,
}

impl ClientHandler for Handler {
    #[allow(clippy::manual_async_fn)]
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.tools_changed.store(true, Ordering::Release);
        std::future::ready(())
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("bedrock-chat", env!("CARGO_PKG_VERSION")),
        )
    }
}

type Connection = RunningService<RoleClient, Handler>;

enum State {
    /// Never tried, or stopped.
    Idle,
    Up(Connection),
    /// The last attempt failed (or the connection broke); the next waits until `retry_at`.
    Down {
        why: String,
        failures: u32,
        retry_at: Instant,
    },
}

/// What a server is doing, for a user's `/tools`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerStatus {
    /// Connected.
    Connected,
    /// Not connected yet.
    NotStarted,
    /// Not connected: why, and how long until it is tried again.
    Failed {
        /// What went wrong.
        why: String,
        /// Until the next attempt (zero: the next call tries).
        retry_in: Duration,
    },
}

/// A configured server and its connection.
pub(crate) struct McpServer {
    pub(crate) config: McpServerConfig,
    state: Mutex<State>,
    tools_changed: Arc<AtomicBool>,
}

/// Why a call did not reach a result.
pub(crate) enum CallError {
    /// Not connected, and not tried again yet (or trying failed).
    Unavailable(String),
    /// The server answered with an MCP error, or the connection broke during the call.
    Failed(String),
}

impl McpServer {
    pub(crate) fn new(config: McpServerConfig) -> Self {
        McpServer {
            config,
            state: Mutex::new(State::Idle),
            tools_changed: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether the server said its tools changed since this was last asked.
    pub(crate) fn take_tools_changed(&self) -> bool {
        self.tools_changed.swap(false, Ordering::AcqRel)
    }

    pub(crate) async fn status(&self) -> ServerStatus {
        match &*self.state.lock().await {
            State::Idle => ServerStatus::NotStarted,
            State::Up(connection) if !connection.is_closed() => ServerStatus::Connected,
            State::Up(_) => ServerStatus::Failed {
                why: "the connection closed".into(),
                retry_in: Duration::ZERO,
            },
            State::Down { why, retry_at, .. } => ServerStatus::Failed {
                why: why.clone(),
                retry_in: retry_at.saturating_duration_since(Instant::now()),
            },
        }
    }

    /// Every tool the server offers (all pages), connecting first when needed.
    pub(crate) async fn list_tools(&self) -> Result<Vec<Tool>, String> {
        let peer = self.peer().await.map_err(|e| match e {
            CallError::Unavailable(why) | CallError::Failed(why) => why,
        })?;
        match tokio::time::timeout(LIST_TIMEOUT, peer.list_all_tools()).await {
            Ok(Ok(tools)) => Ok(tools),
            Ok(Err(error)) => {
                let why = format!("listing its tools failed: {error}");
                self.broke(&why).await;
                Err(why)
            }
            Err(_) => {
                let why = format!(
                    "it did not list its tools within {} s",
                    LIST_TIMEOUT.as_secs()
                );
                self.broke(&why).await;
                Err(why)
            }
        }
    }

    /// Calls `tool` with `arguments`. The caller bounds the time (the session's tool timeout):
    /// dropping this future cancels the request.
    pub(crate) async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Result<CallToolResult, CallError> {
        let peer = self.peer().await?;
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        match peer.call_tool(params).await {
            Ok(result) => Ok(result),
            Err(rmcp::ServiceError::McpError(error)) => Err(CallError::Failed(format!(
                "the server refused the call: {}",
                error.message
            ))),
            Err(error) => {
                let why = format!("the connection to the server broke ({error})");
                self.broke(&why).await;
                Err(CallError::Failed(format!(
                    "{why}; it will be started again for the next call"
                )))
            }
        }
    }

    /// Stops the server (a child process is ended).
    pub(crate) async fn stop(&self) {
        let state = std::mem::replace(&mut *self.state.lock().await, State::Idle);
        if let State::Up(connection) = state {
            let _ = tokio::time::timeout(Duration::from_secs(5), connection.cancel()).await;
        }
    }

    /// A handle to talk to the server, connecting when there is no live connection and the
    /// backoff allows.
    async fn peer(&self) -> Result<rmcp::Peer<RoleClient>, CallError> {
        let mut state = self.state.lock().await;
        let failures = match &*state {
            State::Up(connection) if !connection.is_closed() => {
                return Ok(connection.peer().clone());
            }
            State::Up(_) | State::Idle => 0,
            State::Down {
                why,
                failures,
                retry_at,
            } => {
                let wait = retry_at.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    return Err(CallError::Unavailable(format!(
                        "the MCP server {:?} is not running ({why}); it will be tried again in \
                         {} s",
                        self.config.name,
                        wait.as_secs().max(1)
                    )));
                }
                *failures
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
            Ok(Ok(connection)) => {
                let peer = connection.peer().clone();
                self.listen_for_changes(&peer).await;
                *state = State::Up(connection);
                // A new connection may offer other tools than the last one did.
                if failures > 0 {
                    self.tools_changed.store(true, Ordering::Release);
                }
                Ok(peer)
            }
            outcome => {
                let why = match outcome {
                    Ok(Err(why)) => why,
                    _ => format!("it did not start within {} s", CONNECT_TIMEOUT.as_secs()),
                };
                let wait = FIRST_WAIT
                    .saturating_mul(1 << failures.min(6))
                    .min(LONGEST_WAIT);
                *state = State::Down {
                    why: why.clone(),
                    failures: failures + 1,
                    retry_at: Instant::now() + wait,
                };
                Err(CallError::Unavailable(format!(
                    "the MCP server {:?} could not be reached: {why}",
                    self.config.name
                )))
            }
        }
    }

    /// From protocol version 2026-07-28 a server sends `tools/list_changed` only to a client
    /// that subscribed (`subscriptions/listen`); earlier ones send it to every client, and
    /// [`Handler`] hears it. The subscription lives as long as the connection.
    async fn listen_for_changes(&self, peer: &rmcp::Peer<RoleClient>) {
        let current = peer.peer_info().is_some_and(|info| {
            info.protocol_version == rmcp::model::ProtocolVersion::V_2026_07_28
        });
        if !current {
            return;
        }
        let filter = rmcp::model::SubscriptionFilter::builder()
            .tools_list_changed()
            .build();
        let Ok(Ok(mut subscription)) =
            tokio::time::timeout(LIST_TIMEOUT, peer.listen(filter)).await
        else {
            tracing::debug!(server = self.name(), "no tools/list_changed subscription");
            return;
        };
        let changed = Arc::clone(&self.tools_changed);
        tokio::spawn(async move {
            while let Ok(Some(_)) = subscription.next().await {
                changed.store(true, Ordering::Release);
            }
        });
    }

    async fn broke(&self, why: &str) {
        let mut state = self.state.lock().await;
        if let State::Up(_) = &*state {
            *state = State::Down {
                why: why.to_string(),
                failures: 0,
                retry_at: Instant::now(),
            };
        }
    }

    async fn connect(&self) -> Result<Connection, String> {
        let handler = Handler {
            tools_changed: Arc::clone(&self.tools_changed),
        };
        match &self.config.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let mut process = tokio::process::Command::new(command);
                process.args(args).env_clear();
                for name in INHERITED_VARIABLES {
                    if let Some(value) = std::env::var_os(name) {
                        process.env(name, value);
                    }
                }
                process.envs(env);
                if let Some(cwd) = cwd {
                    process.current_dir(cwd);
                }
                // A group of its own: Ctrl-C at a terminal is meant for the chat (stop this
                // reply), not for the server, which would die mid-call.
                #[cfg(unix)]
                process.process_group(0);
                // What the server logs is its own; on a terminal it would land in the chat.
                let (transport, _stderr) = rmcp::transport::TokioChildProcess::builder(process)
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map_err(|e| {
                        format!(
                            "{command} could not be started ({e}); is it installed and on the PATH?"
                        )
                    })?;
                handler
                    .serve(transport)
                    .await
                    .map_err(|e| format!("the MCP handshake failed: {e}"))
            }
            McpTransport::Http { url, headers } => {
                crate::tls::install_crypto_provider();
                let mut custom = std::collections::HashMap::new();
                for (name, value) in headers {
                    let name = http::HeaderName::try_from(name.as_str())
                        .map_err(|_| format!("{name:?} is not a header name"))?;
                    let value = http::HeaderValue::try_from(value.as_str())
                        .map_err(|_| format!("the {name} header's value is not valid"))?;
                    custom.insert(name, value);
                }
                let config =
                    rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                        url.as_str(),
                    )
                    .custom_headers(custom);
                let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
                handler
                    .serve(transport)
                    .await
                    .map_err(|e| format!("the MCP handshake with {url} failed: {e}"))
            }
        }
    }
}
