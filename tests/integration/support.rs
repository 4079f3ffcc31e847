//! Shared set-up: a fake server, a session on it, and assertions on what reached the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, RecordedRequest};
use bedrock_chat::{ChatSession, ChatSessionBuilder, RetryPolicy};

/// A fake server and a session talking to it through the real SDK.
pub struct Harness {
    pub fake: FakeBedrock,
    pub retries: Arc<Mutex<Vec<(u32, Duration)>>>,
}

impl Harness {
    pub async fn start() -> Self {
        Harness {
            fake: FakeBedrock::start().await.expect("fake Bedrock starts"),
            retries: Arc::default(),
        }
    }

    /// A session builder on the fake whose retries are recorded in `self.retries`.
    pub async fn builder(&self) -> ChatSessionBuilder {
        let log = self.retries.clone();
        ChatSession::builder(self.fake.client().await.expect("client builds"))
            .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .on_retry(move |notice| log.lock().unwrap().push((notice.retry, notice.delay)))
    }

    /// A builder with fast retries starting from an existing conversation.
    pub async fn session_builder_with(
        &self,
        history: Vec<bedrock_chat::Message>,
    ) -> ChatSessionBuilder {
        self.builder()
            .await
            .retry_policy(fast_retries())
            .history(history)
    }

    /// A session that never retries: the first failure is returned.
    pub async fn session_without_retries(&self) -> ChatSession {
        self.builder()
            .await
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("session builds")
    }

    /// A session that retries at once (1 ms waits), for tests that are not about timing.
    pub async fn session(&self) -> ChatSession {
        self.builder()
            .await
            .retry_policy(fast_retries())
            .build()
            .expect("session builds")
    }

    /// A session without retries whose client waits at most `read_timeout` for each read.
    pub async fn session_with_read_timeout(&self, read_timeout: Duration) -> ChatSession {
        let client = self
            .fake
            .client_builder()
            .read_timeout(read_timeout)
            .build()
            .await
            .expect("client builds");
        ChatSession::builder(client)
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("session builds")
    }

    pub fn retries(&self) -> Vec<(u32, Duration)> {
        self.retries.lock().unwrap().clone()
    }
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(4))
}

/// Asserts a request carried a conversation Bedrock accepts: starts with the user, alternates,
/// ends with the user, and no message is blank (a message of tool calls or results is not).
pub fn assert_valid_conversation(request: &RecordedRequest) {
    let messages = request.messages();
    assert!(!messages.is_empty(), "request without messages");
    let bodies = request.body["messages"].as_array().unwrap();
    for (index, (role, text)) in messages.iter().enumerate() {
        let expected = if index % 2 == 0 { "user" } else { "assistant" };
        assert_eq!(
            role, expected,
            "message {index} has the wrong role: {messages:?}"
        );
        let has_tool_blocks = bodies[index]["content"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some());
        assert!(
            has_tool_blocks || !text.trim().is_empty(),
            "message {index} is blank: {messages:?}"
        );
    }
    assert_eq!(messages.last().unwrap().0, "user");
}

/// `(role, text)` pairs, for comparing with `RecordedRequest::messages`.
pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(r, t)| (r.to_string(), t.to_string()))
        .collect()
}

/// A session without retries on a server this project did not write (a `wiremock` mock).
pub async fn session_on_mock(server: &wiremock::MockServer) -> ChatSession {
    let client = bedrock_chat::BedrockClient::builder()
        .region("eu-west-1")
        .endpoint_url(server.uri())
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .build()
        .await
        .expect("client builds");
    ChatSession::builder(client)
        .model_id("eu.anthropic.claude-sonnet-4-6")
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("session builds")
}

/// AWS event-stream frames of `(event type, JSON payload)` pairs, encoded here independently of
/// `FakeBedrock`, for replaying recorded streams with `wiremock`.
pub fn event_frames(events: &[(&str, &str)]) -> Vec<u8> {
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message as Frame};
    let mut body = Vec::new();
    for (event_type, payload) in events {
        let frame = Frame::new(payload.as_bytes().to_vec())
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String(event_type.to_string().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".to_string().into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".to_string().into()),
            ));
        write_message_to(&frame, &mut body).unwrap();
    }
    body
}
