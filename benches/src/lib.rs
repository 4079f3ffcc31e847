//! Shared set-up for the benchmarks: a fake Bedrock, the library's client on it, and a bare AWS
//! SDK client configured the same way, so each benchmark can compare the two in one run.
//!
//! Run the benchmarks with `cargo bench -p bedrock-chat-benches`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::config::StalledStreamProtectionConfig;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message as SdkMessage,
};
use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput};
use bedrock_chat::testing::FakeBedrock;
use bedrock_chat::{
    BedrockClient, ChatRequest, ChatSession, ContextPolicy, InferenceConfig, Message, ModelClient,
    RetryPolicy, StreamEvent,
};
use futures::StreamExt;

/// The model id every benchmark sends.
pub const MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// A reply of realistic length (about 70 tokens, 18 chunks when streamed).
pub const REPLY: &str = "The capital of France is Paris. It is the country's largest city, its political \
and cultural centre, and home to about two million people within the city limits.";

/// The library's client and a bare SDK client, both on the fake.
pub struct Clients {
    /// The fake server; keep it alive while benchmarking.
    pub fake: FakeBedrock,
    /// `bedrock_chat::BedrockClient` on the fake.
    pub library: BedrockClient,
    /// `aws_sdk_bedrockruntime::Client` on the fake, set up as the library sets up its own (the
    /// shared configuration loader): same credentials, region, endpoint and timeouts, SDK
    /// retries off.
    pub sdk: aws_sdk_bedrockruntime::Client,
}

/// Starts a fake on the current runtime and builds both clients.
pub async fn clients() -> Clients {
    clients_with_connect_timeout(bedrock_chat::DEFAULT_CONNECT_TIMEOUT).await
}

/// [`clients`] with another connect timeout on both sides: under Valgrind, which runs everything
/// some fifty times slower, a thousand connections opened at once can take longer than the
/// default ten seconds to be accepted.
pub async fn clients_with_connect_timeout(connect_timeout: Duration) -> Clients {
    let fake = FakeBedrock::start().await.expect("fake starts");
    fake.set_fallback(bedrock_chat::testing::FakeReply::text(REPLY).usage(21, 69));
    fake.set_recording(false);
    let library = fake
        .client_builder()
        .connect_timeout(connect_timeout)
        .build()
        .await
        .expect("client builds");
    // Set up as the AWS SDK's guide sets up a client (the shared configuration loader, then
    // `Client::new`), which is also how the library sets up its own: same loader defaults and
    // interceptors on both sides, so the comparison is of the library's code, not of two
    // configurations.
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(fake.endpoint_url())
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDFAKEBEDROCK",
            "fake-bedrock-secret",
            None,
            None,
            "bench",
        ))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(connect_timeout)
                .read_timeout(bedrock_chat::DEFAULT_READ_TIMEOUT)
                .build(),
        )
        // As the library sets its own: a stalled response may pause as long as the read timeout
        // (the SDK's default grace is 5 s, which a thousand turns at once under Valgrind exceed).
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(bedrock_chat::DEFAULT_READ_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    let sdk = aws_sdk_bedrockruntime::Client::new(&config);
    Clients { fake, library, sdk }
}

/// A conversation of `messages` messages (whole exchanges) with realistic sizes: questions of
/// about 200 bytes and answers of about 800.
pub fn history(messages: usize) -> Vec<Message> {
    (0..messages)
        .map(|i| {
            if i % 2 == 0 {
                Message::user(format!(
                    "Question {i}: {}",
                    "tell me more about rivers and seas. ".repeat(5)
                ))
            } else {
                Message::assistant(format!(
                    "Answer {i}: {}",
                    "Rivers flow to the sea through valleys and plains. ".repeat(16)
                ))
            }
        })
        .collect()
}

/// The same conversation in the SDK's types, as an application on the bare SDK would keep it.
pub fn sdk_history(history: &[Message]) -> Vec<SdkMessage> {
    history
        .iter()
        .map(|m| {
            let role = match m.role() {
                bedrock_chat::Role::User => ConversationRole::User,
                _ => ConversationRole::Assistant,
            };
            SdkMessage::builder()
                .role(role)
                .content(ContentBlock::Text(m.text()))
                .build()
                .unwrap()
        })
        .collect()
}

/// One user message in the SDK's types.
pub fn sdk_user(text: &str) -> SdkMessage {
    SdkMessage::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_string()))
        .build()
        .unwrap()
}

/// The inference settings the library sends by default, for the bare SDK calls.
pub fn sdk_inference() -> InferenceConfiguration {
    InferenceConfiguration::builder()
        .max_tokens(bedrock_chat::DEFAULT_MAX_TOKENS as i32)
        .build()
}

/// The bytes of text in a conversation.
pub fn text_bytes(history: &[Message]) -> usize {
    history.iter().map(Message::text_len).sum()
}

// --- the measured operations, shared by the criterion and the ratio benchmarks ---------------

/// The question every turn asks.
pub const QUESTION: &str = "What is the capital of France?";

/// A session on `client` for benchmarking: no retries, starting from `history`, with a context
/// budget that holds all of it (a million tokens, Claude's largest window). The default budget
/// (150,000 tokens) sends only the newest 85% of the 1,000-message history, so the library would
/// be timed sending less than the bare SDK; with this budget the context window is still
/// computed every turn, as by default, and both sides send the same bytes.
pub fn session(client: &BedrockClient, history: Vec<Message>) -> ChatSession {
    ChatSession::builder(client.clone())
        .model_id(MODEL)
        .retry_policy(RetryPolicy::none())
        .context_policy(ContextPolicy::TokenBudget(1_000_000))
        .history(history)
        .build()
        .unwrap()
}

/// One whole-reply turn through the session; the exchange is then undone so the session's
/// history stays the same size. Returns the time of the turn alone.
pub async fn library_turn(session: &mut ChatSession) -> Duration {
    let start = Instant::now();
    let reply = session.send(QUESTION).await.unwrap();
    let took = start.elapsed();
    // Dropped after the clock stops, as `sdk_turn` drops the SDK's output.
    std::hint::black_box(reply);
    session.undo();
    took
}

/// Checks that a turn of `session` and a turn of the bare SDK with `past` send Bedrock the same
/// bytes, so that a comparison of the two compares the same work; panics if not.
pub async fn assert_same_request(
    clients: &Clients,
    session: &mut ChatSession,
    past: &[SdkMessage],
) {
    assert_same_bytes(
        clients,
        async || {
            library_turn(session).await;
        },
        past,
    )
    .await;
}

/// Checks that `library` (one request of the library's) and a turn of the bare SDK with `past`
/// send Bedrock the same bytes; panics if not.
pub async fn assert_same_bytes(
    clients: &Clients,
    library: impl AsyncFnOnce(),
    past: &[SdkMessage],
) {
    clients.fake.reset();
    clients.fake.set_recording(true);
    library().await;
    sdk_turn(&clients.sdk, past).await;
    clients.fake.set_recording(false);
    let sent = clients.fake.requests();
    clients.fake.reset();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].body == sent[1].body,
        "the library sent {} bytes of JSON and the bare SDK {}: not the same request",
        sent[0].body.to_string().len(),
        sent[1].body.to_string().len()
    );
}

/// One request of the library's `BedrockClient` alone, with no session: a request built for the
/// question (as a session builds one each turn) and sent through the `ModelClient` trait.
/// Compared with [`library_turn`], it says how much of a turn's cost is the client's and how
/// much the session's.
pub async fn client_turn(client: &BedrockClient) -> Duration {
    let start = Instant::now();
    let request = ChatRequest::new(MODEL, vec![Message::user(QUESTION)])
        .with_inference(InferenceConfig::new().max_tokens(bedrock_chat::DEFAULT_MAX_TOKENS));
    let reply = ModelClient::converse(client, &request).await.unwrap();
    let took = start.elapsed();
    std::hint::black_box(reply);
    took
}

/// One `converse` call on the bare SDK, sending `past` (cloned, as an application keeping its
/// own history would) and the question.
pub async fn sdk_turn(sdk: &aws_sdk_bedrockruntime::Client, past: &[SdkMessage]) -> Duration {
    let start = Instant::now();
    let mut messages = past.to_vec();
    messages.push(sdk_user(QUESTION));
    let output = sdk
        .converse()
        .model_id(MODEL)
        .set_messages(Some(messages))
        .inference_config(sdk_inference())
        .send()
        .await
        .unwrap();
    std::hint::black_box(output.output());
    start.elapsed()
}

/// One streamed turn through the session: the time to the first text, or to the end.
pub async fn library_stream(session: &mut ChatSession, to_end: bool) -> Duration {
    let start = Instant::now();
    let mut first_text = None;
    let mut stream = session.send_streaming(QUESTION).await.unwrap();
    while let Some(event) = stream.next().await {
        if matches!(event.unwrap(), StreamEvent::TextDelta(_)) && first_text.is_none() {
            first_text = Some(start.elapsed());
        }
    }
    let took = start.elapsed();
    drop(stream);
    session.undo();
    if to_end {
        took
    } else {
        first_text.unwrap_or(took)
    }
}

/// One `converse_stream` call on the bare SDK: the time to the first text, or to the end.
pub async fn sdk_stream(sdk: &aws_sdk_bedrockruntime::Client, to_end: bool) -> Duration {
    let start = Instant::now();
    let mut first_text = None;
    let mut output = sdk
        .converse_stream()
        .model_id(MODEL)
        .messages(sdk_user(QUESTION))
        .inference_config(sdk_inference())
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(event) = output.stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(delta) = event
            && let Some(ContentBlockDelta::Text(t)) = delta.delta
        {
            text.push_str(&t);
            if first_text.is_none() {
                first_text = Some(start.elapsed());
            }
        }
    }
    let took = start.elapsed();
    std::hint::black_box(text);
    if to_end {
        took
    } else {
        first_text.unwrap_or(took)
    }
}

/// `sessions` new sessions on one shared client, one turn each, all at once; asserts that every
/// turn completes.
pub async fn library_batch(client: &BedrockClient, sessions: usize) -> Duration {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..sessions {
        let mut s = session(client, Vec::new());
        tasks.spawn(async move { s.send(QUESTION).await.map(std::hint::black_box) });
    }
    let mut completed = 0;
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
        completed += 1;
    }
    assert_eq!(completed, sessions, "every turn completes");
    start.elapsed()
}

/// `sessions` concurrent `converse` calls on one bare SDK client; asserts that every call
/// completes.
pub async fn sdk_batch(sdk: &aws_sdk_bedrockruntime::Client, sessions: usize) -> Duration {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..sessions {
        let sdk = sdk.clone();
        tasks.spawn(async move { sdk_turn(&sdk, &[]).await });
    }
    let mut completed = 0;
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
        completed += 1;
    }
    assert_eq!(completed, sessions, "every turn completes");
    start.elapsed()
}
