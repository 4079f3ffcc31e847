//! Credentials and session tokens never appear in output, logs, errors or `Debug` text.
//!
//! A test binary of its own: `tracing` caches per call site whether anyone listens, so in a
//! binary where other tests log concurrently with no subscriber, this test's capture could miss
//! events and pass without having looked.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply, StreamFault};
use bedrock_chat::{BedrockClient, ChatConfig, ChatSession, RetryPolicy};
use futures::StreamExt;

const ACCESS_KEY: &str = "AKIDSENTINEL0000XYZ";
const SECRET: &str = "SECRETSENTINEL+abc/def";
const TOKEN: &str = "TOKENSENTINEL//session+token==";

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    for secret in [SECRET, TOKEN, "SECRETSENTINEL", "TOKENSENTINEL"] {
        assert!(!text.contains(secret), "{what} contains a secret:\n{text}");
    }
}

/// Everything a session does, at every log level the library's own code uses, with every kind of
/// outcome; the SDK's signing internals are excluded the way the REPL excludes them (see
/// `bedrock_chat::secret_safe_log_filter`).
#[test]
fn sentinel_credentials_never_leak() {
    let captured = Captured::default();
    let writer = captured.clone();
    use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::new("trace").and(filter_fn(bedrock_chat::secret_safe_log_filter));
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_filter(filter),
    );
    let mut texts = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let fake = FakeBedrock::start().await.unwrap();
            fake.push(FakeReply::text("fine"))
                .push(FakeReply::error(FakeError::Throttling))
                .push(FakeReply::text("streamed"))
                .push(FakeReply::error(FakeError::AccessDenied))
                .push(FakeReply::text("a b c").fault_after(1, StreamFault::DropConnection));
            let client = BedrockClient::builder()
                .region("us-east-1")
                .endpoint_url(fake.endpoint_url())
                .credentials_provider(aws_credential_types::Credentials::new(
                    ACCESS_KEY,
                    SECRET,
                    Some(TOKEN.to_string()),
                    None,
                    "sentinel",
                ))
                .build()
                .await
                .unwrap();
            texts.push(format!("{client:?}"));
            let mut session = ChatSession::builder(client.clone())
                .retry_policy(
                    RetryPolicy::default().initial_delay(std::time::Duration::from_millis(1)),
                )
                .build()
                .unwrap();
            session.send("one").await.unwrap();
            session
                .send_streaming("two")
                .await
                .unwrap()
                .finish()
                .await
                .unwrap();
            let denied = session.send("three").await.unwrap_err();
            texts.push(format!("{denied}"));
            texts.push(format!("{denied:?}"));
            texts.push(format!("{:?}", anyhow_like_chain(&denied)));
            let mut stream = session.send_streaming("four").await.unwrap();
            while let Some(event) = stream.next().await {
                if let Err(error) = event {
                    texts.push(format!("{error} {error:?} {}", anyhow_like_chain(&error)));
                }
            }
            drop(stream);
            texts.push(format!("{session:?}"));
            assert!(fake.requests().iter().all(|r| r.signed));
        });
    });
    for text in &texts {
        assert_clean("an error or Debug text", text);
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "the capture works: {logs}");
    assert_clean("the logs", &logs);
}

#[test]
fn config_and_builders_redact_credentials_from_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        format!("AWS_ACCESS_KEY_ID={ACCESS_KEY}\nAWS_SECRET_ACCESS_KEY={SECRET}\nAWS_SESSION_TOKEN={TOKEN}\n"),
    )
    .unwrap();
    let config = ChatConfig::from_env_file(&path).unwrap();
    assert_clean("ChatConfig's Debug", &format!("{config:?}"));
}

/// The whole source chain, as `anyhow`'s `{:#}` would print it.
fn anyhow_like_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause} / {cause:?}"));
        source = cause.source();
    }
    text
}
