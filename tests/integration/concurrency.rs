//! One client shared by many sessions on many tasks, with faults injected: every session keeps
//! the same invariants as a session alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply, StreamFault};
use bedrock_chat::{ChatSession, RetryPolicy};
use futures::StreamExt;

use crate::support::assert_valid_conversation;

const SESSIONS: usize = 50;
const TURNS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_sharing_a_client_under_faults_stay_valid() {
    let fake = FakeBedrock::start().await.unwrap();
    // A request's fate depends on what it carries (which session, which turn, which attempt),
    // since the order in which concurrent requests arrive is unknown.
    let attempts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = attempts.clone();
    fake.respond_with(move |request| {
        let (_, last) = request.messages().pop()?;
        let attempt = {
            let mut seen = seen.lock().unwrap();
            let count = seen.entry(last.clone()).or_default();
            *count += 1;
            *count
        };
        let seed: usize = last.bytes().map(usize::from).sum::<usize>() + attempt;
        Some(match seed % 7 {
            0 => FakeReply::error(FakeError::Throttling),
            1 => FakeReply::error(FakeError::ServiceUnavailable),
            2 => FakeReply::chunks(["x ", "y"]).fault_after(1, StreamFault::DropConnection),
            3 => FakeReply::error(FakeError::Validation("rejected".into())),
            _ => FakeReply::text(&format!("reply to {last}")),
        })
    });
    let client = fake.client().await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..SESSIONS {
        let client = client.clone();
        tasks.spawn(async move {
            let mut session = ChatSession::builder(client)
                .retry_policy(
                    RetryPolicy::default()
                        .initial_delay(std::time::Duration::from_millis(1))
                        .max_retries(2),
                )
                .build()
                .unwrap();
            let mut succeeded = Vec::new();
            for turn in 0..TURNS {
                let question = format!("session {id} turn {turn}");
                let ok = if turn % 2 == 0 {
                    session.send(question.clone()).await.is_ok()
                } else {
                    match session.send_streaming(question.clone()).await {
                        Ok(mut stream) => {
                            let mut ok = true;
                            while let Some(event) = stream.next().await {
                                ok &= event.is_ok();
                            }
                            ok
                        }
                        Err(_) => false,
                    }
                };
                if ok {
                    succeeded.push(question);
                }
                // The history holds exactly this session's successful exchanges.
                let history: Vec<String> = session
                    .history()
                    .iter()
                    .step_by(2)
                    .map(|m| m.text())
                    .collect();
                assert_eq!(history, succeeded, "session {id}");
                for pair in session.history().chunks(2) {
                    assert_eq!(pair[1].text(), format!("reply to {}", pair[0].text()));
                }
            }
            succeeded.len()
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.unwrap();
    }
    assert!(total > 0);

    // Every request was valid, never mixed two sessions, and no turn took more than 3 attempts.
    for request in fake.requests() {
        assert_valid_conversation(&request);
        let owners: std::collections::HashSet<String> = request
            .messages()
            .iter()
            .filter(|(role, _)| role == "user")
            .map(|(_, text)| text.split(" turn ").next().unwrap().to_string())
            .collect();
        assert_eq!(
            owners.len(),
            1,
            "a request mixed sessions: {:?}",
            request.messages()
        );
    }
    assert!(attempts.lock().unwrap().values().all(|&n| n <= 3));
}
