//! Real MCP servers for tests: the reference `@modelcontextprotocol/server-everything` (npm) and
//! a hostile one written with the official Python SDK (PyPI `mcp`), each over stdio or
//! streamable HTTP on a free loopback port. Missing in CI is a failure; elsewhere the test is
//! skipped, saying what to install (./scripts/test installs both).
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const EVERYTHING: &str = "mcp-server-everything";
const INSTALL: &str = "install them with `npm install -g @modelcontextprotocol/server-everything` \
    and `python3 -m pip install mcp` (or run ./scripts/test, which does)";

/// The hostile server's source, written to a temporary file to run.
const HOSTILE: &str = include_str!("hostile_mcp_server.py");

/// What the tests need to start MCP servers.
pub struct McpTestServers {
    dir: tempfile::TempDir,
    /// The interpreter itself, not a wrapper (pyenv's `python3` is a shell script that adds
    /// variables of its own to the environment a test inspects).
    python: String,
}

impl McpTestServers {
    /// `None` (after saying why) when Node's or Python's server is missing and this is not CI.
    ///
    /// # Panics
    ///
    /// In CI when either is missing.
    pub fn find(test: &str) -> Option<Self> {
        let everything = Command::new(EVERYTHING)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|mut child| {
                let _ = child.kill();
                let _ = child.wait();
            })
            .is_ok();
        let python = Command::new("python3")
            .args([
                "-c",
                "import mcp.server.mcpserver, uvicorn, sys; print(sys.executable)",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let (true, Some(python)) = (everything, python.clone()) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "MCP servers are missing (server-everything: {everything}, Python mcp: {}): \
                 {INSTALL}",
                python.is_some()
            );
            eprintln!("SKIPPED: {test}: MCP servers are missing: {INSTALL}");
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("hostile_server.py"), HOSTILE)
            .expect("the script is written");
        Some(McpTestServers { dir, python })
    }

    /// The hostile Python server's script.
    pub fn hostile_script(&self) -> PathBuf {
        self.dir.path().join("hostile_server.py")
    }

    /// An `mcpServers` entry that runs the hostile server over stdio.
    pub fn hostile_stdio(&self) -> Value {
        json!({"command": self.python, "args": [self.hostile_script()]})
    }

    /// An `mcpServers` entry that runs the reference server over stdio.
    pub fn everything_stdio(&self) -> Value {
        json!({"command": EVERYTHING, "args": ["stdio"]})
    }

    /// Starts the hostile server on streamable HTTP; stopped when dropped.
    pub fn hostile_http(&self) -> HttpServer {
        self.hostile_http_on(free_port())
    }

    /// Starts the hostile server on streamable HTTP on `port` (again, after one was stopped).
    pub fn hostile_http_on(&self, port: u16) -> HttpServer {
        let child = Command::new(&self.python)
            .arg(self.hostile_script())
            .args(["http", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        HttpServer::wait_for(child, port, "/mcp")
    }

    /// Starts the reference server on streamable HTTP; stopped when dropped.
    pub fn everything_http(&self) -> HttpServer {
        let port = free_port();
        let child = Command::new(EVERYTHING)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server-everything starts");
        HttpServer::wait_for(child, port, "/mcp")
    }
}

/// An MCP server on streamable HTTP, stopped on drop.
pub struct HttpServer {
    child: Child,
    url: String,
    port: u16,
}

impl HttpServer {
    fn wait_for(child: Child, port: u16, path: &str) -> Self {
        let server = HttpServer {
            child,
            url: format!("http://127.0.0.1:{port}{path}"),
            port,
        };
        // Ready when it accepts connections: a condition, polled, not a fixed sleep.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the MCP server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Its MCP endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An `mcpServers` entry that reaches it.
    pub fn entry(&self) -> Value {
        json!({"type": "http", "url": self.url})
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
