//! A headless Chromium (Debian's `chromium` and `chromium-driver`) driven over WebDriver, for
//! the tests of the page: each test starts its own ChromeDriver on a free port and stops it on
//! drop. Without Chromium the tests fail in CI (`CI` is set) with the command that installs it;
//! on a developer's machine they are skipped with that same message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const INSTALL: &str = "install them with `sudo apt-get install chromium chromium-driver` \
                       (or run ./scripts/test, which does)";

/// A ChromeDriver process, stopped on drop.
pub struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Sends a Chrome DevTools Protocol command to `client`'s page, through ChromeDriver's
    /// `goog/cdp/execute`; its result.
    pub async fn cdp(
        &self,
        client: &Client,
        cmd: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        let session = client
            .session_id()
            .await
            .unwrap()
            .expect("a WebDriver session");
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/session/{session}/goog/cdp/execute",
                self.port
            ))
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body["value"].get("error").is_none(), "{cmd}: {body}");
        body["value"].clone()
    }
}

const INSTALL_AXE: &str = "install it with `npm install --prefix target/npm axe-core` \
                           (or run ./scripts/test -p bedrock-chat-server, which does)";

/// The source of npm's `axe-core` (`axe.min.js`): where `AXE_CORE_JS` says, else where
/// `scripts/test` installs it (`target/npm`), else npm's global modules. `None` (after saying
/// why) when it is not installed and this is not CI, where it is a failure.
pub fn axe_core() -> Option<String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("AXE_CORE_JS") {
        candidates.push(path.into());
    }
    let in_module = |root: &Path| root.join("axe-core").join("axe.min.js");
    if let Some(target) = Path::new(env!("CARGO_TARGET_TMPDIR")).parent() {
        candidates.push(in_module(&target.join("npm").join("node_modules")));
    }
    if let Ok(output) = Command::new("npm").args(["root", "-g"]).output()
        && output.status.success()
    {
        let root = String::from_utf8_lossy(&output.stdout).trim().to_string();
        candidates.push(in_module(Path::new(&root)));
    }
    for root in ["/usr/lib/node_modules", "/usr/local/lib/node_modules"] {
        candidates.push(in_module(Path::new(root)));
    }
    if let Some(source) = candidates
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
    {
        return Some(source);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "axe-core is missing (looked in {candidates:?}): {INSTALL_AXE}"
    );
    eprintln!(
        "SKIPPED: accessibility test: axe-core is missing (looked in {candidates:?}): {INSTALL_AXE}"
    );
    None
}

/// Starts ChromeDriver and a headless Chromium; `None` (after saying why) when they are not
/// installed and this is not CI.
pub async fn browser() -> Option<(Driver, Client)> {
    // Several TLS stacks in this binary enable several providers; any one will do (the driver is
    // reached over plain HTTP on 127.0.0.1).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let installed = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium and ChromeDriver are missing: {INSTALL}"
        );
        eprintln!("SKIPPED: browser test: Chromium and ChromeDriver are missing: {INSTALL}");
        return None;
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--window-size=1100,760",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    });
    let capabilities = match capabilities {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    // ChromeDriver takes a moment to listen: try until it answers, for at most 20 s.
    let url = format!("http://127.0.0.1:{}", driver.port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::rustls()
            .expect("TLS roots load")
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return Some((driver, client)),
            Err(error) if tokio::time::Instant::now() > deadline => {
                panic!("ChromeDriver did not start: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

pub async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Waits until `script` (a JS expression) is true.
pub async fn wait_until(client: &Client, script: &str) {
    wait_until_for(client, script, 15).await;
}

/// Waits until `script` (a JS expression) is true, for at most `seconds`.
pub async fn wait_until_for(client: &Client, script: &str, seconds: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let value = client
            .execute(&format!("return Boolean({script});"), vec![])
            .await
            .unwrap();
        if value == json!(true) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never became true: {script}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
