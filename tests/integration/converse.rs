//! Whole replies through `converse`.

use std::time::Duration;

use bedrock_chat::testing::{FakeReply, Operation};
use bedrock_chat::{InferenceConfig, Role, StopReason};

use crate::support::{Harness, assert_valid_conversation, pairs};

#[tokio::test]
async fn a_reply_comes_back_with_usage_latency_and_request_id() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("The capital of France is Paris.").usage(21, 69));
    let mut session = h.session().await;

    let reply = session
        .send("What is the capital of France?")
        .await
        .unwrap();

    assert_eq!(reply.text(), "The capital of France is Paris.");
    assert_eq!(reply.stop_reason(), &StopReason::EndTurn);
    assert_eq!(reply.usage().input_tokens, 21);
    assert_eq!(reply.usage().output_tokens, 69);
    assert_eq!(reply.latency(), Some(Duration::from_millis(12)));
    assert!(
        reply
            .request_id()
            .unwrap()
            .starts_with("00000000-0000-4000-8000-")
    );
    let requests = h.fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].operation, Operation::Converse);
    assert!(requests[0].signed, "the SDK signs requests with SigV4");
}

#[tokio::test]
async fn every_turn_sends_the_whole_conversation_and_the_system_prompt() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("Paris."))
        .push(FakeReply::text("Madrid."));
    let mut session = h
        .builder()
        .await
        .system_prompt("Answer in one word.")
        .inference(
            InferenceConfig::new()
                .max_tokens(100)
                .temperature(0.2)
                .top_p(0.9)
                .stop_sequence("END"),
        )
        .build()
        .unwrap();

    session.send("Capital of France?").await.unwrap();
    session.send("And of Spain?").await.unwrap();

    let requests = h.fake.requests();
    assert_eq!(
        requests[1].messages(),
        pairs(&[
            ("user", "Capital of France?"),
            ("assistant", "Paris."),
            ("user", "And of Spain?")
        ])
    );
    for request in &requests {
        assert_valid_conversation(request);
        assert_eq!(request.system().as_deref(), Some("Answer in one word."));
        assert_eq!(
            request.model_id,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        let config = &request.body["inferenceConfig"];
        assert_eq!(config["maxTokens"], 100);
        assert!((config["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
        assert_eq!(config["stopSequences"][0], "END");
    }
    let history = session.history();
    assert_eq!(history.len(), 4);
    assert_eq!(history[3].role(), Role::Assistant);
    assert_eq!(history[3].text(), "Madrid.");
}

#[tokio::test]
async fn unknown_stop_reasons_do_not_break_the_client() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("Hi").stop_reason("brand_new_reason"));
    let mut session = h.session().await;
    let reply = session.send("Hello").await.unwrap();
    assert_eq!(
        reply.stop_reason(),
        &StopReason::Other("brand_new_reason".into())
    );
}

#[tokio::test]
async fn usage_totals_add_up_over_turns_with_cache_figures() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("One").usage(10, 1))
        .push(FakeReply::text("Two").usage(20, 2).cache_usage(5, 7));
    let mut session = h.session().await;
    session.send("1").await.unwrap();
    session.send("2").await.unwrap();
    let usage = session.usage();
    assert_eq!(usage.turns().len(), 2);
    assert_eq!(usage.total().input_tokens, 30);
    assert_eq!(usage.total().output_tokens, 3);
    assert_eq!(usage.total().cache_read_input_tokens, Some(5));
    assert_eq!(usage.total().cache_write_input_tokens, Some(7));
}

#[tokio::test]
async fn the_fake_counts_but_keeps_no_requests_while_recording_is_off() {
    // Benchmarks turn recording off so the fake's memory does not grow with every turn; a
    // fake that went on keeping the bodies made every benchmarked turn grow the heap by 3 KB.
    let h = Harness::start().await;
    let mut session = h.session().await;
    session.send("kept").await.unwrap();
    h.fake.set_recording(false);
    session.send("not kept").await.unwrap();
    session.send("not kept either").await.unwrap();
    h.fake.set_recording(true);
    session.send("kept again").await.unwrap();

    let requests = h.fake.requests();
    let kept: Vec<&str> = requests
        .iter()
        .map(|r| {
            let newest = r.body["messages"].as_array().unwrap().last().unwrap();
            newest["content"][0]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(kept, ["kept", "kept again"]);
    assert_eq!(h.fake.request_count(), 4, "every request is counted");
    h.fake.reset();
    assert_eq!(h.fake.request_count(), 0);
}
