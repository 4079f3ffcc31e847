//! Structured output: `send_structured` for a typed struct through `outputConfig` (Claude 4.5
//! and newer) and through a forced tool call (older models, or after Bedrock refuses
//! `outputConfig`), a reply that does not parse kept as a typed error, and the history left as
//! text a later turn can send.

use bedrock_chat::testing::FakeReply;
use bedrock_chat::{Error, OutputSchema, RetryPolicy, StructuredMode};
use serde::Deserialize;

use crate::support::{Harness, assert_valid_conversation};

/// A city, as the model must describe it.
#[derive(Debug, Deserialize, schemars::JsonSchema, PartialEq)]
struct City {
    name: String,
    population: u64,
    landmarks: Vec<Landmark>,
    capital: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema, PartialEq)]
struct Landmark {
    name: String,
    kind: Kind,
}

#[derive(Debug, Deserialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Museum,
    Park,
}

#[tokio::test]
async fn a_typed_struct_comes_back_through_output_config_on_a_model_that_has_it() {
    let h = Harness::start().await;
    let mut session = h.session().await;
    let city: City = session.send_structured("Describe Lyon.").await.unwrap();
    // The fake answers with the schema's simplest instance: the schema went over the wire.
    assert_eq!(city.landmarks.len(), 1);
    assert_eq!(city.landmarks[0].kind, Kind::Museum);
    let request = &h.fake.requests()[0];
    let format = &request.body["outputConfig"]["textFormat"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["structure"]["jsonSchema"]["name"], "City");
    let schema: serde_json::Value = serde_json::from_str(
        format["structure"]["jsonSchema"]["schema"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert!(request.body.get("toolConfig").is_none());
    // The exchange is kept as text, and the next turn sends it as a valid conversation.
    assert_eq!(session.history().len(), 2);
    assert!(session.history()[1].text().starts_with('{'));
    session.send("And its river?").await.unwrap();
    assert_valid_conversation(&h.fake.requests()[1]);
}

#[tokio::test]
async fn an_older_model_answers_through_a_forced_tool_call_kept_as_text() {
    let h = Harness::start().await;
    let mut session = h
        .builder()
        .await
        .model_id("us.anthropic.claude-3-haiku-20240307-v1:0")
        .build()
        .unwrap();
    for streamed_turn_after in [false, true] {
        let city: City = session.send_structured("Describe Lyon.").await.unwrap();
        assert_eq!(city.name, "example");
        let request = h.fake.requests().pop().unwrap();
        assert!(request.body.get("outputConfig").is_none());
        assert_eq!(
            request.body["toolConfig"]["toolChoice"]["tool"]["name"],
            "City"
        );
        // No tool call is left unanswered in the history: the reply is the call's JSON.
        let reply = session.history().last().unwrap();
        assert!(reply.tool_uses().next().is_none());
        assert_eq!(serde_json::from_str::<City>(&reply.text()).unwrap(), city);
        if streamed_turn_after {
            use futures::StreamExt;
            let mut stream = session.send_streaming("Thanks.").await.unwrap();
            while let Some(event) = stream.next().await {
                event.unwrap();
            }
        } else {
            session.send("Thanks.").await.unwrap();
        }
        let next = h.fake.requests().pop().unwrap();
        assert_valid_conversation(&next);
        assert!(
            next.body.get("outputConfig").is_none(),
            "only the structured turn asks"
        );
    }
}

#[tokio::test]
async fn a_refused_output_config_falls_back_to_a_tool_call_once_and_for_good() {
    let h = Harness::start().await;
    // A model the library believes has structured output, which this Bedrock refuses.
    h.fake.push(FakeReply::error(
        bedrock_chat::testing::FakeError::Validation(
            "This model doesn't support the outputConfig field.".into(),
        ),
    ));
    let mut session = h.session().await;
    let _: City = session.send_structured("Describe Lyon.").await.unwrap();
    let _: City = session.send_structured("Describe Nice.").await.unwrap();
    let asked: Vec<bool> = h
        .fake
        .requests()
        .iter()
        .map(|r| r.body.get("outputConfig").is_some())
        .collect();
    assert_eq!(
        asked,
        [true, false, false],
        "refused once, then tool calls only"
    );
}

#[tokio::test]
async fn a_reply_that_does_not_parse_is_a_typed_error_with_the_raw_text() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text(r#"{"name": "Lyon", "population": "many"}"#));
    let mut session = h
        .builder()
        .await
        .retry_policy(RetryPolicy::none())
        .structured_mode(StructuredMode::OutputConfig)
        .build()
        .unwrap();
    let error = session
        .send_structured::<City>("Describe Lyon.")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::StructuredReply { .. }), "{error:?}");
    assert_eq!(
        error.raw_reply(),
        Some(r#"{"name": "Lyon", "population": "many"}"#)
    );
    assert!(error.to_string().contains("City"), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_schema_that_is_not_an_object_is_refused_before_any_request() {
    let h = Harness::start().await;
    let mut session = h.session().await;
    let error = session
        .send_structured::<Vec<String>>("List rivers.")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("wrap the value in a struct"),
        "{error}"
    );
    let error = OutputSchema::new("bad name!", serde_json::json!({"type": "object"})).unwrap_err();
    assert!(error.to_string().contains("cannot name"), "{error}");
    assert_eq!(h.fake.request_count(), 0);
}
