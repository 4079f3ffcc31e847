//! A real `redis-server` (Debian's package) on a unix socket in a temporary folder, started for
//! a test and stopped when dropped, as redis-rs's own tests do.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const INSTALL: &str =
    "install it with `sudo apt-get install redis-server` (or run ./scripts/test, which does)";

/// Whether redis-server is installed; when not, says so for `test`, and in CI, where a missing
/// server is a failure, panics.
fn installed(test: &str) -> bool {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "redis-server is missing: {INSTALL}"
    );
    eprintln!("SKIPPED: {test}: redis-server is missing: {INSTALL}");
    false
}

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
        if !installed("Redis test") {
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

/// A three-node Redis Cluster of real `redis-server`s (cluster mode, no replicas) on free
/// local ports, made with `redis-cli --cluster create`, stopped when dropped.
pub struct RedisCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts one; `None` (after saying why) when redis-server is not installed and this is
    /// not CI, where a missing server is a failure.
    ///
    /// # Panics
    ///
    /// In CI without redis-server, or when the cluster is not ready within 20 s.
    pub async fn start() -> Option<Self> {
        if !installed("Redis Cluster test") {
            return None;
        }
        // A port found free can be taken by another test's server before its node binds it,
        // and the cluster then cannot form: start again on other ports.
        for _ in 0..2 {
            if let Some(cluster) = Self::try_start().await {
                return Some(cluster);
            }
        }
        let cluster = Self::try_start().await;
        assert!(
            cluster.is_some(),
            "redis-cli --cluster create failed three times"
        );
        cluster
    }

    /// A cluster on three free ports, or `None` when `redis-cli --cluster create` fails.
    async fn try_start() -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let ports = free_ports(3);
        let mut nodes = Vec::new();
        for port in &ports {
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir(&node_dir).expect("a node folder");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--cluster-node-timeout", "2000"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            nodes.push(child);
        }
        let cluster = RedisCluster {
            nodes,
            ports,
            _dir: dir,
        };
        for port in &cluster.ports {
            wait_for_tcp(*port).await;
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs");
        if !created.success() {
            // Dropped: its nodes are stopped.
            return None;
        }
        // Ready when every node says so.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for port in &cluster.ports {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .expect("redis-cli runs");
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the Redis Cluster did not become ready"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Some(cluster)
    }

    /// Its URL, for `RedisStore::open`: every node, `redis+cluster://127.0.0.1:P1,...`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The node ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `count` distinct free ports whose cluster bus ports (port + 10000) are valid too.
fn free_ports(count: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < count {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("its address").port();
        let bus_free =
            port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok();
        if bus_free && !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

async fn wait_for_tcp(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-server on port {port} did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `redis-server` that speaks only TLS and needs a password, as ElastiCache with in-transit
/// encryption and an AUTH token does: its certificate is for `127.0.0.1`, signed by a CA made
/// for the test (trust it with `SSL_CERT_FILE`), stopped when dropped.
pub struct RedisTlsServer {
    child: Child,
    port: u16,
    password: String,
    dir: tempfile::TempDir,
}

impl RedisTlsServer {
    /// Starts one; `None` (after saying why) when redis-server is not installed and this is
    /// not CI, where a missing server is a failure.
    ///
    /// # Panics
    ///
    /// When `openssl` cannot make the certificates, or the server does not start within 10 s.
    pub async fn start() -> Option<Self> {
        if !installed("Redis TLS test") {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?} failed");
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=bedrock-chat test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(path("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("a file");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ]);
        let port = free_ports(1)[0];
        let password = crate::store::new_id();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(path("server.pem"))
            .arg("--tls-key-file")
            .arg(path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(path("ca.pem"))
            .args(["--requirepass", &password])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        wait_for_tcp(port).await;
        Some(RedisTlsServer {
            child,
            port,
            password,
            dir,
        })
    }

    /// Its URL without the password: `rediss://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port)
    }

    /// The password it requires.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The CA certificate its certificate is signed by, for `SSL_CERT_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

impl Drop for RedisTlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
