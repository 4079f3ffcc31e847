//! A server on 127.0.0.1 over the fake Bedrock, and a client that keeps its cookie.

#![allow(dead_code)]

pub mod browser;

use std::net::SocketAddr;
use std::time::Duration;

use bedrock_chat::testing::FakeBedrock;
use bedrock_chat::{MemoryStore, RetryPolicy, SessionSettings};
use bedrock_chat_server::{AppState, ServerConfig};
use tokio::sync::oneshot;

/// `config` with no limit on rates, conversations created or spending: for tests of other
/// things that send many requests from one address.
pub fn without_limits(mut config: ServerConfig) -> ServerConfig {
    let limits = &mut config.limits;
    limits.conversations_per_hour = 1_000_000;
    limits.turns_per_minute = 1_000_000;
    limits.address_turns_per_minute = 1_000_000;
    limits.server_turns_per_minute = 1_000_000;
    limits.client_daily_usd = None;
    limits.address_daily_usd = None;
    config
}

/// A running server and the fake Bedrock behind it.
pub struct TestServer {
    pub fake: FakeBedrock,
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> Self {
        let fake = FakeBedrock::start().await.expect("fake Bedrock starts");
        Self::start_on(fake, config, std::sync::Arc::new(MemoryStore::new())).await
    }

    /// A server on `fake` keeping conversations in `store` (several servers may share both).
    pub async fn start_on(
        fake: FakeBedrock,
        config: ServerConfig,
        store: std::sync::Arc<dyn bedrock_chat::ConversationStore>,
    ) -> Self {
        let mut settings = SessionSettings::default();
        settings.model_id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_string();
        settings.retry_policy = RetryPolicy::default()
            .initial_delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(4))
            .max_retries(2);
        let client = fake.client().await.expect("client builds");
        let state = AppState::with_shared_store(client, settings, store, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bedrock_chat_server::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        TestServer {
            fake,
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new visitor: a client with its own cookie jar.
    pub fn visitor(&self) -> Visitor {
        Visitor {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
            base: self.url(""),
        }
    }

    /// A new visitor at `address`: the server must trust one proxy hop
    /// (`TrustedProxies::Hops(1)`), and every request says `X-Forwarded-For: address`, as a
    /// load balancer in front would.
    pub fn visitor_at(&self, address: &str) -> Visitor {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        Visitor {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .default_headers(headers)
                .build()
                .unwrap(),
            base: self.url(""),
        }
    }

    /// Starts a shutdown (as SIGTERM does) and waits for the server to finish.
    pub async fn shut_down(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }
}

/// One browser's worth of requests.
pub struct Visitor {
    pub http: reqwest::Client,
    pub base: String,
}

impl Visitor {
    pub async fn create(&self) -> String {
        let response = self
            .http
            .post(format!("{}/api/conversations", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn say(&self, id: &str, text: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/conversations/{id}/messages", self.base))
            .json(&serde_json::json!({"text": text}))
            .send()
            .await
            .unwrap()
    }

    pub async fn say_streaming(&self, id: &str, text: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/conversations/{id}/messages", self.base))
            .header("accept", "text/event-stream")
            .json(&serde_json::json!({"text": text}))
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn conversation(&self, id: &str) -> serde_json::Value {
        self.get(&format!("/api/conversations/{id}"))
            .await
            .json()
            .await
            .unwrap()
    }
}

/// Waits until `check` holds, for at most ten seconds: for what a server does after it has
/// answered (charging a turn whose client hung up), which no response can signal.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The events of an SSE body, as `(name, data)`.
pub async fn events(response: reqwest::Response) -> Vec<(String, serde_json::Value)> {
    let body = response.text().await.unwrap();
    parse_events(&body)
}

pub fn parse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = "message".to_string();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event:") {
                    name = rest.trim().to_string();
                } else if let Some(rest) = line.strip_prefix("data:") {
                    data.push_str(rest.trim_start());
                }
            }
            (!data.is_empty()).then(|| (name, serde_json::from_str(&data).unwrap()))
        })
        .collect()
}
