//! Defects found by hostile testing (issue 15): replies with no text, streams that stall, and
//! arbitrary event sequences. Each of these once panicked or hung.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bedrock_chat::testing::FakeReply;
use bedrock_chat::{
    ChatRequest, ChatResponse, ChatSession, Error, EventStream, Message, ModelClient, RetryPolicy,
    StopReason, StreamEvent, TokenUsage,
};
use futures::{Stream, StreamExt};
use proptest::prelude::*;

use crate::support::Harness;

/// A streamed reply that ends without text is `EmptyReply`, as a whole one is; never a panic.
#[tokio::test]
async fn streamed_replies_without_text_are_empty_reply_errors_not_panics() {
    let h = Harness::start().await;
    let cases = [
        FakeReply::chunks(Vec::<String>::new()),
        FakeReply::chunks([""]).stop_reason("stop_sequence"),
        FakeReply::chunks(["  "]).stop_reason("content_filtered"),
    ];
    for reply in cases {
        h.fake.push(reply);
        let mut session = h.session_without_retries().await;
        let result = match session.send_streaming("hi").await {
            Ok(stream) => stream.finish().await.map(|_| ()),
            Err(error) => Err(error),
        };
        let error = result.unwrap_err();
        assert!(matches!(error, Error::EmptyReply { .. }), "{error:?}");
        assert!(session.history().is_empty());
    }
}

/// Reading the stream item by item past its end keeps answering `None`.
#[tokio::test]
async fn an_empty_streamed_reply_can_be_polled_past_its_end() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::chunks(Vec::<String>::new()));
    let mut session = h.session_without_retries().await;
    let mut stream = session.send_streaming("hi").await.unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    assert!(stream.next().await.is_none());
    assert!(matches!(items.last(), Some(Err(Error::EmptyReply { .. }))));
}

/// The read timeout limits every pause inside a stream, not only the wait for its first byte.
#[tokio::test]
async fn the_read_timeout_applies_between_two_parts_of_a_streamed_reply() {
    let h = Harness::start().await;
    // The first part arrives at once; the second would come a minute later.
    h.fake
        .push(FakeReply::chunks(["one ", "two"]).pause_after(1, Duration::from_secs(60)));
    let mut session = h
        .session_with_read_timeout(Duration::from_millis(300))
        .await;
    let started = std::time::Instant::now();
    let error = session
        .send_streaming("count")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap_err();
    match &error {
        Error::StreamInterrupted {
            partial_text,
            source,
        } => {
            assert_eq!(partial_text, "one ");
            assert!(matches!(**source, Error::Timeout { .. }), "{source:?}");
        }
        other => panic!("expected an interrupted stream, got {other:?}"),
    }
    // Well under the minute the server would have made us wait.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(session.history().is_empty());
}

/// On paused time: the idle limit fires after exactly its length of silence, and a stream that
/// keeps sending is never cut off however long it lasts in total.
#[tokio::test(start_paused = true)]
async fn the_idle_timeout_measures_pauses_not_the_whole_stream() {
    let steady = futures::stream::unfold(0u32, |n| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        (n < 10).then(|| (Ok(StreamEvent::TextDelta(format!("{n} "))), n + 1))
    });
    let mut events = EventStream::new(steady).with_idle_timeout(Duration::from_secs(2));
    let mut count = 0;
    while let Some(event) = events.next().await {
        event.unwrap();
        count += 1;
    }
    assert_eq!(
        count, 10,
        "ten seconds of steady events pass a two-second limit"
    );

    let stalled = futures::stream::iter([Ok(StreamEvent::TextDelta("a".into()))])
        .chain(futures::stream::pending());
    let mut events = EventStream::new(stalled).with_idle_timeout(Duration::from_secs(2));
    assert!(events.next().await.unwrap().is_ok());
    let before = tokio::time::Instant::now();
    let error = events.next().await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert_eq!(before.elapsed(), Duration::from_secs(2));
    assert!(
        events.next().await.is_none(),
        "the stream ends after its timeout"
    );

    // Silence after a run of events: the limit counts from the last event, not the first pause.
    let then_stalled = futures::stream::unfold(0u32, |n| async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        (n < 5).then(|| (Ok(StreamEvent::TextDelta(format!("{n} "))), n + 1))
    })
    .chain(futures::stream::pending());
    let mut events = EventStream::new(then_stalled).with_idle_timeout(Duration::from_secs(2));
    for _ in 0..5 {
        assert!(events.next().await.unwrap().is_ok());
    }
    let last = tokio::time::Instant::now();
    let error = events.next().await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    // The unfold's sixth sleep (1.5 s) ends its stream part, then the pending part is silent.
    assert_eq!(last.elapsed(), Duration::from_secs(2));

    // A limit too long for any clock is no limit, not a panic.
    let stalled = futures::stream::iter([Ok(StreamEvent::TextDelta("a".into()))])
        .chain(futures::stream::pending());
    let mut events = EventStream::new(stalled).with_idle_timeout(Duration::MAX);
    assert!(events.next().await.unwrap().is_ok());
    let error = events.next().await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
}

/// On paused time: a stream first waited on in one task and then handed to another still times
/// out in the second (the timer must wake the task that waits now, not the one that began).
#[tokio::test(start_paused = true)]
async fn the_idle_timeout_follows_the_stream_to_another_task() {
    let stalled = futures::stream::iter([Ok(StreamEvent::TextDelta("a".into()))])
        .chain(futures::stream::pending());
    let mut events = EventStream::new(stalled).with_idle_timeout(Duration::from_secs(2));
    assert!(events.next().await.unwrap().is_ok());
    // Polled once here, so its timer is registered with this task's waker...
    assert!(futures::poll!(events.next()).is_pending());
    // ...then waited on in another task, which must be woken at the limit.
    let before = tokio::time::Instant::now();
    // (A guard, so that a timer waking the wrong task fails the test instead of hanging it.)
    let waited =
        tokio::spawn(
            async move { tokio::time::timeout(Duration::from_secs(60), events.next()).await },
        );
    let error = waited.await.unwrap().map_or_else(
        |_| panic!("never woken"),
        |event| event.unwrap().unwrap_err(),
    );
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert_eq!(
        before.elapsed(),
        Duration::from_secs(2),
        "woken by the idle timer at the limit"
    );
}

/// A stream that panics when polled after its end, as `futures::stream::unfold` (under the
/// Bedrock client) does.
struct Strict {
    items: std::vec::IntoIter<bedrock_chat::Result<StreamEvent>>,
    ended: bool,
}

impl Stream for Strict {
    type Item = bedrock_chat::Result<StreamEvent>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        assert!(!self.ended, "polled after the end");
        let next = self.items.next();
        self.ended = next.is_none();
        Poll::Ready(next)
    }
}

#[derive(Clone, Debug)]
enum Step {
    Text(String),
    Stop(StopReason),
    Metadata(u64),
    Fail,
}

/// A client whose streams replay one sequence of steps.
struct Replay {
    steps: Vec<Step>,
    called: Arc<AtomicBool>,
}

fn events(steps: &[Step]) -> Vec<bedrock_chat::Result<StreamEvent>> {
    steps
        .iter()
        .map(|step| match step {
            Step::Text(text) => Ok(StreamEvent::TextDelta(text.clone())),
            Step::Stop(reason) => Ok(StreamEvent::MessageStop(reason.clone())),
            Step::Metadata(tokens) => Ok(StreamEvent::Metadata {
                usage: TokenUsage::new(*tokens, *tokens),
                latency: None,
            }),
            Step::Fail => Err(Error::Transport {
                source: "connection reset".into(),
            }),
        })
        .collect()
}

#[async_trait]
impl ModelClient for Replay {
    async fn converse(&self, _: &ChatRequest) -> bedrock_chat::Result<ChatResponse> {
        Err(Error::Transport {
            source: "not used".into(),
        })
    }

    async fn converse_stream(&self, _: &ChatRequest) -> bedrock_chat::Result<EventStream> {
        self.called.store(true, Ordering::SeqCst);
        Ok(EventStream::new(Strict {
            items: events(&self.steps).into_iter(),
            ended: false,
        }))
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop_oneof![Just(String::new()), Just(" ".to_string()), "[a-z ]{1,6}"].prop_map(Step::Text),
        prop_oneof![
            Just(StopReason::EndTurn),
            Just(StopReason::MaxTokens),
            Just(StopReason::StopSequence),
            Just(StopReason::ContentFiltered),
            Just(StopReason::ModelContextWindowExceeded),
        ]
        .prop_map(Step::Stop),
        (0u64..50).prop_map(Step::Metadata),
        Just(Step::Fail),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any events in any order, ending anywhere: the caller gets events and at most one error,
    /// never a panic, and the history is either as before or one complete, valid exchange.
    #[test]
    fn any_event_sequence_leaves_a_valid_history(steps in proptest::collection::vec(step(), 0..8), read_all in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let client = Replay { steps: steps.clone(), called: Arc::default() };
            let prior = vec![Message::user("earlier"), Message::assistant("reply")];
            let mut session = ChatSession::builder(client)
                .retry_policy(RetryPolicy::none())
                .history(prior.clone())
                .build()
                .unwrap();
            let mut errors = 0;
            if let Ok(mut stream) = session.send_streaming("now").await {
                if read_all {
                    while let Some(item) = stream.next().await {
                        if item.is_err() {
                            errors += 1;
                        }
                    }
                    // Polling once more past the end is harmless too.
                    prop_assert!(stream.next().await.is_none());
                } else {
                    let _ = stream.next().await;
                }
            }
            prop_assert!(errors <= 1, "more than one error from one stream");
            let history = session.history();
            if history.len() == prior.len() {
                prop_assert_eq!(history, &prior[..]);
            } else {
                prop_assert!(read_all, "a turn was committed although the stream was dropped early");
                prop_assert_eq!(history.len(), prior.len() + 2);
                prop_assert_eq!(history[2].text(), "now");
                prop_assert!(!history[3].text().trim().is_empty());
            }
            Ok(())
        })?;
    }
}

/// A proxy's HTML error page, or a 200 whose body is not Bedrock's JSON, is reported with its
/// HTTP status rather than as "could not reach Bedrock".
#[tokio::test]
async fn a_response_that_is_not_bedrocks_is_reported_with_its_status() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let cases = [
        (
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>",
            true,
        ),
        (200, "application/json", "{\"output\": not json", true),
        (403, "text/html", "<html>Forbidden by proxy</html>", false),
    ];
    for (status, content_type, body, retryable) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body, content_type))
            .mount(&server)
            .await;
        let mut session = crate::support::session_on_mock(&server).await;
        let error = session.send("hi").await.unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(error, Error::UnexpectedResponse { status: s, .. } if s == status),
            "{status}: {error:?}"
        );
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        assert_eq!(error.is_retryable(), retryable, "{text}");
        assert!(session.history().is_empty());
    }
}

/// A read timeout longer than any clock can count works as no limit, whole and streamed.
#[tokio::test]
async fn an_enormous_read_timeout_is_no_limit_rather_than_a_panic() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("whole"))
        .push(FakeReply::chunks(["stre", "amed"]));
    let mut session = h
        .session_with_read_timeout(Duration::from_secs(u64::MAX))
        .await;
    assert_eq!(session.send("one").await.unwrap().text(), "whole");
    let reply = session
        .send_streaming("two")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(reply.text(), "streamed");
}
