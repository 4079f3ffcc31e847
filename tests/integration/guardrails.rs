//! Guardrails: the configuration reaches Bedrock, an intervention is reported as such with its
//! trace, and the blocked exchange is not kept (it would be blocked again every turn).

use bedrock_chat::testing::FakeReply;
use bedrock_chat::{GuardrailConfig, RetryPolicy, StopReason, StreamEvent, StreamProcessingMode};
use futures::StreamExt;

use crate::support::Harness;

#[tokio::test]
async fn an_intervention_is_reported_with_its_trace_and_not_kept_whole_and_streamed() {
    for streamed in [false, true] {
        let h = Harness::start().await;
        h.fake
            .push(FakeReply::text("Hello."))
            .push(FakeReply::guardrail_intervened(
                "Sorry, I can't help with that.",
                "VIOLENCE",
            ))
            .push(FakeReply::text("Fine."));
        let guardrail =
            GuardrailConfig::new("gr-abc123", "2").stream_processing(StreamProcessingMode::Async);
        let mut session = h
            .builder()
            .await
            .retry_policy(RetryPolicy::none())
            .guardrail(guardrail)
            .build()
            .unwrap();
        session.send("hi").await.unwrap();
        let response = if streamed {
            let mut stream = session.send_streaming("something violent").await.unwrap();
            let mut saw_trace = false;
            while let Some(event) = stream.next().await {
                saw_trace |= matches!(event.unwrap(), StreamEvent::GuardrailTrace(_));
            }
            assert!(saw_trace, "the trace event was not passed on");
            stream.finish().await.unwrap()
        } else {
            session.send("something violent").await.unwrap()
        };
        assert_eq!(*response.stop_reason(), StopReason::GuardrailIntervened);
        assert_eq!(response.text(), "Sorry, I can't help with that.");
        let trace = response.guardrail_trace().expect("the trace is available");
        assert_eq!(trace.action_reason.as_deref(), Some("Guardrail blocked."));
        assert_eq!(trace.findings.len(), 1);
        assert_eq!(
            (
                trace.findings[0].source.as_str(),
                trace.findings[0].policy.as_str(),
                trace.findings[0].name.as_str(),
                trace.findings[0].action.as_str()
            ),
            ("input", "content", "VIOLENCE", "BLOCKED")
        );
        // Not kept: the next turn does not send the blocked message again.
        assert_eq!(session.history().len(), 2);
        session.send("something else").await.unwrap();
        let requests = h.fake.requests();
        let last = requests.last().unwrap();
        assert!(!last.messages().iter().any(|(_, t)| t.contains("violent")));
        let config = &requests[1].body["guardrailConfig"];
        assert_eq!(config["guardrailIdentifier"], "gr-abc123");
        assert_eq!(config["guardrailVersion"], "2");
        assert_eq!(config["trace"], "enabled");
        if streamed {
            assert_eq!(config["streamProcessingMode"], "async");
        } else {
            assert!(config.get("streamProcessingMode").is_none(), "{config}");
        }
        // Billed all the same.
        assert_eq!(session.usage().turns().len(), 3);
    }
}

#[test]
fn guardrails_parse_from_settings_with_clear_errors() {
    let parsed: GuardrailConfig = "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-abc:DRAFT"
        .parse()
        .unwrap();
    assert_eq!(
        parsed.id,
        "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-abc"
    );
    assert_eq!(parsed.version, "DRAFT");
    for bad in ["gr-abc", "gr-abc:latest", ":1"] {
        let error = bad.parse::<GuardrailConfig>().unwrap_err();
        assert!(!error.to_string().is_empty(), "{bad}");
    }
}
