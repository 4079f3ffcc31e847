//! Several server instances on one real `redis-server`: any instance serves any request, turns
//! race safely, and Redis failures are reported and recovered from.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeReply, RedisServer};
use bedrock_chat::{ConversationStore, RedisStore};
use bedrock_chat_server::ServerConfig;
use serde_json::json;
use support::TestServer;

fn store(redis: &RedisServer) -> Arc<dyn ConversationStore> {
    Arc::new(
        RedisStore::builder(redis.url())
            .prefix("bc-test")
            .ttl(Duration::from_secs(60))
            .max_per_owner(100)
            .build()
            .unwrap(),
    )
}

async fn instance(redis: &RedisServer) -> TestServer {
    let fake = FakeBedrock::start().await.unwrap();
    TestServer::start_on(fake, ServerConfig::default(), store(redis)).await
}

/// One visitor whose cookie goes to every instance (as a load balancer in front would make it).
struct Visitor {
    http: reqwest::Client,
    cookie: String,
}

impl Visitor {
    /// Starts a conversation on `server` and sends `text` in it: the turn's status.
    async fn new_turn(&self, server: &TestServer, text: &str) -> u16 {
        let created: serde_json::Value = self
            .post(server, "/api/conversations", None)
            .await
            .json()
            .await
            .unwrap();
        let path = format!(
            "/api/conversations/{}/messages",
            created["id"].as_str().unwrap()
        );
        self.post(server, &path, Some(json!({ "text": text })))
            .await
            .status()
            .as_u16()
    }

    fn new() -> Self {
        Visitor {
            http: reqwest::Client::new(),
            cookie: format!("bc_client={}", uuid_like()),
        }
    }

    async fn post(
        &self,
        server: &TestServer,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let request = self
            .http
            .post(server.url(path))
            .header("cookie", &self.cookie);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.unwrap()
    }

    async fn get(&self, server: &TestServer, path: &str) -> reqwest::Response {
        self.http
            .get(server.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }
}

fn uuid_like() -> String {
    format!(
        "{:032x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn two_instances_serve_alternate_turns_of_one_conversation() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    a.fake.push(FakeReply::text("Paris."));
    b.fake.push(FakeReply::text("Madrid."));
    let visitor = Visitor::new();
    let created: serde_json::Value = visitor
        .post(&a, "/api/conversations", None)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/conversations/{id}/messages");
    assert_eq!(
        visitor
            .post(&a, &path, Some(json!({"text": "France?"})))
            .await
            .status(),
        200
    );
    assert_eq!(
        visitor
            .post(&b, &path, Some(json!({"text": "Spain?"})))
            .await
            .status(),
        200
    );
    // The second instance sent the first's exchange as context.
    assert_eq!(
        b.fake.requests()[0].messages(),
        [
            ("user".to_string(), "France?".to_string()),
            ("assistant".into(), "Paris.".into()),
            ("user".into(), "Spain?".into()),
        ]
    );
    let conversation: serde_json::Value = visitor
        .get(&a, &format!("/api/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(conversation["messages"].as_array().unwrap().len(), 4);
    // Another visitor sees nothing on either instance.
    let other = Visitor::new();
    assert_eq!(
        other
            .get(&b, &format!("/api/conversations/{id}"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn two_turns_at_once_through_two_instances_one_wins_one_gets_409() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    a.fake
        .push(FakeReply::text("slow answer here").chunk_delay(Duration::from_millis(300)));
    b.fake.set_fallback(FakeReply::text("fast"));
    let visitor = Visitor::new();
    let created: serde_json::Value = visitor
        .post(&a, "/api/conversations", None)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/conversations/{id}/messages");
    let slow = {
        let request = visitor
            .http
            .post(a.url(&path))
            .header("cookie", &visitor.cookie)
            .header("accept", "text/event-stream")
            .json(&json!({"text": "first"}));
        request.send().await.unwrap()
    };
    // The first turn holds the lease (its response head has arrived): the second is refused.
    let second = visitor
        .post(&b, &path, Some(json!({"text": "second"})))
        .await;
    assert_eq!(second.status(), 409);
    let body = slow.text().await.unwrap();
    assert!(body.contains("event: done"), "{body}");
    assert_eq!(b.fake.request_count(), 0);
    let conversation: serde_json::Value = visitor
        .get(&b, &format!("/api/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        conversation["messages"],
        json!([{"role": "user", "text": "first", "attachments": []}, {"role": "assistant", "text": "slow answer here", "attachments": []}])
    );
}

#[tokio::test]
async fn redis_down_is_503_and_readyz_fails_then_all_works_again_without_a_restart() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let server = instance(&redis).await;
    server.fake.set_fallback(FakeReply::text("ok"));
    let visitor = Visitor::new();
    assert_eq!(visitor.get(&server, "/readyz").await.status(), 200);
    redis.stop();
    assert_eq!(visitor.get(&server, "/readyz").await.status(), 503);
    let response = visitor.post(&server, "/api/conversations", None).await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("store did not answer"), "{message}");
    // Never where the store is: that is for the log.
    assert!(
        !message.contains("127.0.0.1") && !message.contains("redis"),
        "{message}"
    );
    assert_eq!(
        visitor.get(&server, "/healthz").await.status(),
        200,
        "the process is up"
    );

    redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while visitor.get(&server, "/readyz").await.status() != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        visitor
            .post(&server, "/api/conversations", None)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_daily_spending_cap_holds_across_instances() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let mut config = ServerConfig::default();
    // Room for one turn at its most (about $0.062), not for a second after it cost $0.048.
    config.limits.client_daily_usd = Some(0.1);
    let start = || async {
        let fake = FakeBedrock::start().await.unwrap();
        fake.set_fallback(FakeReply::text("ok").usage(1000, 3000));
        TestServer::start_on(fake, config.clone(), store(&redis)).await
    };
    let (a, b) = (start().await, start().await);
    let visitor = Visitor::new();
    let create = |server: &TestServer| {
        let request = visitor
            .http
            .post(server.url("/api/conversations"))
            .header("cookie", &visitor.cookie)
            .send();
        async move {
            let body: serde_json::Value = request.await.unwrap().json().await.unwrap();
            body["id"].as_str().unwrap().to_string()
        }
    };
    let on_a = create(&a).await;
    let path = |id: &str| format!("/api/conversations/{id}/messages");
    assert_eq!(
        visitor
            .post(&a, &path(&on_a), Some(json!({"text": "one"})))
            .await
            .status(),
        200
    );
    // Spent on instance A: refused on instance B too, in a new conversation.
    let on_b = create(&b).await;
    assert_eq!(
        visitor
            .post(&b, &path(&on_b), Some(json!({"text": "two"})))
            .await
            .status(),
        429
    );
    assert_eq!(b.fake.request_count(), 0);
}

/// Turns started together on two instances cannot overshoot the server's cap: each reserves
/// the most it can cost, atomically, on the shared store before it is sent.
#[tokio::test]
async fn turns_started_together_on_two_instances_cannot_overshoot_a_cap() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let mut config = ServerConfig::default();
    // Room for one turn at its most (about $0.062), not two.
    config.limits.server_daily_usd = Some(0.1);
    let start = || async {
        let fake = FakeBedrock::start().await.unwrap();
        fake.set_fallback(
            FakeReply::text("ok")
                .usage(1000, 1000)
                .delay(Duration::from_millis(200)),
        );
        TestServer::start_on(fake, config.clone(), store(&redis)).await
    };
    let (a, b) = (start().await, start().await);
    let mut turns = Vec::new();
    for n in 0..6 {
        let server = if n % 2 == 0 { &a } else { &b };
        turns.push(async move { Visitor::new().new_turn(server, "hi").await });
    }
    let mut statuses = futures::future::join_all(turns).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429, 429, 429, 429, 429]);
    assert_eq!(a.fake.request_count() + b.fake.request_count(), 1);
}

/// Two instances share one rate: N instances do not allow N times the rate.
#[tokio::test]
async fn the_rate_limit_holds_across_instances() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let mut config = ServerConfig::default();
    config.limits.turns_per_minute = 3;
    let start = || async {
        let fake = FakeBedrock::start().await.unwrap();
        fake.set_fallback(FakeReply::text("ok"));
        TestServer::start_on(fake, config.clone(), store(&redis)).await
    };
    let (a, b) = (start().await, start().await);
    let visitor = Visitor::new();
    let mut statuses = Vec::new();
    for n in 0..6 {
        let server = if n % 2 == 0 { &a } else { &b };
        statuses.push(visitor.new_turn(server, "hi").await);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
}
