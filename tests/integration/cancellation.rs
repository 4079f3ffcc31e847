//! Dropping a turn at any point leaves the session as it was, and the next turn succeeds.
//!
//! On paused time the fake spreads a turn over a virtual timeline (a throttled first attempt, a
//! 2 s backoff, a slow response head, slow chunks); a timeout swept across that timeline drops
//! the turn at every await point in turn.

use std::time::Duration;

use bedrock_chat::testing::{FakeError, FakeReply};
use futures::StreamExt;

use crate::support::{Harness, assert_valid_conversation, pairs};

fn script(h: &Harness) {
    h.fake
        .push(FakeReply::error(FakeError::Throttling).delay(Duration::from_millis(300)))
        .push(
            FakeReply::chunks(["a ", "b ", "c"])
                .delay(Duration::from_millis(500))
                .chunk_delay(Duration::from_millis(250)),
        );
}

#[tokio::test(start_paused = true)]
async fn a_turn_dropped_at_any_point_changes_nothing() {
    // The whole turn takes 0.3 + 2 + 0.5 + 6 x 0.25 = 4.3 s of virtual time; sweep past it.
    for streaming in [false, true] {
        for step in 0..=46u64 {
            let deadline = Duration::from_millis(step * 100);
            let h = Harness::start().await;
            h.fake.push(FakeReply::text("first"));
            let mut session = h.builder().await.build().unwrap();
            session.send("before").await.unwrap();
            let before = session.history().to_vec();
            script(&h);

            let finished = if streaming {
                tokio::time::timeout(deadline, async {
                    let mut stream = session.send_streaming("cut me").await?;
                    while let Some(event) = stream.next().await {
                        event?;
                    }
                    Ok::<_, bedrock_chat::Error>(())
                })
                .await
                .is_ok()
            } else {
                tokio::time::timeout(deadline, session.send("cut me"))
                    .await
                    .is_ok()
            };

            let context = format!("streaming {streaming}, dropped at {deadline:?}");
            if finished {
                assert_eq!(session.history().len(), 4, "{context}");
            } else {
                assert_eq!(session.history(), &before[..], "{context}");
            }
            h.fake.reset();
            h.fake.push(FakeReply::text("after"));
            session.send("next").await.unwrap();
            let last = h.fake.requests().pop().unwrap();
            assert_valid_conversation(&last);
            if !finished {
                assert_eq!(
                    last.messages(),
                    pairs(&[("user", "before"), ("assistant", "first"), ("user", "next")]),
                    "{context}"
                );
            }
        }
    }
}
