//! The retry schedule through the real SDK, on paused Tokio time: attempts and delays are
//! asserted, never wall-clock time.

use std::time::Duration;

use bedrock_chat::testing::{FakeError, FakeReply, StreamFault};
use bedrock_chat::{Error, RetryPolicy};

use crate::support::Harness;

fn secs(values: &[u64]) -> Vec<Duration> {
    values.iter().copied().map(Duration::from_secs).collect()
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_after_2_4_8_16_32_seconds_then_succeeds() {
    let h = Harness::start().await;
    h.fake
        .push_times(5, FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("finally"));
    let mut session = h.builder().await.build().unwrap(); // the default policy

    let reply = session.send("hi").await.unwrap();

    assert_eq!(reply.text(), "finally");
    assert_eq!(h.fake.request_count(), 6);
    let delays: Vec<Duration> = h.retries().into_iter().map(|(_, d)| d).collect();
    assert_eq!(delays, secs(&[2, 4, 8, 16, 32]));
    let numbers: Vec<u32> = h.retries().into_iter().map(|(n, _)| n).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn after_five_retries_the_throttling_error_is_returned() {
    let h = Harness::start().await;
    h.fake.set_fallback(FakeReply::error(FakeError::Throttling));
    let mut session = h.builder().await.build().unwrap();

    let error = session.send("hi").await.unwrap_err();

    assert!(matches!(error, Error::Throttled { .. }), "{error:?}");
    assert_eq!(h.fake.request_count(), 6, "1 attempt + 5 retries");
    assert_eq!(h.retries().len(), 5);
    assert!(session.history().is_empty());
}

#[tokio::test(start_paused = true)]
async fn validation_errors_are_never_retried() {
    for streaming in [false, true] {
        let h = Harness::start().await;
        h.fake.set_fallback(FakeReply::error(FakeError::Validation(
            "bad request".into(),
        )));
        let mut session = h.builder().await.build().unwrap();
        let error = if streaming {
            session.send_streaming("hi").await.err().unwrap()
        } else {
            session.send("hi").await.unwrap_err()
        };
        assert!(matches!(error, Error::InvalidRequest { .. }), "{error:?}");
        assert_eq!(h.fake.request_count(), 1);
        assert!(h.retries().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn each_retryable_kind_is_retried_and_each_final_kind_is_not() {
    let retried = [
        FakeError::Throttling,
        FakeError::ModelNotReady,
        FakeError::ServiceUnavailable,
        FakeError::InternalServer,
        FakeError::ModelTimeout,
    ];
    let final_ = [
        FakeError::AccessDenied,
        FakeError::ResourceNotFound,
        FakeError::ServiceQuotaExceeded,
        FakeError::ModelError,
    ];
    for error in retried {
        let h = Harness::start().await;
        h.fake
            .push(FakeReply::error(error.clone()))
            .push(FakeReply::text("ok"));
        let mut session = h.builder().await.build().unwrap();
        session.send("hi").await.unwrap();
        assert_eq!(h.fake.request_count(), 2, "{error:?}");
    }
    for error in final_ {
        let h = Harness::start().await;
        h.fake
            .push(FakeReply::error(error.clone()))
            .push(FakeReply::text("ok"));
        let mut session = h.builder().await.build().unwrap();
        session.send("hi").await.unwrap_err();
        assert_eq!(h.fake.request_count(), 1, "{error:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_policy_sets_attempts_delays_and_budget() {
    let h = Harness::start().await;
    h.fake
        .set_fallback(FakeReply::error(FakeError::ServiceUnavailable));
    let policy = RetryPolicy::default()
        .max_retries(10)
        .initial_delay(Duration::from_millis(500))
        .factor(3.0)
        .max_delay(Duration::from_secs(5))
        .total_budget(Some(Duration::from_secs(12)));
    let mut session = h.builder().await.retry_policy(policy).build().unwrap();
    session.send("hi").await.unwrap_err();
    let delays: Vec<Duration> = h.retries().into_iter().map(|(_, d)| d).collect();
    // 0.5 + 1.5 + 4.5 + 5 = 11.5 s; another 5 s would exceed the 12 s budget.
    assert_eq!(
        delays,
        vec![
            Duration::from_millis(500),
            Duration::from_millis(1500),
            Duration::from_millis(4500),
            Duration::from_secs(5)
        ]
    );
    assert_eq!(h.fake.request_count(), 5);
}

#[tokio::test(start_paused = true)]
async fn with_retries_off_the_first_failure_is_returned() {
    let h = Harness::start().await;
    h.fake.set_fallback(FakeReply::error(FakeError::Throttling));
    let mut session = h.session_without_retries().await;
    session.send("hi").await.unwrap_err();
    assert_eq!(h.fake.request_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_before_text_follows_the_same_schedule() {
    let h = Harness::start().await;
    h.fake
        .push_times(
            3,
            FakeReply::text("x").fault_after(0, StreamFault::Exception(FakeError::Throttling)),
        )
        .push(FakeReply::text("streamed"));
    let mut session = h.builder().await.build().unwrap();
    let reply = session
        .send_streaming("hi")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(reply.text(), "streamed");
    let delays: Vec<Duration> = h.retries().into_iter().map(|(_, d)| d).collect();
    assert_eq!(delays, secs(&[2, 4, 8]));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_header_longer_than_the_backoff_is_honoured() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::error(FakeError::Throttling).retry_after(30))
        .push(FakeReply::error(FakeError::Throttling).retry_after(1))
        .push(FakeReply::text("ok"));
    let mut session = h.builder().await.build().unwrap();
    session.send("hi").await.unwrap();
    let delays: Vec<Duration> = h.retries().into_iter().map(|(_, d)| d).collect();
    // 30 s asked for beats the 2 s backoff; 1 s asked for loses to the 4 s backoff.
    assert_eq!(delays, secs(&[30, 4]));
}
