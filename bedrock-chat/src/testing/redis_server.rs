//! A real `redis-server` (Debian's package) on a unix socket in a temporary folder, started for
//! a test and stopped when dropped, as redis-rs's own tests do.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const INSTALL: &str =
    "install it with `sudo apt-get install redis-server` (or run ./scripts/test, which does)";

/// A `redis-server` process for one test, on its own unix socket, stopped on drop.
pub struct RedisServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one; `None` (after saying why) when redis-server is not installed and this is
    /// not CI, where a missing server is a failure.
    ///
    /// # Panics
    ///
    /// In CI without redis-server, or when it does not answer within 10 s.
    pub async fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is missing: {INSTALL}"
            );
            eprintln!("SKIPPED: Redis test: redis-server is missing: {INSTALL}");
            return None;
        }
        let mut server = RedisServer {
            child: None,
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        server.run().await;
        Some(server)
    }

    /// The unix socket it listens on.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Its URL, for `RedisStore::open`.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    async fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        // Wait until it answers, for at most 10 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = tokio::net::UnixStream::connect(self.socket()).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                if stream.write_all(b"PING\r\n").await.is_ok() {
                    let mut reply = [0u8; 7];
                    if stream.read_exact(&mut reply).await.is_ok() && &reply == b"+PONG\r\n" {
                        return;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (as a crash or a restart would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts it again on the same socket, empty.
    ///
    /// # Panics
    ///
    /// When it does not answer within 10 s.
    pub async fn restart(&mut self) {
        self.stop();
        self.run().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
