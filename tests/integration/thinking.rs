//! Extended thinking: the budget reaches Bedrock, reasoning streams as its own events, is kept
//! in the history with its signature (the fake refuses a tool round without it, as Bedrock
//! does), and is never part of the reply's text.

use bedrock_chat::testing::FakeReply;
use bedrock_chat::{
    ContentBlock, FunctionTool, InferenceConfig, Reasoning, RetryPolicy, StreamEvent,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::support::{Harness, assert_valid_conversation};

#[derive(Deserialize, schemars::JsonSchema)]
struct NoInput {}

fn clock() -> FunctionTool {
    FunctionTool::new("clock", "The time", |_: NoInput| async move {
        Ok::<_, String>("12:00")
    })
    .unwrap()
}

#[tokio::test]
async fn reasoning_is_streamed_kept_with_its_signature_and_sent_back_in_a_tool_round() {
    for streamed in [false, true] {
        let h = Harness::start().await;
        h.fake
            .push(
                FakeReply::tool_use("t1", "clock", json!({}))
                    .thinking("The user wants the time; I should ask the clock."),
            )
            .push(FakeReply::text("It is noon.").thinking("The clock says 12:00."));
        let mut session = h
            .builder()
            .await
            .retry_policy(RetryPolicy::none())
            .inference(InferenceConfig::new().max_tokens(4000))
            .thinking_budget(2048)
            .tool(clock())
            .build()
            .unwrap();
        let (reply, reasoning_seen) = if streamed {
            let mut stream = session.send_streaming("Time?").await.unwrap();
            let mut reasoning = String::new();
            while let Some(event) = stream.next().await {
                if let StreamEvent::ReasoningDelta { text, .. } = event.unwrap() {
                    reasoning.push_str(&text);
                }
            }
            (stream.finish().await.unwrap(), reasoning)
        } else {
            (session.send("Time?").await.unwrap(), String::new())
        };
        assert_eq!(
            reply.text(),
            "It is noon.",
            "reasoning is not part of the text"
        );
        if streamed {
            assert_eq!(
                reasoning_seen,
                "The user wants the time; I should ask the clock.The clock says 12:00."
            );
        }
        let requests = h.fake.requests();
        assert_eq!(
            requests.len(),
            2,
            "the fake refused the tool round: {:?}",
            h.fake.requests().last().map(|r| r.body.clone())
        );
        assert_eq!(
            requests[0].body["additionalModelRequestFields"]["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_valid_conversation(&requests[1]);
        let history = session.history();
        assert_eq!(history.len(), 4);
        match &history[1].content()[0] {
            ContentBlock::ReasoningContent(Reasoning::ReasoningText { text, signature }) => {
                assert_eq!(text, "The user wants the time; I should ask the clock.");
                assert!(signature.is_some());
            }
            other => panic!("the tool call's reasoning was not kept first: {other:?}"),
        }
        assert_eq!(history[3].text(), "It is noon.");
    }
}

#[tokio::test]
async fn thinking_budgets_are_checked_against_the_other_settings() {
    let h = Harness::start().await;
    let h = &h;
    let build = |budget: u32, inference: InferenceConfig| async move {
        h.builder()
            .await
            .inference(inference)
            .thinking_budget(budget)
            .build()
            .map(drop)
    };
    let error = build(512, InferenceConfig::new().max_tokens(4000))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("at least 1024"), "{error}");
    let error = build(4000, InferenceConfig::new().max_tokens(4000))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("less than max tokens"),
        "{error}"
    );
    let error = build(
        2048,
        InferenceConfig::new().max_tokens(4000).temperature(0.2),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("temperature"), "{error}");
    build(2048, InferenceConfig::new().max_tokens(4000))
        .await
        .unwrap();
}

/// A session's settings are checked where they change, so that a turn need not check them again:
/// inference settings set later, or brought by a loaded conversation, that the session's thinking
/// budget does not allow are refused there, and the session is unchanged.
#[tokio::test]
async fn later_inference_settings_are_checked_against_the_thinking_budget_where_they_are_set() {
    let h = Harness::start().await;
    let mut session = h
        .builder()
        .await
        .inference(InferenceConfig::new().max_tokens(4000))
        .thinking_budget(2048)
        .build()
        .unwrap();
    let error = session
        .set_inference(InferenceConfig::new().max_tokens(1000))
        .unwrap_err();
    assert!(
        error.to_string().contains("less than max tokens"),
        "{error}"
    );
    let error = session
        .set_inference(InferenceConfig::new().max_tokens(4000).top_p(0.5))
        .unwrap_err();
    assert!(error.to_string().contains("top-p"), "{error}");
    assert_eq!(session.inference().max_tokens, Some(4000), "unchanged");
    session
        .set_inference(InferenceConfig::new().max_tokens(8000))
        .unwrap();

    let mut other = h
        .builder()
        .await
        .inference(InferenceConfig::new().temperature(0.2))
        .build()
        .unwrap();
    other.send("hello").await.unwrap();
    let saved = other.snapshot();
    let error = session.restore(saved).unwrap_err();
    assert!(error.to_string().contains("temperature"), "{error}");
    assert_eq!(session.inference().max_tokens, Some(8000), "unchanged");
    assert!(session.history().is_empty(), "unchanged");
    assert_eq!(h.fake.request_count(), 1, "only the other session's turn");
}
