//! The attacks on a public chatbot (issue 26), each as a test against a real listener on the
//! fake Bedrock: what a stranger with a script would try, and what it must not achieve.
//! Different client addresses are made with `X-Forwarded-For` behind one trusted hop, as a
//! load balancer in front sets it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeReply};
use bedrock_chat::{ConversationStore, MemoryStore};
use bedrock_chat_server::{AllowedHosts, Limits, ServerConfig, TrustedProxies};
use futures::StreamExt;
use serde_json::json;
use support::{TestServer, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server behind one trusted proxy hop, with `limits`.
async fn behind_proxy(limits: Limits) -> TestServer {
    let mut config = ServerConfig::default();
    config.trusted_proxies = TrustedProxies::Hops(1);
    config.limits = limits;
    TestServer::start_with(config).await
}

async fn spent(server: &TestServer, account: &str) -> f64 {
    server.state.store().spent_today(account).await.unwrap()
}

/// Attack 1: every per-visitor limit was keyed on the cookie, so a new cookie per turn
/// dodged the rate limit. The address's limit holds whatever the cookie.
#[tokio::test]
async fn fresh_cookies_do_not_reset_the_address_rate_limit() {
    let mut limits = Limits::default();
    limits.address_turns_per_minute = 5;
    let server = behind_proxy(limits).await;
    server.fake.set_fallback(FakeReply::text("ok"));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let visitor = server.visitor_at("198.51.100.1");
        let id = visitor.create().await;
        statuses.push(visitor.say(&id, "hi").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert_eq!(server.fake.request_count(), 5);
    // Another address is served as before.
    let other = server.visitor_at("198.51.100.2");
    let id = other.create().await;
    assert_eq!(other.say(&id, "hi").await.status(), 200);
}

/// Attack 1, spending: a fresh cookie after a daily_budget refusal was served again. The address's cap holds.
#[tokio::test]
async fn a_fresh_cookie_after_the_cap_is_refused_too() {
    let mut limits = Limits::default();
    // Room for one turn at its most (about $0.062) but not a second after it.
    limits.address_daily_usd = Some(0.1);
    let server = behind_proxy(limits).await;
    server
        .fake
        .set_fallback(FakeReply::text("ok").usage(1000, 3000));
    let first = server.visitor_at("198.51.100.1");
    let id = first.create().await;
    assert_eq!(first.say(&id, "one").await.status(), 200);
    let fresh = server.visitor_at("198.51.100.1");
    let id = fresh.create().await;
    let refused = fresh.say(&id, "two").await;
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "daily_budget");
    assert_eq!(body["error"]["retryable"], false);
    assert_eq!(server.fake.request_count(), 1);
}

/// Reads a streamed reply until its first text, then hangs up.
async fn hang_up_after_first_delta(response: reqwest::Response) {
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if seen.contains("event: delta") || seen.contains("\"content\":\"a") {
            return;
        }
    }
    panic!("the stream ended before any text: {seen}");
}

/// Attack 2: a turn whose client hung up returned before its spending was recorded, so
/// abandoned streams cost the owner money that no cap saw.
#[tokio::test]
async fn a_stream_the_client_hangs_up_on_is_charged() {
    let server = behind_proxy(Limits::default()).await;
    server.fake.set_fallback(
        FakeReply::chunks(["a"; 200])
            .chunk_delay(Duration::from_millis(20))
            .usage(2500, 200),
    );
    let visitor = server.visitor_at("198.51.100.1");
    let question = "x".repeat(7_500);
    for _ in 0..3 {
        let id = visitor.create().await;
        hang_up_after_first_delta(visitor.say_streaming(&id, &question).await).await;
    }
    // Charged at the estimate: ~2,500 input tokens each at $3 a million, never the
    // reservation's $0.06 a turn.
    eventually("three abandoned turns are charged", || async {
        let total = spent(&server, "server").await;
        total > 3.0 * 2000.0 * 3e-6 && total < 3.0 * 0.02
    })
    .await;
    assert!(
        (spent(&server, "server").await - spent(&server, "addr:198.51.100.1").await).abs() < 1e-9,
        "the address is charged what the server is"
    );
}

/// Attack 2, `/v1`: the same on the OpenAI-compatible stream.
#[tokio::test]
async fn an_openai_stream_the_client_hangs_up_on_is_charged() {
    let mut config = ServerConfig::default();
    config.openai_api = true;
    let server = TestServer::start_with(config).await;
    server.fake.set_fallback(
        FakeReply::chunks(["a"; 200])
            .chunk_delay(Duration::from_millis(20))
            .usage(2500, 200),
    );
    let response = reqwest::Client::new()
        .post(server.url("/v1/chat/completions"))
        .json(&json!({
            "model": "default",
            "stream": true,
            "messages": [{"role": "user", "content": "x".repeat(7_500)}],
        }))
        .send()
        .await
        .unwrap();
    hang_up_after_first_delta(response).await;
    eventually("the abandoned /v1 stream is charged", || async {
        spent(&server, "server").await > 2000.0 * 3e-6
    })
    .await;
}

/// Attack 2, overshoot: caps were checked before a turn only, so turns started together all
/// passed. Each now reserves the most it can cost, atomically, before it starts.
#[tokio::test]
async fn turns_started_together_cannot_overshoot_a_cap() {
    let mut limits = Limits::default();
    // One turn's most is about $0.062: room for one at a time.
    limits.server_daily_usd = Some(0.1);
    let server = behind_proxy(limits).await;
    server.fake.set_fallback(
        FakeReply::text("ok")
            .usage(1000, 1000)
            .delay(Duration::from_millis(200)),
    );
    let mut turns = Vec::new();
    for n in 0..6 {
        let visitor = server.visitor_at(&format!("198.51.100.{n}"));
        let id = visitor.create().await;
        turns.push(async move { visitor.say(&id, "hi").await.status().as_u16() });
    }
    let mut statuses = futures::future::join_all(turns).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429, 429, 429, 429, 429]);
    assert_eq!(server.fake.request_count(), 1);
}

/// Attack 4: creating conversations had no limit; 100,000 cookie-less POSTs filled the
/// store. Now an address may create `conversations_per_hour`, and others are unaffected.
#[tokio::test]
async fn a_create_flood_from_one_address_does_not_fill_the_store_for_others() {
    let mut limits = Limits::default();
    limits.conversations_per_hour = 10;
    let server = behind_proxy(limits).await;
    let http = reqwest::Client::new();
    let mut created = 0;
    for _ in 0..30 {
        // No cookie: every request is a new visitor.
        let response = http
            .post(server.url("/api/conversations"))
            .header("x-forwarded-for", "203.0.113.66")
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            201 => created += 1,
            429 => assert!(response.headers().contains_key("retry-after")),
            other => panic!("status {other}"),
        }
    }
    assert_eq!(created, 10);
    let other = server.visitor_at("198.51.100.7");
    other.create().await;
}

/// Attack 5: every made-up method became a metrics series (20,000 of them took 170 MB), and
/// `/metrics` answered without the token.
#[tokio::test]
async fn made_up_methods_are_one_series_and_metrics_need_the_token() {
    let mut config = ServerConfig::default();
    config.auth_token = Some("s3cret".into());
    let server = TestServer::start_with(config).await;
    let http = reqwest::Client::new();
    for n in 0..20 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{n}").as_bytes()).unwrap();
        http.request(method, server.url("/healthz"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        http.get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let metrics = http
        .get(server.url("/metrics"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("MADEUP"), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

/// Attack 5: without a token, `/metrics` is for the operator on the same host only.
#[tokio::test]
async fn without_a_token_metrics_are_only_for_loopback_clients() {
    let server = behind_proxy(Limits::default()).await;
    let remote = server.visitor_at("198.51.100.1");
    assert_eq!(remote.get("/metrics").await.status(), 404);
    let local = server.visitor();
    assert_eq!(local.get("/metrics").await.status(), 200);
}

/// Attack 6: half-sent requests held open starved everyone ("Too many open files"). A header
/// that does not arrive in time closes the connection, and the connection cap keeps file
/// descriptors for the requests that do arrive.
#[tokio::test]
async fn half_sent_requests_are_cut_off_and_do_not_starve_a_normal_one() {
    let mut limits = Limits::default();
    limits.header_read_timeout = Duration::from_millis(500);
    limits.max_connections = 20;
    limits.max_connections_per_address = 1_000;
    let mut config = ServerConfig::default();
    config.limits = limits;
    let server = TestServer::start_with(config).await;
    let mut slow = Vec::new();
    for _ in 0..30 {
        let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: loc")
            .await
            .unwrap();
        slow.push(socket);
    }
    // A normal request gets through once the slow ones are cut off.
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::get(server.url("/healthz")),
    )
    .await
    .expect("a normal request is served despite the half-sent ones")
    .unwrap();
    assert_eq!(answer.status(), 200);
    // And the first half-sent one was closed by the server.
    // (EOF or a reset: either way closed, and before the timeout.)
    let mut buffer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), slow[0].read_to_end(&mut buffer))
        .await
        .expect("the server closes a connection whose headers never came");
}

/// Attack 6: one address may hold only so many connections open.
#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let mut limits = Limits::default();
    limits.max_connections_per_address = 3;
    let mut config = ServerConfig::default();
    config.limits = limits;
    let server = TestServer::start_with(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    let mut fourth = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let _ = fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let mut buffer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), fourth.read_to_end(&mut buffer))
        .await
        .expect("the fourth connection is closed");
    assert!(
        !String::from_utf8_lossy(&buffer).contains("200 OK"),
        "the fourth connection was not served"
    );
    drop(held);
}

/// Attack 7: with the store down, anonymous visitors were told its URL, password included.
#[tokio::test]
async fn a_store_that_is_down_never_tells_a_visitor_its_address_or_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "redis+unix://{}/gone.sock?db=0&pass=hunter2",
        dir.path().display()
    );
    let store: Arc<dyn ConversationStore> =
        Arc::new(bedrock_chat::RedisStore::builder(url).build().unwrap());
    let fake = FakeBedrock::start().await.unwrap();
    let server = TestServer::start_on(fake, ServerConfig::default(), store).await;
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::POST, "/api/conversations"),
        (reqwest::Method::GET, "/api/conversations"),
        (reqwest::Method::GET, "/readyz"),
    ] {
        let response = http.request(method, server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 503, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("hunter2"), "{path}: {body}");
        assert!(!body.contains("gone.sock"), "{path}: {body}");
        assert!(body.contains("did not answer"), "{path}: {body}");
    }
}

/// Attack 8: DNS rebinding. A page whose name resolves to 127.0.0.1 sends `Host` and
/// `Origin` of its own name; only the loopback names are served on loopback.
#[tokio::test]
async fn a_rebound_host_name_is_refused_before_anything_runs() {
    let mut config = ServerConfig::default();
    config.openai_api = true;
    let server = TestServer::start_with(config).await;
    let http = reqwest::Client::new();
    for path in ["/api/conversations", "/v1/chat/completions"] {
        let response = http
            .post(server.url(path))
            .header("host", "attacker.example")
            .header("origin", "http://attacker.example")
            .json(&json!({"model": "default", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 421, "{path}");
    }
    assert_eq!(server.fake.request_count(), 0);
    // The names of loopback are served, on any port.
    let response = http
        .post(server.url("/api/conversations"))
        .header("host", format!("localhost:{}", server.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Forms a browser cannot send but a script can, which a proxy or the app might read
    // differently: two Hosts, an absolute-form target naming another host, junk after a name.
    for request in [
        "GET /openapi.json HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\n\r\n",
        "GET http://attacker.example/openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /openapi.json HTTP/1.1\r\nHost: [::1]attacker.example\r\n\r\n",
        "GET /openapi.json HTTP/1.1\r\nHost: localhost:evil\r\n\r\n",
    ] {
        let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 4") && !head.starts_with("HTTP/1.1 404"),
            "{request:?} -> {head}"
        );
    }

    // Elsewhere the operator names the hosts.
    let mut config = ServerConfig::default();
    config.allowed_hosts = "chat.example.com".parse::<AllowedHosts>().unwrap();
    let named = TestServer::start_with(config).await;
    let served = |host: &'static str| {
        let http = http.clone();
        let url = named.url("/openapi.json");
        async move {
            http.get(url)
                .header("host", host)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(served("chat.example.com").await, 200);
    assert_eq!(served("localhost").await, 421);
    // Health checks come by address (a load balancer's `Host: 10.0.1.23:8080`) and are
    // answered whatever the host: they change nothing and tell nothing.
    for path in ["/healthz", "/readyz"] {
        let response = http
            .get(named.url(path))
            .header("host", "10.0.1.23:8080")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let response = http
        .post(named.url("/readyz"))
        .header("host", "10.0.1.23:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 421, "only reads are health checks");
}

/// Attack 9: 64 slow turns on rotating cookies took every reply slot. A visitor has two at
/// once, an address eight, and another address is still served.
#[tokio::test]
async fn reply_slots_are_shared_fairly_between_visitors_and_addresses() {
    let mut limits = Limits::default();
    limits.concurrent_turns_per_visitor = 2;
    limits.concurrent_turns_per_address = 3;
    let server = behind_proxy(limits).await;
    server
        .fake
        .set_fallback(FakeReply::chunks(["a"; 400]).chunk_delay(Duration::from_millis(25)));
    let visitor = server.visitor_at("198.51.100.1");
    let mut open = Vec::new();
    for _ in 0..2 {
        let id = visitor.create().await;
        open.push(visitor.say_streaming(&id, "hi").await);
    }
    let id = visitor.create().await;
    let third = visitor.say_streaming(&id, "hi").await;
    assert_eq!(third.status(), 503);
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "at_capacity");
    // A fresh cookie at the same address gets the address's last slot, then no more.
    let fresh = server.visitor_at("198.51.100.1");
    let id = fresh.create().await;
    open.push(fresh.say_streaming(&id, "hi").await);
    let fresher = server.visitor_at("198.51.100.1");
    let id = fresher.create().await;
    assert_eq!(fresher.say_streaming(&id, "hi").await.status(), 503);
    // Another address is served.
    let elsewhere = server.visitor_at("198.51.100.2");
    let id = elsewhere.create().await;
    assert_eq!(elsewhere.say_streaming(&id, "hi").await.status(), 200);
    for response in &open {
        assert_eq!(response.status(), 200);
    }
}

/// Attack 12: without a token, every distinct `Authorization` value had a bucket of its own.
/// `/v1` callers are limited by address.
#[tokio::test]
async fn rotating_authorization_values_do_not_multiply_the_v1_rate() {
    let mut config = ServerConfig::default();
    config.openai_api = true;
    config.limits.address_turns_per_minute = 3;
    let server = TestServer::start_with(config).await;
    server.fake.set_fallback(FakeReply::text("ok"));
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..6 {
        let response = http
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(format!("rotating-{n}"))
            .json(&json!({"model": "default", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
}

/// The memory store's accounting (attack 3) through the server: a new cookie per cycle, each
/// making a conversation, filling it, and making another, no longer fills the store.
#[tokio::test]
async fn cycling_cookies_through_evictions_does_not_fill_the_memory_store() {
    let store = MemoryStore::builder()
        .max_per_owner(1)
        .max_total_bytes(4 * 1024 * 1024)
        .build();
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("ok"));
    // Each 400 KB message reads about $0.40 of tokens: spending is not what this is about.
    let config = support::without_limits(ServerConfig::default());
    let server = TestServer::start_on(fake, config, Arc::new(store.clone())).await;
    let big = "x".repeat(400 * 1024);
    for _ in 0..40 {
        let visitor = server.visitor();
        let id = visitor.create().await;
        assert_eq!(visitor.say(&id, &big).await.status(), 200);
        visitor.create().await;
    }
    assert!(store.bytes() < 1024 * 1024, "{} bytes", store.bytes());
    let visitor = server.visitor();
    let id = visitor.create().await;
    assert_eq!(visitor.say(&id, "still served").await.status(), 200);
}

/// Attack 12: with one token every `/v1` caller shared one budget, so one caller's spending
/// locked out all. Named keys are limited and charged apart.
#[tokio::test]
async fn each_named_api_key_has_its_own_budget() {
    // The file holds digests (printf %s key-a | sha256sum), never the keys.
    let keys = bedrock_chat_server::ApiKeys::parse(&format!(
        r#"{{"keys": [{{"name": "a", "sha256": "{}"}}, {{"name": "b", "sha256": "{}"}}]}}"#,
        sha256_hex("key-a"),
        sha256_hex("key-b"),
    ))
    .unwrap();
    let mut config = ServerConfig::default();
    config.openai_api = true;
    config.api_keys = keys;
    // Room for one call at its most (about $0.062) per key, not two.
    config.limits.client_daily_usd = Some(0.1);
    let server = TestServer::start_with(config).await;
    server
        .fake
        .set_fallback(FakeReply::text("ok").usage(1000, 3000));
    let http = reqwest::Client::new();
    let call = |key: &'static str| {
        let request = http
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "default", "messages": [{"role": "user", "content": "hi"}]}))
            .send();
        async move { request.await.unwrap().status().as_u16() }
    };
    assert_eq!(call("key-a").await, 200);
    assert_eq!(call("key-a").await, 429, "key a's budget is spent");
    assert_eq!(call("key-b").await, 200, "key b has a budget of its own");
    assert_eq!(call("key-c").await, 401, "a key not in the file");
    assert_eq!(server.fake.request_count(), 2);
}

fn sha256_hex(text: &str) -> String {
    let output = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

/// Found by attacking the release binary: a client that pipelines requests and never reads the
/// answers held its connection (and the responses buffered for it) for ever; 17 addresses
/// took every connection. A write that makes no progress for `write_stall_timeout` now closes
/// the connection, giving its place back.
#[tokio::test]
async fn a_client_that_never_reads_gives_its_connection_back() {
    let mut config = ServerConfig::default();
    config.limits.write_stall_timeout = Duration::from_millis(500);
    config.limits.max_connections_per_address = 1;
    let server = TestServer::start_with(config).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut hog = socket.connect(server.addr).await.unwrap();
    let requests = "GET /assets/app.js HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(200);
    // Written, never read: the server's answers fill both sides' buffers and its writes stall.
    let _ = tokio::time::timeout(Duration::from_secs(2), hog.write_all(requests.as_bytes())).await;
    // The address's one connection is given back once the stall is noticed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let served = async {
            let mut next = tokio::net::TcpStream::connect(server.addr).await.ok()?;
            next.write_all(
                b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await
            .ok()?;
            let mut answer = Vec::new();
            next.read_to_end(&mut answer).await.ok()?;
            String::from_utf8_lossy(&answer)
                .starts_with("HTTP/1.1 200")
                .then_some(())
        };
        if tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled connection was never closed"
        );
    }
    drop(hog);
}

/// What a refused request looked like: status, kind (`error.kind`, or `error.code` on `/v1`)
/// and whether it named a wait.
async fn refusal(response: reqwest::Response) -> (u16, String, bool) {
    let status = response.status().as_u16();
    let waits = response.headers().contains_key("retry-after");
    let body: serde_json::Value = response.json().await.unwrap();
    let kind = body["error"]["kind"]
        .as_str()
        .or(body["error"]["code"].as_str())
        .unwrap_or_default()
        .to_string();
    (status, kind, waits)
}

/// A `/v1` turn from `address`, with `token` if given.
async fn v1_turn(server: &TestServer, address: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.url("/v1/chat/completions"))
        .header("x-forwarded-for", address)
        .json(&json!({"model": "default", "messages": [{"role": "user", "content": "hi"}]}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Issue 25: every admission refusal (rate, spending, capacity, authentication) answers the
/// browser API and `/v1` with the same status, the same kind and the same `Retry-After`.
#[tokio::test]
async fn every_refusal_is_the_same_through_both_apis() {
    let server_with = |limits: Limits, token: Option<&str>| {
        let mut config = ServerConfig::default();
        config.trusted_proxies = TrustedProxies::Hops(1);
        config.openai_api = true;
        config.limits = limits;
        config.auth_token = token.map(str::to_string);
        TestServer::start_with(config)
    };

    // Rate: one turn a minute per address.
    let mut limits = Limits::default();
    limits.address_turns_per_minute = 1;
    let server = server_with(limits, None).await;
    server.fake.set_fallback(FakeReply::text("ok"));
    let visitor = server.visitor_at("198.51.100.1");
    let id = visitor.create().await;
    assert_eq!(visitor.say(&id, "one").await.status(), 200);
    let browser = refusal(visitor.say(&id, "two").await).await;
    assert_eq!(v1_turn(&server, "198.51.100.2", None).await.status(), 200);
    let v1 = refusal(v1_turn(&server, "198.51.100.2", None).await).await;
    assert_eq!(browser, (429, "rate_limited".to_string(), true));
    assert_eq!(browser, v1);

    // Spending: a cap no turn fits under.
    let mut limits = Limits::default();
    limits.address_daily_usd = Some(0.000_001);
    let server = server_with(limits, None).await;
    let visitor = server.visitor_at("198.51.100.1");
    let id = visitor.create().await;
    let browser = refusal(visitor.say(&id, "one").await).await;
    let v1 = refusal(v1_turn(&server, "198.51.100.2", None).await).await;
    assert_eq!(browser, (429, "daily_budget".to_string(), true));
    assert_eq!(browser, v1);

    // Capacity: one reply at a time per address, and one is being written.
    let mut limits = Limits::default();
    limits.concurrent_turns_per_address = 1;
    let server = server_with(limits, None).await;
    server
        .fake
        .set_fallback(FakeReply::chunks(["a"; 400]).chunk_delay(Duration::from_millis(25)));
    let visitor = server.visitor_at("198.51.100.1");
    let id = visitor.create().await;
    let writing = visitor.say_streaming(&id, "one").await;
    assert_eq!(writing.status(), 200);
    let other = visitor.create().await;
    let browser = refusal(visitor.say(&other, "two").await).await;
    let v1 = refusal(v1_turn(&server, "198.51.100.1", None).await).await;
    assert_eq!(browser, (503, "at_capacity".to_string(), true));
    assert_eq!(browser, v1);
    drop(writing);

    // Authentication: the server needs its token.
    let server = server_with(Limits::default(), Some("the-token")).await;
    let browser = refusal(
        reqwest::Client::new()
            .post(server.url("/api/conversations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let v1 = refusal(v1_turn(&server, "198.51.100.2", Some("wrong")).await).await;
    assert_eq!(browser, (401, "unauthorized".to_string(), false));
    assert_eq!(browser, v1);
}
