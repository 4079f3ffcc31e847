//! Each turn is a `tracing` span named and attributed after OpenTelemetry's GenAI semantic
//! conventions, so any subscriber (an OpenTelemetry layer among them) sees model, usage, finish
//! reason, retries and time to first token.
//!
//! A test binary of its own: `tracing` caches, per call site, whether anyone listens, and tests
//! running on other threads without a subscriber would otherwise decide that for this one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../integration/support.rs"]
#[allow(dead_code)]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bedrock_chat::testing::{FakeError, FakeReply};
use futures::StreamExt;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::support::Harness;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_turn_is_a_span_with_the_gen_ai_attributes() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = Harness::start().await;
    h.fake
        .push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("Paris.").usage(12, 5))
        .push(FakeReply::chunks(["Ma", "drid."]).usage(20, 3));
    let mut session = h.session().await;
    session.send("France?").await.unwrap();
    let mut stream = session.send_streaming("Spain?").await.unwrap();
    while stream.next().await.is_some() {}
    drop(stream);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let closes: Vec<&str> = logs.lines().filter(|l| l.contains("close")).collect();
    assert_eq!(closes.len(), 2, "{logs}");
    for (line, (input, output)) in closes.iter().zip([(12, 5), (20, 3)]) {
        assert!(
            line.contains("gen_ai.request.model=us.anthropic.claude-sonnet-4-5"),
            "{line}"
        );
        assert!(line.contains("gen_ai.system=\"aws.bedrock\""), "{line}");
        assert!(
            line.contains(&format!("gen_ai.usage.input_tokens={input}")),
            "{line}"
        );
        assert!(
            line.contains(&format!("gen_ai.usage.output_tokens={output}")),
            "{line}"
        );
        assert!(
            line.contains("gen_ai.response.finish_reasons=[\"end_turn\"]"),
            "{line}"
        );
        assert!(
            line.contains("bedrock_chat.time_to_first_token_ms="),
            "{line}"
        );
    }
    assert!(
        closes[0].contains("bedrock_chat.retries=1"),
        "{}",
        closes[0]
    );
}
