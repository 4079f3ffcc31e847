//! Tools from MCP servers (Model Context Protocol), on the official Rust SDK `rmcp`.
//!
//! [`McpTools::connect`] starts (or reaches) every server of an [`McpConfig`], lists their tools
//! and offers each as a [`Tool`](crate::Tool) named `server__tool`. A server that is not
//! running, crashes or hangs never fails a turn: its calls return failed results the model can
//! act on, and it is started (stdio) or reached (HTTP) again on a later call, with backoff.
//!
//! See [`McpTools`] for an example.

mod config;
mod names;
mod server;
mod tool;

use std::sync::{Arc, RwLock};

pub use config::{INHERITED_VARIABLES, McpConfig, McpServerConfig, McpTransport};
pub use server::ServerStatus;
pub use tool::{MAX_RESULT_BYTES, McpTool};

use server::McpServer;

/// The servers of a configuration and the tools they offer. Cheap to clone; clones share the
/// servers. Child processes are ended by [`shutdown`](Self::shutdown), or when the last clone
/// is dropped.
///
/// ```no_run
/// # async fn run() -> bedrock_chat::Result<()> {
/// use bedrock_chat::{BedrockClient, ChatSession, McpConfig, McpTools};
///
/// let config = McpConfig::from_file("mcp.json")?;
/// let mcp = McpTools::connect(config).await;
/// let mut builder = ChatSession::builder(BedrockClient::from_env().await?);
/// for tool in mcp.tools() {
///     builder = builder.tool(tool);
/// }
/// let mut session = builder.build()?;
/// session.send("What changed in the repository today?").await?;
/// mcp.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct McpTools {
    inner: Arc<Inner>,
}

struct Inner {
    servers: Vec<Arc<McpServer>>,
    tools: RwLock<Vec<McpTool>>,
    /// Why a server's tools could not be listed, by server.
    problems: RwLock<Vec<(String, String)>>,
}

impl std::fmt::Debug for McpTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTools")
            .field(
                "servers",
                &self
                    .inner
                    .servers
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>(),
            )
            .field("tools", &self.tools().len())
            .finish()
    }
}

/// One server, as `/tools` shows it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerSummary {
    /// Its name.
    pub name: String,
    /// Connected or not, and why.
    pub status: ServerStatus,
    /// Why its tools could not be listed, if they could not.
    pub problem: Option<String>,
    /// Its tools.
    pub tools: Vec<McpTool>,
}

impl McpTools {
    /// Connects to every server at once and lists their tools. A server that cannot be reached
    /// is noted (see [`servers`](Self::servers)) and tried again by [`refresh`](Self::refresh).
    pub async fn connect(config: McpConfig) -> Self {
        let servers: Vec<Arc<McpServer>> = config
            .servers
            .into_iter()
            .map(|c| Arc::new(McpServer::new(c)))
            .collect();
        let tools = McpTools {
            inner: Arc::new(Inner {
                servers,
                tools: RwLock::new(Vec::new()),
                problems: RwLock::new(Vec::new()),
            }),
        };
        tools.list(None).await;
        tools
    }

    /// The tools offered now, in the configuration's order of servers.
    pub fn tools(&self) -> Vec<McpTool> {
        self.inner
            .tools
            .read()
            .map(|tools| tools.clone())
            .unwrap_or_default()
    }

    /// The tool the model calls `name`, if there is one.
    pub fn find(&self, name: &str) -> Option<McpTool> {
        self.tools().into_iter().find(|t| t.name() == name)
    }

    /// Lists the tools again of each server that said they changed
    /// (`notifications/tools/list_changed`) or had none listed; returns whether the list of
    /// tools offered is different. The other servers are not asked.
    pub async fn refresh(&self) -> bool {
        let problems: Vec<String> = self
            .inner
            .problems
            .read()
            .map(|p| p.iter().map(|(name, _)| name.clone()).collect())
            .unwrap_or_default();
        let mut due = Vec::new();
        for server in &self.inner.servers {
            // Every flag is read (and cleared).
            if server.take_tools_changed() || problems.iter().any(|p| p == server.name()) {
                due.push(server.name().to_string());
            }
        }
        if due.is_empty() {
            return false;
        }
        let before: Vec<String> = self.tools().iter().map(|t| t.name().to_string()).collect();
        self.list(Some(&due)).await;
        let after: Vec<String> = self.tools().iter().map(|t| t.name().to_string()).collect();
        before != after
    }

    /// Every server with its state and tools.
    pub async fn servers(&self) -> Vec<ServerSummary> {
        let tools = self.tools();
        let problems = self
            .inner
            .problems
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        let mut summaries = Vec::new();
        for server in &self.inner.servers {
            summaries.push(ServerSummary {
                name: server.name().to_string(),
                status: server.status().await,
                problem: problems
                    .iter()
                    .find(|(name, _)| name == server.name())
                    .map(|(_, why)| why.clone()),
                tools: tools
                    .iter()
                    .filter(|t| t.server_name() == server.name())
                    .cloned()
                    .collect(),
            });
        }
        summaries
    }

    /// Stops every server (child processes are ended).
    pub async fn shutdown(&self) {
        futures::future::join_all(self.inner.servers.iter().map(|s| s.stop())).await;
    }

    /// Lists the tools of the servers named in `only` (all when `None`), keeping what the
    /// others offered, and names them all again.
    async fn list(&self, only: Option<&[String]>) {
        let asked =
            |server: &McpServer| only.is_none_or(|names| names.iter().any(|n| n == server.name()));
        let listed = futures::future::join_all(
            self.inner
                .servers
                .iter()
                .filter(|server| asked(server))
                .map(|server| async move { (Arc::clone(server), server.list_tools().await) }),
        )
        .await;
        let earlier = self.tools();
        let mut problems: Vec<(String, String)> = self
            .inner
            .problems
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        problems.retain(|(name, _)| only.is_some_and(|names| !names.contains(name)));
        let mut fresh: Vec<(Arc<McpServer>, rmcp::model::Tool)> = Vec::new();
        for (server, listing) in listed {
            match listing {
                Ok(tools) => {
                    fresh.extend(tools.into_iter().map(|tool| (Arc::clone(&server), tool)))
                }
                Err(why) => {
                    tracing::warn!(server = server.name(), %why, "MCP server unavailable");
                    problems.push((server.name().to_string(), why));
                }
            }
        }
        // In the configuration's order of servers: the ones not asked keep their tools.
        let mut found: Vec<(Arc<McpServer>, rmcp::model::Tool)> = Vec::new();
        for server in &self.inner.servers {
            if asked(server) {
                found.extend(
                    fresh
                        .iter()
                        .filter(|(s, _)| Arc::ptr_eq(s, server))
                        .cloned(),
                );
            } else {
                found.extend(
                    earlier
                        .iter()
                        .filter(|t| Arc::ptr_eq(&t.server, server))
                        .map(|t| (Arc::clone(server), t.listed.clone())),
                );
            }
        }
        let pairs: Vec<(&str, &str)> = found
            .iter()
            .map(|(server, tool)| (server.name(), tool.name.as_ref()))
            .collect();
        let names = names::bedrock_names(&pairs);
        let tools: Vec<McpTool> = found
            .iter()
            .zip(names)
            .map(|((server, tool), name)| {
                let description = tool
                    .description
                    .as_deref()
                    .filter(|d| !d.trim().is_empty())
                    .unwrap_or("A tool without a description.");
                let mut schema = serde_json::Value::Object((*tool.input_schema).clone());
                if schema.get("type").is_none() {
                    schema["type"] = "object".into();
                }
                McpTool {
                    server: Arc::clone(server),
                    listed: tool.clone(),
                    remote: tool.name.to_string(),
                    spec: crate::ToolSpec::new(
                        name,
                        format!("{description} (from the MCP server {:?})", server.name()),
                        schema,
                    ),
                    read_only: tool
                        .annotations
                        .as_ref()
                        .and_then(|a| a.read_only_hint)
                        .unwrap_or(false),
                }
            })
            .collect();
        if let Ok(mut slot) = self.inner.tools.write() {
            *slot = tools;
        }
        if let Ok(mut slot) = self.inner.problems.write() {
            *slot = problems;
        }
    }
}
