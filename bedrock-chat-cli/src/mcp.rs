//! MCP tools in the REPL: which may run without asking, asking at a terminal, and `/tools`.
//!
//! A tool the server marks read-only (`readOnlyHint`) runs when the model calls it. Any other
//! asks first at a terminal (y / n / always for this tool); in a pipe, where nobody can answer,
//! it is refused unless `--allow-tools NAME,…` or `--allow-all-tools` allowed it.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bedrock_chat::{McpTool, McpTools, ServerStatus, Tool, ToolError, ToolOutput, ToolSpec};

use crate::terminal::visible;

/// Who decides whether a tool that may change things runs.
#[derive(Clone)]
pub struct Approval {
    inner: Arc<ApprovalInner>,
}

struct ApprovalInner {
    /// A person can be asked (standard input is a terminal).
    can_ask: bool,
    /// Allowed by the flags, or by "always" at the prompt.
    allowed: Mutex<HashSet<String>>,
    allow_all: bool,
}

impl Approval {
    /// `allowed`: the tools `--allow-tools` names; `allow_all`: `--allow-all-tools`.
    pub fn new(can_ask: bool, allowed: Vec<String>, allow_all: bool) -> Self {
        Approval {
            inner: Arc::new(ApprovalInner {
                can_ask,
                allowed: Mutex::new(allowed.into_iter().collect()),
                allow_all,
            }),
        }
    }

    /// The tools to offer the model: each of `mcp`'s, asking first where it must.
    pub fn tools(&self, mcp: &McpTools) -> Vec<Arc<dyn Tool>> {
        mcp.tools()
            .into_iter()
            .map(|tool| {
                Arc::new(Asking {
                    tool,
                    approval: self.clone(),
                }) as Arc<dyn Tool>
            })
            .collect()
    }

    fn allowed(&self, name: &str) -> bool {
        self.inner.allow_all
            || self
                .inner
                .allowed
                .lock()
                .is_ok_and(|allowed| allowed.contains(name))
    }

    async fn decide(&self, tool: &McpTool, input: &serde_json::Value) -> Result<(), ToolError> {
        if tool.is_read_only() || self.allowed(tool.name()) {
            return Ok(());
        }
        if !self.inner.can_ask {
            return Err(ToolError::new(format!(
                "the user has not allowed {} to run (it may change things, and nobody is at a \
                 terminal to ask); say what you wanted it to do instead",
                tool.name()
            )));
        }
        let question = format!(
            "\nallow {} {}? It may change things. [y]es, [n]o, [a]lways for this tool: ",
            tool.name(),
            short(&input.to_string(), 300)
        );
        match ask(question).await {
            Answer::Yes => Ok(()),
            Answer::Always => {
                if let Ok(mut allowed) = self.inner.allowed.lock() {
                    allowed.insert(tool.name().to_string());
                }
                Ok(())
            }
            Answer::No => Err(ToolError::new(format!(
                "the user declined to run {}; ask them what to do instead",
                tool.name()
            ))),
        }
    }
}

/// An MCP tool that asks before running when it must.
struct Asking {
    tool: McpTool,
    approval: Approval,
}

#[async_trait]
impl Tool for Asking {
    fn spec(&self) -> ToolSpec {
        self.tool.spec()
    }

    async fn call(&self, input: serde_json::Value) -> Result<ToolOutput, ToolError> {
        self.approval.decide(&self.tool, &input).await?;
        self.tool.call(input).await
    }
}

enum Answer {
    Yes,
    No,
    Always,
}

/// Asks on the terminal and reads one answer. Ctrl-C while it waits stops the turn, which drops
/// this future: the reading thread sees `stop` and gives up without taking a line meant for the
/// prompt.
async fn ask(question: String) -> Answer {
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
    let reading = tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr();
        let _ = write!(err, "{}", visible(&question));
        let _ = err.flush();
        let _echo = crate::type_ahead::Echo::on();
        read_line_unless(&stop)
    });
    let line = reading.await.ok().flatten().unwrap_or_default();
    match line.trim().to_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        "a" | "always" => Answer::Always,
        _ => Answer::No,
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A line from standard input, polling so that `stop` is seen within 100 ms.
fn read_line_unless(stop: &AtomicBool) -> Option<String> {
    #[cfg(unix)]
    {
        use rustix::event::{PollFd, PollFlags, poll};
        let stdin = std::io::stdin();
        let mut line = Vec::new();
        loop {
            if stop.load(Ordering::Acquire) {
                return None;
            }
            let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            };
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(_) => continue,
                Ok(_) => {}
            }
            let mut byte = [0u8; 1];
            match rustix::io::read(&stdin, &mut byte) {
                Ok(0) => return Some(String::from_utf8_lossy(&line).into_owned()),
                Ok(_) if byte[0] == b'\n' => {
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
                Ok(_) => line.push(byte[0]),
                Err(_) => return None,
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = stop;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok().map(|_| line)
    }
}

/// `/tools`: each server, connected or not and why, and its tools with what each may do.
pub async fn describe(mcp: Option<&McpTools>) -> String {
    let Some(mcp) = mcp else {
        return "No MCP servers are configured (--mcp-config FILE, in the mcpServers format of \
                Claude Desktop and VS Code)."
            .to_string();
    };
    let mut text = String::new();
    for server in mcp.servers().await {
        let state = match (&server.status, &server.problem) {
            (_, Some(problem)) => format!("not available: {problem}"),
            (ServerStatus::Connected, None) => "connected".to_string(),
            (ServerStatus::NotStarted, None) => "not started".to_string(),
            (ServerStatus::Failed { why, retry_in }, None) => {
                format!(
                    "not available: {why} (tried again in {} s)",
                    retry_in.as_secs()
                )
            }
            (_, None) => "unknown".to_string(),
        };
        text.push_str(&format!("{}: {state}\n", server.name));
        for tool in &server.tools {
            let may = if tool.is_read_only() {
                "reads only"
            } else {
                "may change things: asks first"
            };
            text.push_str(&format!(
                "  {} ({may}): {}\n",
                tool.name(),
                short(tool.description(), 100)
            ));
        }
    }
    text.pop();
    text
}

/// At most `most` characters of `text`, on one line.
pub fn short(text: &str, most: usize) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() <= most {
        return line;
    }
    let mut cut: String = line.chars().take(most).collect();
    cut.push('…');
    cut
}

/// How long a tool's result shown under its call may be.
pub const SHOWN_RESULT_CHARS: usize = 200;
