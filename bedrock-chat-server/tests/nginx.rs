//! Debian's nginx running the shipped `deploy/nginx.conf` (its upstream and listen addresses
//! substituted) in front of two instances on one redis-server: the page's flow works through
//! it as a browser sends it, and a streamed reply arrives unbuffered.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeReply, RedisServer};
use bedrock_chat::{ConversationStore, RedisStore};
use bedrock_chat_server::{ServerConfig, TrustedProxies};
use futures::StreamExt;
use serde_json::json;
use support::TestServer;

const NGINX: &str = "/usr/sbin/nginx";

/// nginx on a temporary port, stopped on drop.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    /// Runs the shipped config with `upstreams` in place of the compose file's instances.
    async fn start(upstreams: [u16; 2]) -> Option<Self> {
        if !Path::new(NGINX).exists() {
            let help = "nginx is not installed: `sudo apt-get install nginx` (or run \
                        ./scripts/test, which does)";
            assert!(std::env::var_os("CI").is_none(), "{help}");
            eprintln!("skipping the nginx test: {help}");
            return None;
        }
        let shipped = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx.conf"),
        )
        .unwrap();
        let port = free_port();
        let site = shipped
            .replace("chat-1:8080", &format!("127.0.0.1:{}", upstreams[0]))
            .replace("chat-2:8080", &format!("127.0.0.1:{}", upstreams[1]))
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        assert!(
            site.contains(&format!("127.0.0.1:{}", upstreams[1])),
            "{site}"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        std::fs::write(dir.path().join("site.conf"), site).unwrap();
        // Only what a site needs around it: every path inside the temporary directory.
        let main = format!(
            "daemon off;\nmaster_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  \
             proxy_temp_path {root}/proxy;\n  fastcgi_temp_path {root}/fastcgi;\n  \
             uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n  \
             include {root}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        let child = Command::new(NGINX)
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let nginx = Nginx {
            child,
            port,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nginx never listened"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(nginx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_works_through_the_shipped_nginx_config_and_streams_unbuffered() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let store: Arc<dyn ConversationStore> = Arc::new(
        RedisStore::builder(redis.url())
            .prefix("nginx-test")
            .build()
            .unwrap(),
    );
    let mut config = ServerConfig::default();
    config.trusted_proxies = TrustedProxies::Hops(1);
    let instance = |config: ServerConfig, store: Arc<dyn ConversationStore>| async move {
        let fake = FakeBedrock::start().await.unwrap();
        // One chunk, then a pause far longer than the test waits: the first text can only be
        // seen in time if nothing between the model and the client holds it back.
        fake.set_fallback(
            FakeReply::chunks(["First words. ", "The rest."])
                .pause_after(1, Duration::from_secs(60)),
        );
        TestServer::start_on(fake, config, store).await
    };
    let one = instance(config.clone(), store.clone()).await;
    let two = instance(config, store).await;
    let Some(nginx) = Nginx::start([one.addr.port(), two.addr.port()]).await else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", nginx.port);

    // As the page sends it: Origin with the port, same-origin, the cookie kept.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", base.parse().unwrap());
    headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap();
    let page = browser.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let created = browser
        .post(format!("{base}/api/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status(),
        201,
        "the first write through nginx: {}",
        created.text().await.unwrap()
    );
    let created: serde_json::Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap();

    let reply = browser
        .post(format!("{base}/api/conversations/{id}/messages"))
        .header("accept", "text/event-stream")
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let mut body = reply.bytes_stream();
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(15), async {
        while !seen.contains("First words.") {
            let chunk = body.next().await.expect("the stream goes on").unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the first text arrives through nginx while the model is still writing");
    drop(body);

    // Both instances serve the same visitor (no sticky sessions): list from each.
    let listed: serde_json::Value = browser
        .get(format!("{base}/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["conversations"][0]["id"], id);
}

/// Through the shipped config: an instance stopped in the middle of a reply (as ECS stops a
/// task on a deploy) ends that reply with an error event and leaves the conversation as it
/// was; once it is gone the other instance serves every request; `/metrics` is refused at
/// nginx; and a client's forged `X-Forwarded-For` does not change the address the limits see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_can_stop_mid_reply_and_forged_addresses_change_nothing() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let store: Arc<dyn ConversationStore> = Arc::new(
        RedisStore::builder(redis.url())
            .prefix("nginx-failover")
            .build()
            .unwrap(),
    );
    let mut config = ServerConfig::default();
    config.trusted_proxies = TrustedProxies::Hops(1);
    config.shutdown_grace = Duration::from_millis(200);
    config.limits.address_turns_per_minute = 4;
    config.openai_api = true;
    // Each instance has its own fake, so the one writing a reply is known by its requests.
    // A first reply stalls after its first words, long enough to stop its instance.
    let stalling = || async {
        let fake = FakeBedrock::start().await.unwrap();
        fake.push(FakeReply::chunks(["Half a ", "reply."]).pause_after(1, Duration::from_secs(60)))
            .set_fallback(FakeReply::text("Whole."));
        fake
    };
    let mut one = TestServer::start_on(stalling().await, config.clone(), store.clone()).await;
    let mut two = TestServer::start_on(stalling().await, config, store).await;
    let Some(nginx) = Nginx::start([one.addr.port(), two.addr.port()]).await else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", nginx.port);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let created: serde_json::Value = browser
        .post(format!("{base}/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let say = |text: &str| {
        browser
            .post(format!("{base}/api/conversations/{id}/messages"))
            .header("accept", "text/event-stream")
            // Forged: nginx appends the real peer after it, and the server trusts one hop.
            .header("x-forwarded-for", format!("203.0.113.{}", text.len()))
            .json(&json!({ "text": text }))
            .send()
    };

    let reply = say("one").await.unwrap();
    assert_eq!(reply.status(), 200);
    let mut body = reply.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("Half a") {
        let chunk = body.next().await.expect("the reply began").unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Stop the instance writing it, as ECS stops a task (SIGTERM, then the grace).
    let (writer, survivor) = if one.fake.request_count() == 1 {
        (&mut one, &mut two)
    } else {
        (&mut two, &mut one)
    };
    survivor.fake.clear_script();
    writer.shut_down().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the stopped instance ends the reply within its grace");
    assert!(seen.contains("event: error"), "{seen}");
    assert!(seen.contains("shutdown"), "{seen}");

    // The other instance serves the rest; the cut-off turn left nothing behind.
    let next = say("two").await.unwrap();
    assert_eq!(next.status(), 200);
    let events = support::events(next).await;
    assert!(events.iter().any(|(name, _)| name == "done"), "{events:?}");
    let conversation: serde_json::Value = browser
        .get(format!("{base}/api/conversations/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = conversation["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["two", "Whole."]);

    // /metrics is refused at nginx, whatever the server would say.
    let metrics = browser.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 403);

    // Four turns a minute per address: forged addresses (a new one each time) do not reset it.
    let mut statuses = Vec::new();
    for text in ["three", "four-", "five--", "six---"] {
        let response = say(text).await.unwrap();
        statuses.push(response.status().as_u16());
        // Read to the end: the conversation is busy until its reply is.
        let _ = response.text().await;
    }
    assert_eq!(
        statuses,
        [200, 200, 429, 429],
        "two turns were taken before"
    );

    // Bodies: nginx lets through what the server allows, so a body too large gets the
    // server's JSON 413: 1 MiB and room in the browser API, 8 MiB and room for a message (its
    // attachments), and /v1 takes inline images past 2 MB.
    for (method, path, bytes) in [
        (
            reqwest::Method::PATCH,
            format!("/api/conversations/{id}"),
            1_500_000,
        ),
        (
            reqwest::Method::POST,
            format!("/api/conversations/{id}/messages"),
            8_600_000,
        ),
    ] {
        let too_large = browser
            .request(method, format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(format!("{{\"text\": \"{}\"}}", "a".repeat(bytes)))
            .send()
            .await
            .unwrap();
        assert_eq!(too_large.status(), 413, "{path}");
        assert!(
            too_large.text().await.unwrap().contains("\"kind\""),
            "{path}: the server's JSON, not nginx's page"
        );
    }
    let big_v1 = browser
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"model\": \"default\", \"messages\": [{{\"role\": \"user\", \"content\": \"{}\"}}]}}",
            "b".repeat(3_000_000)
        ))
        .send()
        .await
        .unwrap();
    assert_ne!(
        big_v1.status(),
        413,
        "nginx let /v1's 3 MB through to the server"
    );
    assert!(
        big_v1.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "the server answered"
    );
}
