//! Streamed replies through `converse_stream`: delivery, partial failures and cancellation.

use bedrock_chat::testing::{FakeError, FakeReply, Operation, StreamFault};
use bedrock_chat::{Error, StopReason, StreamEvent};
use futures::StreamExt;

use crate::support::{Harness, assert_valid_conversation, pairs};

async fn collect_text(stream: &mut bedrock_chat::ChatStream<'_>) -> (String, Option<Error>) {
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::TextDelta(delta)) => text.push_str(&delta),
            Ok(_) => {}
            Err(error) => return (text, Some(error)),
        }
    }
    (text, None)
}

#[tokio::test]
async fn a_streamed_reply_arrives_in_chunks_and_is_committed_at_the_end() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::chunks(["OK", "."]).usage(12, 5));
    let mut session = h.session().await;

    let mut stream = session
        .send_streaming("Reply with exactly OK.")
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event.unwrap());
    }
    let response = stream.response().unwrap().clone();
    drop(stream);

    assert_eq!(events[0], StreamEvent::TextDelta("OK".into()));
    assert_eq!(events[1], StreamEvent::TextDelta(".".into()));
    assert_eq!(events[2], StreamEvent::ContentBlockStop { index: 0 });
    assert_eq!(events[3], StreamEvent::MessageStop(StopReason::EndTurn));
    assert!(matches!(events[4], StreamEvent::Metadata { usage, .. } if usage.output_tokens == 5));
    assert_eq!(response.text(), "OK.");
    assert!(response.request_id().is_some());
    assert_eq!(session.history().len(), 2);
    assert_eq!(session.history()[1].text(), "OK.");
    assert_eq!(session.usage().total().input_tokens, 12);
    assert_eq!(h.fake.requests()[0].operation, Operation::ConverseStream);
}

#[tokio::test]
async fn finish_collects_the_whole_reply() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::text("one two three"));
    let mut session = h.session().await;
    let reply = session
        .send_streaming("count")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(reply.text(), "one two three");
    assert_eq!(session.history().len(), 2);
}

#[tokio::test]
async fn each_fault_after_partial_text_is_an_interruption_carrying_that_text() {
    let faults = [
        StreamFault::Exception(FakeError::Throttling),
        StreamFault::Exception(FakeError::ModelError),
        StreamFault::Exception(FakeError::InternalServer),
        StreamFault::CorruptFrame,
        StreamFault::DropConnection,
        StreamFault::Truncate,
    ];
    for fault in faults {
        let h = Harness::start().await;
        h.fake
            .push(FakeReply::text("first turn"))
            .push(FakeReply::chunks(["Hel", "lo ", "wor", "ld"]).fault_after(2, fault.clone()));
        let mut session = h.session().await;
        session.send("warm up").await.unwrap();
        let before = session.history().to_vec();

        let mut stream = session.send_streaming("Say hello world").await.unwrap();
        let (text, error) = collect_text(&mut stream).await;
        drop(stream);

        let error = error.unwrap_or_else(|| panic!("{fault:?} did not fail the stream"));
        assert_eq!(text, "Hello ", "{fault:?}");
        assert_eq!(error.partial_text(), Some("Hello "), "{fault:?}: {error}");
        assert!(
            matches!(error, Error::StreamInterrupted { .. }),
            "{fault:?}: {error:?}"
        );
        assert_eq!(
            session.history(),
            &before[..],
            "{fault:?} changed the history"
        );
        assert_eq!(
            h.fake.request_count(),
            2,
            "{fault:?}: a stream with output was retried"
        );
    }
}

#[tokio::test]
async fn a_failure_before_any_text_is_retried_without_duplicating_output() {
    let h = Harness::start().await;
    h.fake
        .push(
            FakeReply::text("never seen")
                .fault_after(0, StreamFault::Exception(FakeError::Throttling)),
        )
        .push(FakeReply::text("never seen").fault_after(0, StreamFault::DropConnection))
        .push(FakeReply::error(FakeError::ServiceUnavailable))
        .push(FakeReply::chunks(["Fine", "."]));
    let mut session = h.session().await;

    let mut stream = session.send_streaming("hi").await.unwrap();
    let (text, error) = collect_text(&mut stream).await;
    drop(stream);

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text, "Fine.");
    assert_eq!(h.fake.request_count(), 4);
    assert_eq!(h.retries().len(), 3);
    assert_eq!(session.history()[1].text(), "Fine.");
}

#[tokio::test]
async fn a_dropped_stream_leaves_the_history_unchanged_and_the_next_turn_works() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("first"))
        .push(FakeReply::chunks(["a ", "long ", "answer"]))
        .push(FakeReply::text("second"));
    let mut session = h.session().await;
    session.send("one").await.unwrap();

    {
        let mut stream = session.send_streaming("cancel me").await.unwrap();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first, StreamEvent::TextDelta("a ".into()));
        // Dropped here, before the end: the turn is abandoned.
    }
    assert_eq!(session.history().len(), 2);

    session.send("two").await.unwrap();
    let last = h.fake.requests().pop().unwrap();
    assert_valid_conversation(&last);
    assert_eq!(
        last.messages(),
        pairs(&[("user", "one"), ("assistant", "first"), ("user", "two")])
    );
}

#[tokio::test]
async fn a_stream_read_to_the_end_after_an_interruption_yields_nothing_more() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::chunks(["a", "b"]).fault_after(1, StreamFault::CorruptFrame));
    let mut session = h.session().await;
    let mut stream = session.send_streaming("x").await.unwrap();
    let (_, error) = collect_text(&mut stream).await;
    assert!(error.is_some());
    assert!(stream.next().await.is_none());
    assert!(stream.response().is_none());
}

#[tokio::test(start_paused = true)]
async fn each_delta_reaches_the_caller_as_soon_as_its_frame_is_sent() {
    // The fake sends a frame every 10 s of (paused) time: messageStart at 10 s, then the deltas
    // at 20, 30, 40 s. If anything between the socket and the caller buffered, a delta would
    // arrive only with a later frame, at a later virtual instant.
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::chunks(["a", "b", "c"]).chunk_delay(std::time::Duration::from_secs(10)));
    let mut session = h.session().await;
    let start = tokio::time::Instant::now();
    let mut stream = session.send_streaming("pace yourself").await.unwrap();
    let mut arrivals = Vec::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta(text) = event.unwrap() {
            arrivals.push((text, start.elapsed().as_secs()));
        }
    }
    assert_eq!(
        arrivals,
        [
            ("a".to_string(), 20),
            ("b".to_string(), 30),
            ("c".to_string(), 40)
        ]
    );
}

#[tokio::test]
async fn a_stopped_reply_is_billed_in_usage_with_estimated_tokens() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("first").usage(100, 10))
        .push(FakeReply::chunks(["a ".repeat(300), "never".into()]));
    let mut session = h.session().await;
    session.send("one").await.unwrap();
    {
        let mut stream = session.send_streaming("cancel me").await.unwrap();
        stream.next().await.unwrap().unwrap();
        // Dropped before the closing metadata: Bedrock's count never arrived.
    }
    let usage = session.usage();
    assert_eq!(usage.turns().len(), 2, "the stopped reply was not counted");
    assert_eq!(usage.unfinished_turns(), 1);
    let stopped = &usage.turns()[1];
    assert!(!stopped.complete);
    assert!(stopped.estimated);
    // 600 bytes of text received: some tokens, not none and not absurdly many.
    assert!(
        (100..=700).contains(&stopped.usage.output_tokens),
        "{stopped:?}"
    );
    assert!(stopped.usage.input_tokens > 0, "{stopped:?}");
    assert_eq!(
        session.history().len(),
        2,
        "the stopped reply entered the history"
    );
}

/// A stopped reply's input is recorded at its likeliest count, not the high estimate that keeps
/// requests within limits: later in a conversation, the last turn's count plus what was added.
/// Here the fake counts as a tokenizer would (4.5 bytes a token, 3 a message, 6 a request), and
/// the stopped turn's estimate is checked against what it would have counted.
#[tokio::test]
async fn a_stopped_turn_is_estimated_within_a_quarter_of_the_count() {
    let count = |bytes: usize, messages: usize| {
        (bytes as f64 / 4.5 + 3.0 * messages as f64 + 6.0).round() as u64
    };
    let question = "Tell me about the history of the Roman aqueducts, briefly please.";
    let answer = "The Romans built aqueducts for about five centuries, from 312 BC. ".repeat(20);
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text(&answer).usage(count(question.len(), 1), 300))
        .push(FakeReply::chunks(["Stopped ", "here", "never"]));
    let mut session = h.session().await;
    session.send(question).await.unwrap();
    let follow_up = "And which one is the longest still standing?";
    {
        let mut stream = session.send_streaming(follow_up).await.unwrap();
        stream.next().await.unwrap().unwrap();
    }
    let stopped = &session.usage().turns()[1];
    assert!(stopped.estimated);
    let counted = count(question.len() + answer.len() + follow_up.len(), 3);
    let estimated = stopped.usage.input_tokens;
    let error = (estimated as f64 - counted as f64).abs() / counted as f64;
    assert!(error <= 0.25, "estimated {estimated} against {counted}");
}

#[tokio::test]
async fn a_reply_stopped_after_its_metadata_is_billed_with_bedrocks_count() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::chunks(["a", "b"]).usage(40, 7));
    let mut session = h.session().await;
    let mut stream = session.send_streaming("x").await.unwrap();
    // Stopped right after Bedrock's count arrived, before the stream's end was read.
    while let Some(event) = stream.next().await {
        if matches!(event, Ok(StreamEvent::Metadata { .. })) {
            break;
        }
    }
    drop(stream);
    let stopped = &session.usage().turns()[0];
    assert!(!stopped.complete);
    assert!(!stopped.estimated);
    assert_eq!(
        (stopped.usage.input_tokens, stopped.usage.output_tokens),
        (40, 7)
    );
}
