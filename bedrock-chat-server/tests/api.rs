//! The HTTP API end to end, against the fake Bedrock through the real AWS SDK.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use bedrock_chat::testing::{FakeError, FakeReply};
use bedrock_chat_server::{Limits, ServerConfig};
use futures::StreamExt;
use serde_json::json;
use support::{TestServer, events, parse_events};

#[tokio::test]
async fn a_streamed_turn_sends_deltas_then_done_and_carries_context() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::chunks(["Par", "is."]).usage(10, 3))
        .push(FakeReply::text("Madrid."));
    let visitor = server.visitor();
    let id = visitor.create().await;

    let response = visitor.say_streaming(&id, "Capital of France?").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let events = events(response).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["delta", "delta", "done"]);
    assert_eq!(events[0].1, json!({"text": "Par"}));
    let done = &events[2].1;
    assert_eq!(done["stop_reason"], "end_turn");
    assert_eq!(done["usage"]["outputTokens"], 3);
    assert!(done["cost_usd"].as_f64().unwrap() > 0.0);

    // The whole-reply form, and the first exchange as context.
    let response = visitor.say(&id, "And Spain?").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["text"], "Madrid.");
    let requests = server.fake.requests();
    assert_eq!(
        requests[1].messages(),
        [
            ("user".to_string(), "Capital of France?".to_string()),
            ("assistant".into(), "Paris.".into()),
            ("user".into(), "And Spain?".into()),
        ]
    );
    let conversation = visitor.conversation(&id).await;
    assert_eq!(conversation["title"], "Capital of France?");
    assert_eq!(conversation["messages"].as_array().unwrap().len(), 4);
    assert_eq!(
        conversation["messages"][1],
        json!({"role": "assistant", "text": "Paris.", "attachments": []})
    );
}

#[tokio::test]
async fn retries_are_notices_and_failures_are_error_events_that_change_nothing() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("Fine."))
        .push(FakeReply::error(FakeError::Validation(
            "messages.0.content.0: unknown block type".into(),
        )));
    let visitor = server.visitor();
    let id = visitor.create().await;

    let events = events(visitor.say_streaming(&id, "hi").await).await;
    assert_eq!(events[0].0, "notice");
    let notice = events[0].1["message"].as_str().unwrap();
    assert!(notice.contains("throttled; retrying in 1 ms"), "{notice}");
    assert_eq!(events.last().unwrap().0, "done");

    let events = events_of(visitor.say_streaming(&id, "again").await).await;
    let (name, error) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(error["kind"], "invalid_request");
    assert_eq!(error["retryable"], false);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("messages.0.content.0: unknown block type"),
        "Bedrock's own message: {error}"
    );
    assert!(error["request_id"].is_string());
    let conversation = visitor.conversation(&id).await;
    assert_eq!(conversation["messages"].as_array().unwrap().len(), 2);
}

async fn events_of(response: reqwest::Response) -> Vec<(String, serde_json::Value)> {
    events(response).await
}

#[tokio::test]
async fn a_failure_after_the_first_text_is_an_error_event_never_a_normal_end() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::chunks(["one ", "two ", "three"]).fault_after(
            2,
            bedrock_chat::testing::StreamFault::Exception(FakeError::ServiceUnavailable),
        ));
    let visitor = server.visitor();
    let id = visitor.create().await;
    let events = events(visitor.say_streaming(&id, "count").await).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["delta", "delta", "error"]);
    assert_eq!(events[2].1["kind"], "stream_interrupted");
    assert_eq!(events[2].1["retryable"], true);
    assert!(
        visitor.conversation(&id).await["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_turn_and_the_conversation_is_unchanged() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::text("one two three four five").chunk_delay(Duration::from_millis(300)))
        .push(FakeReply::text("Fresh."));
    let visitor = server.visitor();
    let id = visitor.create().await;
    let response = visitor.say_streaming(&id, "long please").await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("delta"));
    drop(body);

    // The turn ends as soon as it notices; until then the conversation is busy (409).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = visitor.say(&id, "short").await;
        if response.status() != 409 || tokio::time::Instant::now() > deadline {
            break response;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(response.status(), 200);
    let conversation = visitor.conversation(&id).await;
    assert_eq!(
        conversation["messages"],
        json!([{"role": "user", "text": "short", "attachments": []}, {"role": "assistant", "text": "Fresh.", "attachments": []}])
    );
    // The cut-off turn never became context.
    assert_eq!(server.fake.requests().last().unwrap().messages().len(), 1);
}

#[tokio::test]
async fn one_turn_at_a_time_per_conversation() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::text("slow answer").chunk_delay(Duration::from_millis(500)))
        .set_fallback(FakeReply::text("ok"));
    let visitor = server.visitor();
    let id = visitor.create().await;
    let first = visitor.say_streaming(&id, "first").await;
    assert_eq!(first.status(), 200);
    let second = visitor.say(&id, "second").await;
    assert_eq!(second.status(), 409);
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "busy");
    let events = events(first).await;
    assert_eq!(events.last().unwrap().0, "done");
}

#[tokio::test]
async fn retry_and_undo_do_what_the_repl_commands_do() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::text("First answer."))
        .push(FakeReply::text("Second answer."));
    let visitor = server.visitor();
    let id = visitor.create().await;
    assert_eq!(visitor.say(&id, "question").await.status(), 200);
    let response = visitor
        .http
        .post(format!("{}/api/conversations/{id}/retry", visitor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let conversation = visitor.conversation(&id).await;
    assert_eq!(conversation["messages"][1]["text"], "Second answer.");
    assert_eq!(conversation["messages"].as_array().unwrap().len(), 2);
    let response = visitor
        .http
        .post(format!("{}/api/conversations/{id}/undo", visitor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["messages"].as_array().unwrap().is_empty());
    let response = visitor
        .http
        .post(format!("{}/api/conversations/{id}/undo", visitor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn visitors_never_see_each_others_conversations() {
    let server = TestServer::start().await;
    server.fake.set_fallback(FakeReply::text("secret reply"));
    let alice = server.visitor();
    let mallory = server.visitor();
    let id = alice.create().await;
    assert_eq!(alice.say(&id, "my secret").await.status(), 200);

    assert_eq!(
        mallory
            .get("/api/conversations")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap(),
        json!({"conversations": []})
    );
    assert_eq!(
        mallory
            .get(&format!("/api/conversations/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(mallory.say(&id, "hi").await.status(), 404);
    let delete = mallory
        .http
        .delete(format!("{}/api/conversations/{id}", mallory.base))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    assert_eq!(
        alice.conversation(&id).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let delete = alice
        .http
        .delete(format!("{}/api/conversations/{id}", alice.base))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(
        alice
            .get(&format!("/api/conversations/{id}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_json_error_and_changes_nothing() {
    let server = TestServer::start().await;
    let visitor = server.visitor();
    let id = visitor.create().await;
    let url = format!("{}/api/conversations/{id}/messages", visitor.base);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            visitor.http.post(&url).json(&json!({"text": "  "})),
            400,
            "empty",
        ),
        (
            visitor.http.post(&url).json(&json!({"text": "a\u{0}b"})),
            400,
            "control character",
        ),
        (
            visitor.http.post(&url).json(&json!({"text": 5})),
            422,
            "the body must be JSON",
        ),
        (
            visitor
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "the body must be JSON",
        ),
        (
            visitor.http.post(&url).body("text=hi"),
            415,
            "Content-Type: application/json",
        ),
        (
            visitor
                .http
                .post(&url)
                .json(&json!({"text": "x".repeat(2 * 1024 * 1024)})),
            400,
            "shorten it",
        ),
        (
            // Past the largest message with attachments: refused before it is read whole.
            visitor
                .http
                .post(&url)
                .json(&json!({"text": "x".repeat(9 * 1024 * 1024)})),
            413,
            "",
        ),
        (
            visitor
                .http
                .post(format!("{}/api/conversations/nope/messages", visitor.base))
                .json(&json!({"text": "hi"})),
            404,
            "no such conversation",
        ),
        (
            visitor.http.get(format!("{}/api/nothing", visitor.base)),
            404,
            "no such API route",
        ),
    ];
    for (request, status, says) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{says}");
        let text = response.text().await.unwrap();
        if !says.is_empty() {
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or(json!(text));
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap_or(&text)
                    .contains(says),
                "{status}: {text}"
            );
        }
    }
    assert_eq!(server.fake.request_count(), 0);
    assert!(
        visitor.conversation(&id).await["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bedrock_failures_map_to_fitting_statuses() {
    let server = TestServer::start().await;
    let cases = [
        (FakeError::Throttling, 429, "throttled"),
        (FakeError::ServiceUnavailable, 503, "unavailable"),
        (FakeError::ModelTimeout, 504, "timeout"),
        (FakeError::AccessDenied, 502, "access_denied"),
        (FakeError::Validation("bad".into()), 400, "invalid_request"),
    ];
    let visitor = server.visitor();
    let id = visitor.create().await;
    for (error, status, kind) in cases {
        // Every retry fails the same way.
        server.fake.push_times(3, FakeReply::error(error.clone()));
        let response = visitor.say(&id, "hi").await;
        assert_eq!(response.status(), status, "{error:?}");
        if status == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["kind"], kind, "{body}");
        server.fake.reset();
    }
}

#[tokio::test]
async fn the_rate_limit_and_the_daily_budget_hold_per_client() {
    let mut limits = Limits::default();
    limits.turns_per_minute = 2;
    // Room for one turn's most (4,096 output tokens at $15 a million: about $0.062), not two.
    limits.client_daily_usd = Some(0.1);
    let mut config = ServerConfig::default();
    config.limits = limits;
    let server = TestServer::start_with(config).await;
    server
        .fake
        .set_fallback(FakeReply::text("ok").usage(1000, 3000));
    let visitor = server.visitor();
    let id = visitor.create().await;
    assert_eq!(visitor.say(&id, "one").await.status(), 200);
    // The first turn cost $0.048: the next could cost more than what is left, so it is
    // refused before any request.
    let response = visitor.say(&id, "two").await;
    assert_eq!(response.status(), 429);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "daily_budget");
    // A new conversation does not escape it.
    let other = visitor.create().await;
    assert_eq!(visitor.say(&other, "three").await.status(), 429);
    assert_eq!(server.fake.request_count(), 1);
    // Another visitor has a budget of their own.
    let second = server.visitor();
    let id = second.create().await;
    assert_eq!(second.say(&id, "hello").await.status(), 200);
}

#[tokio::test]
async fn a_token_closes_the_api_and_cross_site_requests_are_refused() {
    let mut config = ServerConfig::default();
    config.auth_token = Some("s3cret-token".into());
    let server = TestServer::start_with(config).await;
    let visitor = server.visitor();
    let url = format!("{}/api/conversations", visitor.base);
    let response = visitor.http.post(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = visitor
        .http
        .post(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = visitor
        .http
        .post(&url)
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = visitor
        .http
        .post(&url)
        .bearer_auth("s3cret-token")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // The page itself needs no token: it holds no data.
    assert_eq!(visitor.get("/").await.status(), 200);
}

#[tokio::test]
async fn the_page_and_health_checks_are_served() {
    let server = TestServer::start().await;
    let visitor = server.visitor();
    let page = visitor.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(page.text().await.unwrap().contains("<textarea"));
    assert_eq!(visitor.get("/assets/app.js").await.status(), 200);
    assert_eq!(visitor.get("/assets/nope.js").await.status(), 404);
    assert_eq!(visitor.get("/healthz").await.text().await.unwrap(), "ok");
    assert_eq!(visitor.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn shutdown_lets_running_replies_finish_then_ends_the_rest_with_an_error() {
    let mut config = ServerConfig::default();
    config.shutdown_grace = Duration::from_millis(200);
    let mut server = TestServer::start_with(config).await;
    server
        .fake
        .push(FakeReply::text("a b c d e f g h").chunk_delay(Duration::from_millis(400)));
    let visitor = server.visitor();
    let id = visitor.create().await;
    let response = visitor.say_streaming(&id, "long").await;
    let reading = tokio::spawn(async move { response.text().await.unwrap() });
    server.shut_down().await.unwrap();
    let body = reading.await.unwrap();
    let events = parse_events(&body);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{body}");
    assert_eq!(data["kind"], "shutdown");
    assert!(
        data["message"]
            .as_str()
            .unwrap()
            .contains("send your message again")
    );
}

#[tokio::test]
async fn metrics_count_requests_turns_tokens_retries_and_store_operations() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("ok").usage(7, 2));
    let visitor = server.visitor();
    let id = visitor.create().await;
    assert_eq!(visitor.say(&id, "hi").await.status(), 200);
    let metrics = visitor.get("/metrics").await.text().await.unwrap();
    for expected in [
        "bedrock_chat_http_requests_total{route=\"/api/conversations/{id}/messages\",method=\"POST\",status=\"200\"}",
        "bedrock_chat_turns_total{api=\"chat\",model=\"us.anthropic.claude-sonnet-4-5-20250929-v1:0\",outcome=\"ok\"}",
        "bedrock_chat_time_to_first_token_seconds_bucket",
        "bedrock_chat_turn_duration_seconds_bucket",
        "bedrock_chat_tokens_total{api=\"chat\",model=\"us.anthropic.claude-sonnet-4-5-20250929-v1:0\",direction=\"output\"}",
        "bedrock_chat_retries_total{kind=\"throttled\"}",
        "bedrock_chat_throttles_total",
        "bedrock_chat_store_operation_seconds_bucket{operation=\"save_and_release\"",
        "bedrock_chat_active_turns{api=\"chat\"}",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
    assert!(!metrics.contains(&id), "ids never become labels");
}

/// A store that refuses to be asked about any conversation: every operation naming one fails
/// the test.
#[derive(Debug)]
struct NoConversations(bedrock_chat::MemoryStore);

#[async_trait::async_trait]
impl bedrock_chat::ConversationStore for NoConversations {
    async fn create(
        &self,
        owner: &str,
        conversation: bedrock_chat::SavedConversation,
    ) -> Result<bedrock_chat::StoredConversation, bedrock_chat::StoreError> {
        self.0.create(owner, conversation).await
    }
    async fn load(
        &self,
        _: &str,
        id: &str,
    ) -> Result<bedrock_chat::StoredConversation, bedrock_chat::StoreError> {
        panic!("the store was asked to load {id:?}")
    }
    async fn save(
        &self,
        _: &str,
        id: &str,
        _: u64,
        _: bedrock_chat::SavedConversation,
    ) -> Result<u64, bedrock_chat::StoreError> {
        panic!("the store was asked to save {id:?}")
    }
    async fn list(
        &self,
        owner: &str,
    ) -> Result<Vec<bedrock_chat::ConversationSummary>, bedrock_chat::StoreError> {
        self.0.list(owner).await
    }
    async fn delete(&self, _: &str, id: &str) -> Result<(), bedrock_chat::StoreError> {
        panic!("the store was asked to delete {id:?}")
    }
    async fn lease(
        &self,
        _: &str,
        id: &str,
        _: Duration,
    ) -> Result<bedrock_chat::Lease, bedrock_chat::StoreError> {
        panic!("the store was asked to lease {id:?}")
    }
    async fn renew(
        &self,
        lease: &bedrock_chat::Lease,
        _: Duration,
    ) -> Result<(), bedrock_chat::StoreError> {
        panic!("the store was asked to renew {lease:?}")
    }
    async fn release(&self, lease: &bedrock_chat::Lease) -> Result<(), bedrock_chat::StoreError> {
        panic!("the store was asked to release {lease:?}")
    }
    async fn ping(&self) -> Result<(), bedrock_chat::StoreError> {
        self.0.ping().await
    }
    async fn spent_today(&self, account: &str) -> Result<f64, bedrock_chat::StoreError> {
        self.0.spent_today(account).await
    }
    async fn add_spending(&self, account: &str, usd: f64) -> Result<(), bedrock_chat::StoreError> {
        self.0.add_spending(account, usd).await
    }
    async fn reserve_spending(
        &self,
        caps: &[bedrock_chat::Cap<'_>],
        usd: f64,
    ) -> Result<Option<usize>, bedrock_chat::StoreError> {
        self.0.reserve_spending(caps, usd).await
    }
    async fn take_rate(
        &self,
        rates: &[bedrock_chat::Rate<'_>],
    ) -> Result<Option<(usize, Duration)>, bedrock_chat::StoreError> {
        self.0.take_rate(rates).await
    }
    async fn acquire_slots(
        &self,
        slots: &[bedrock_chat::Slots<'_>],
        token: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, bedrock_chat::StoreError> {
        self.0.acquire_slots(slots, token, ttl).await
    }
    async fn renew_slots(
        &self,
        keys: &[&str],
        token: &str,
        ttl: Duration,
    ) -> Result<(), bedrock_chat::StoreError> {
        self.0.renew_slots(keys, token, ttl).await
    }
    async fn release_slots(
        &self,
        keys: &[&str],
        token: &str,
    ) -> Result<(), bedrock_chat::StoreError> {
        self.0.release_slots(keys, token).await
    }
}

#[tokio::test]
async fn a_made_up_conversation_id_is_a_404_that_never_reaches_the_store() {
    let fake = bedrock_chat::testing::FakeBedrock::start().await.unwrap();
    let server = TestServer::start_on(
        fake,
        ServerConfig::default(),
        std::sync::Arc::new(NoConversations(bedrock_chat::MemoryStore::new())),
    )
    .await;
    let visitor = server.visitor();
    let long = "a".repeat(4000);
    for id in [
        "%7Bc%3Ax%7D",
        "x",
        "0123456789abcdef0123456789abcdeg",
        long.as_str(),
    ] {
        for response in [
            visitor.get(&format!("/api/conversations/{id}")).await,
            visitor.say(id, "hi").await,
            visitor
                .http
                .post(format!("{}/api/conversations/{id}/undo", visitor.base))
                .send()
                .await
                .unwrap(),
            visitor
                .http
                .delete(format!("{}/api/conversations/{id}", visitor.base))
                .send()
                .await
                .unwrap(),
        ] {
            assert_eq!(response.status(), 404, "{id}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["kind"], "not_found", "{body}");
        }
    }
}

/// Every operation the API documents, sent 200 times on one keep-alive connection, with and
/// without a body: the connection survives them all (a handler that left a body unread made
/// hyper close the connection after its response, and the client's next request failed).
#[tokio::test]
async fn a_keep_alive_connection_survives_every_operation_with_and_without_a_body() {
    use http_body_util::{BodyExt, Full};
    let server = TestServer::start_with(support::without_limits(ServerConfig::default())).await;
    server.fake.set_fallback(FakeReply::text("ok"));
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let cookie = "bc_client=0123456789abcdef0123456789abcdef";
    let host = format!("127.0.0.1:{}", server.addr.port());
    let mut send = async |method: &str, path: &str, body: &'static str| {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &host)
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from_static(body.as_bytes())))
            .unwrap();
        let response = sender
            .send_request(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {path} with {body:?}: {e}"));
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    };
    for round in 0..200 {
        let body = if round % 2 == 0 { "" } else { "{}" };
        let (status, created) = send("POST", "/api/conversations", body).await;
        assert_eq!(status, 201, "round {round}");
        let created: serde_json::Value = serde_json::from_slice(&created).unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        let at = |tail: &str| format!("/api/conversations/{id}{tail}");
        assert_eq!(send("GET", "/api/conversations", "").await.0, 200);
        assert_eq!(send("GET", &at(""), "").await.0, 200);
        let text = r#"{"text": "hi"}"#;
        assert_eq!(send("POST", &at("/messages"), text).await.0, 200);
        assert_eq!(send("POST", &at("/retry"), body).await.0, 200);
        assert_eq!(send("POST", &at("/undo"), body).await.0, 200);
        assert_eq!(send("DELETE", &at(""), body).await.0, 204);
    }
}

/// The contract checked into `docs/openapi.json` is the one the server serves, generated from
/// the types and handlers it runs. After changing the API, refresh it with
/// `UPDATE_OPENAPI=1 cargo test -p bedrock-chat-server --test api openapi`.
#[tokio::test]
async fn the_published_openapi_document_is_the_one_served() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let generated = bedrock_chat_server::openapi_document();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, format!("{generated}\n")).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        published.trim_end(),
        generated,
        "docs/openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p bedrock-chat-server --test api openapi"
    );
    let server = TestServer::start().await;
    let served = server
        .visitor()
        .get("/openapi.json")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(served, generated);
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}
