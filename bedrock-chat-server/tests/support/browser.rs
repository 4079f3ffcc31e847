//! A headless Chromium (Debian's `chromium` and `chromium-driver`) driven over WebDriver, for
//! the tests of the page: each test starts its own ChromeDriver on a free port and stops it on
//! drop. Without Chromium the tests fail in CI (`CI` is set) with the command that installs it;
//! on a developer's machine they are skipped with that same message.

use std::path::Path;
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
