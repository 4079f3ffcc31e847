//! Responses recorded from real Bedrock, replayed by `wiremock`, a server this project did not
//! write, with frames encoded here independently of `FakeBedrock`: a check that the client and
//! the fake agree with the real wire format, not only with each other.

use std::time::Duration;

use bedrock_chat::{Error, StopReason, StreamEvent};

use crate::support::event_frames;
use crate::support::session_on_mock as session;
use futures::StreamExt;
use wiremock::matchers::{body_partial_json, header_exists, method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A real Claude Sonnet 4.5 Converse answer.
const CONVERSE_BODY: &str = r#"{"metrics":{"latencyMs":2080},"output":{"message":{"content":[{"text":"The capital of France is **Paris**."}],"role":"assistant"}},"stopReason":"end_turn","usage":{"cacheReadInputTokens":0,"cacheWriteInputTokens":0,"inputTokens":21,"outputTokens":69,"serverToolUsage":{},"totalTokens":90}}"#;

/// A real Claude Sonnet 4.6 ConverseStream answer to "Reply with exactly OK.", frame by frame.
const STREAM_EVENTS: [(&str, &str); 6] = [
    (
        "messageStart",
        r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012","role":"assistant"}"#,
    ),
    (
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":"OK"},"p":"abcdefghijklmnopqrstuvwx"}"#,
    ),
    (
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":"."},"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"}"#,
    ),
    ("contentBlockStop", r#"{"contentBlockIndex":0,"p":"ab"}"#),
    (
        "messageStop",
        r#"{"additionalModelResponseFields":{"delta":{"stop_sequence":null}},"p":"abcdefghijklmnopqrstuvw","stopReason":"end_turn"}"#,
    ),
    (
        "metadata",
        r#"{"metrics":{"latencyMs":802},"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS","usage":{"inputTokens":12,"outputTokens":5,"serverToolUsage":{},"totalTokens":17}}"#,
    ),
];

fn stream_body() -> Vec<u8> {
    event_frames(&STREAM_EVENTS)
}

#[tokio::test]
async fn a_recorded_converse_answer_is_read_whole() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/model/[^/]+/converse$"))
        .and(header_exists("authorization"))
        .and(body_partial_json(serde_json::json!({
            "messages": [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-amzn-requestid", "4bd0ad1e-1ec9-4bbd-9c63-2c4f1f6b0b6b")
                .set_body_raw(CONVERSE_BODY, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let reply = session(&server)
        .await
        .send("What is the capital of France?")
        .await
        .unwrap();

    assert_eq!(reply.text(), "The capital of France is **Paris**.");
    assert_eq!(reply.stop_reason(), &StopReason::EndTurn);
    assert_eq!(
        (reply.usage().input_tokens, reply.usage().output_tokens),
        (21, 69)
    );
    assert_eq!(reply.usage().cache_read_input_tokens, Some(0));
    assert_eq!(reply.latency(), Some(Duration::from_millis(2080)));
    assert_eq!(
        reply.request_id(),
        Some("4bd0ad1e-1ec9-4bbd-9c63-2c4f1f6b0b6b")
    );
}

#[tokio::test]
async fn a_recorded_stream_is_read_event_by_event() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/model/[^/]+/converse-stream$"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-amzn-requestid", "0d5c2c55-0f0a-4d59-9a5e-6f1fd0b4a1c2")
                .set_body_raw(stream_body(), "application/vnd.amazon.eventstream"),
        )
        .mount(&server)
        .await;

    let mut session = session(&server).await;
    let mut stream = session
        .send_streaming("Reply with exactly OK.")
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event.unwrap());
    }
    drop(stream);

    assert_eq!(events[0], StreamEvent::TextDelta("OK".into()));
    assert_eq!(events[1], StreamEvent::TextDelta(".".into()));
    assert_eq!(events[2], StreamEvent::ContentBlockStop { index: 0 });
    assert_eq!(events[3], StreamEvent::MessageStop(StopReason::EndTurn));
    assert!(matches!(
        events[4],
        StreamEvent::Metadata { usage, latency: Some(latency) }
            if usage.input_tokens == 12 && usage.output_tokens == 5 && latency == Duration::from_millis(802)
    ));
    assert_eq!(session.history()[1].text(), "OK.");
}

#[tokio::test]
async fn a_recorded_validation_error_keeps_bedrocks_message() {
    let server = MockServer::start().await;
    let message = "The content field in the Message object at messages.1 is empty. Add a ContentBlock object to the content field and try again.";
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header(
                    "x-amzn-errortype",
                    "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                )
                .insert_header("x-amzn-requestid", "a1b2c3")
                .set_body_raw(
                    serde_json::json!({ "message": message }).to_string(),
                    "application/json",
                ),
        )
        .mount(&server)
        .await;

    let error = crate::support::session_on_mock(&server)
        .await
        .send("hi")
        .await
        .unwrap_err();

    assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
    assert_eq!(error.service_message(), Some(message));
    assert_eq!(error.request_id(), Some("a1b2c3"));
    assert!(!error.is_retryable());
}
