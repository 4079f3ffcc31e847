//! Generated sequences of turns, each attempt meeting a random fault from the fake Bedrock or
//! succeeding, checked against a model of what must happen.
//!
//! 2,000 cases by default; set `BEDROCK_CHAT_FAULT_CASES` for more (e.g. 20000).

use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply, RecordedRequest, StreamFault};
use bedrock_chat::{ChatSession, Error, RetryPolicy, StreamEvent};
use futures::StreamExt;
use proptest::prelude::*;

use crate::support::assert_valid_conversation;

const MAX_RETRIES: usize = 2;
const SYSTEM: &str = "You are tested.";
const CHUNKS: [&str; 4] = ["p1 ", "p2 ", "p3 ", "p4"];

/// What one attempt meets.
#[derive(Clone, Debug)]
enum Fault {
    Succeed,
    Respond(FakeError),
    /// An exception frame after `after` chunks (an error response for Converse).
    Exception(FakeError, usize),
    Corrupt(usize),
    Drop(usize),
    /// Later than the read timeout.
    Slow,
}

/// The error kinds the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Throttled,
    ModelNotReady,
    Internal,
    Unavailable,
    ModelTimeout,
    ModelFailed,
    ModelStream,
    Invalid,
    Denied,
    Transport,
    Timeout,
}

fn kind_of(error: &Error) -> Option<Kind> {
    Some(match error {
        Error::Throttled { .. } => Kind::Throttled,
        Error::ModelNotReady { .. } => Kind::ModelNotReady,
        Error::InternalServer { .. } => Kind::Internal,
        Error::ServiceUnavailable { .. } => Kind::Unavailable,
        Error::ModelTimeout { .. } => Kind::ModelTimeout,
        Error::ModelFailed { .. } => Kind::ModelFailed,
        Error::ModelStreamError { .. } => Kind::ModelStream,
        Error::InvalidRequest { .. } => Kind::Invalid,
        Error::AccessDenied { .. } => Kind::Denied,
        Error::Transport { .. } => Kind::Transport,
        // A whole reply whose body broke on the way is reported with its status (200).
        Error::UnexpectedResponse { status: 200, .. } => Kind::Transport,
        Error::Timeout { .. } => Kind::Timeout,
        _ => return None,
    })
}

fn kind_of_response(error: &FakeError) -> Kind {
    match error {
        FakeError::Throttling => Kind::Throttled,
        FakeError::ModelNotReady => Kind::ModelNotReady,
        FakeError::InternalServer => Kind::Internal,
        FakeError::ServiceUnavailable => Kind::Unavailable,
        FakeError::ModelTimeout => Kind::ModelTimeout,
        FakeError::ModelError => Kind::ModelFailed,
        FakeError::Validation(_) => Kind::Invalid,
        FakeError::AccessDenied => Kind::Denied,
        other => panic!("not generated: {other:?}"),
    }
}

/// How an exception frame is classified inside a stream (its `:exception-type`).
fn kind_of_exception(error: &FakeError) -> Kind {
    match error {
        FakeError::Throttling => Kind::Throttled,
        FakeError::ServiceUnavailable => Kind::Unavailable,
        FakeError::Validation(_) => Kind::Invalid,
        FakeError::ModelError => Kind::ModelStream,
        _ => Kind::Internal,
    }
}

fn retryable(kind: Kind) -> bool {
    !matches!(kind, Kind::ModelFailed | Kind::Invalid | Kind::Denied)
}

/// What the model predicts for one attempt.
#[derive(Clone, Debug, PartialEq)]
enum Attempt {
    Success,
    /// Failed; `Some(n)` when `n` chunks of text had reached the caller first.
    Failure(Kind, Option<usize>),
}

fn predict(fault: &Fault, streaming: bool) -> Attempt {
    let broken = |kind: Kind, after: usize| {
        if streaming && after > 0 {
            Attempt::Failure(kind, Some(after))
        } else {
            Attempt::Failure(kind, None)
        }
    };
    match fault {
        Fault::Succeed => Attempt::Success,
        Fault::Respond(error) => Attempt::Failure(kind_of_response(error), None),
        Fault::Exception(error, after) if streaming => broken(kind_of_exception(error), *after),
        Fault::Exception(error, _) => Attempt::Failure(kind_of_response(error), None),
        Fault::Corrupt(after) | Fault::Drop(after) => broken(Kind::Transport, *after),
        Fault::Slow => Attempt::Failure(Kind::Timeout, None),
    }
}

fn reply_for(fault: &Fault, answer: &str) -> FakeReply {
    let chunked = || FakeReply::chunks(CHUNKS);
    match fault {
        Fault::Succeed => FakeReply::text(answer),
        Fault::Respond(error) => FakeReply::error(error.clone()),
        Fault::Exception(error, after) => {
            chunked().fault_after(*after, StreamFault::Exception(error.clone()))
        }
        Fault::Corrupt(after) => chunked().fault_after(*after, StreamFault::CorruptFrame),
        Fault::Drop(after) => chunked().fault_after(*after, StreamFault::DropConnection),
        Fault::Slow => FakeReply::text(answer).delay(Duration::from_secs(20)),
    }
}

fn fault() -> impl Strategy<Value = Fault> {
    let responses = prop_oneof![
        Just(FakeError::Throttling),
        Just(FakeError::ModelNotReady),
        Just(FakeError::InternalServer),
        Just(FakeError::ServiceUnavailable),
        Just(FakeError::ModelTimeout),
        Just(FakeError::ModelError),
        Just(FakeError::Validation("messages: bad".into())),
        Just(FakeError::AccessDenied),
    ];
    let in_stream = prop_oneof![
        Just(FakeError::Throttling),
        Just(FakeError::InternalServer),
        Just(FakeError::ModelError),
        Just(FakeError::ServiceUnavailable),
    ];
    prop_oneof![
        4 => Just(Fault::Succeed),
        4 => responses.prop_map(Fault::Respond),
        2 => (in_stream, 0..=3usize).prop_map(|(e, k)| Fault::Exception(e, k)),
        1 => (0..=3usize).prop_map(Fault::Corrupt),
        1 => (0..=3usize).prop_map(Fault::Drop),
        1 => Just(Fault::Slow),
    ]
}

fn turns() -> impl Strategy<Value = Vec<(bool, Vec<Fault>)>> {
    proptest::collection::vec(
        (any::<bool>(), proptest::collection::vec(fault(), 1..=3)),
        1..=5,
    )
}

fn cases() -> u32 {
    std::env::var("BEDROCK_CHAT_FAULT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn any_fault_sequence_keeps_every_invariant(turns in turns()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(run(turns));
    }
}

async fn run(turns: Vec<(bool, Vec<Fault>)>) {
    let fake = FakeBedrock::start().await.unwrap();
    let client = fake
        .client_builder()
        .read_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let mut session = ChatSession::builder(client)
        .system_prompt(SYSTEM)
        .retry_policy(RetryPolicy::default().max_retries(MAX_RETRIES as u32))
        .build()
        .unwrap();
    let mut exchanges: Vec<(String, String)> = Vec::new();
    let mut sent = 0;

    for (index, (streaming, faults)) in turns.into_iter().enumerate() {
        let question = format!("question {index}");
        let answer = format!("answer {index}");

        // Which attempts the turn will use, and how it must end.
        let mut script = Vec::new();
        let mut faults = faults.into_iter();
        let expected = loop {
            // Past the generated faults, further attempts succeed.
            let fault = faults.next().unwrap_or(Fault::Succeed);
            let attempt = predict(&fault, streaming);
            script.push(fault);
            match attempt {
                Attempt::Success => break Attempt::Success,
                Attempt::Failure(kind, None) if retryable(kind) && script.len() <= MAX_RETRIES => {}
                failure => break failure,
            }
        };
        for fault in &script {
            fake.push(reply_for(fault, &answer));
        }

        let (result, shown) = if streaming {
            let mut shown = String::new();
            let result = match session.send_streaming(question.clone()).await {
                Err(error) => Err(error),
                Ok(mut stream) => {
                    let mut outcome = Ok(());
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(StreamEvent::TextDelta(text)) => shown.push_str(&text),
                            Ok(_) => {}
                            Err(error) => outcome = Err(error),
                        }
                    }
                    outcome
                }
            };
            (result, Some(shown))
        } else {
            (
                session
                    .send(question.clone())
                    .await
                    .map(|r| assert_eq!(r.text(), answer)),
                None,
            )
        };

        let context = format!("turn {index} (streaming: {streaming}), script {script:?}");
        match (&expected, &result) {
            (Attempt::Success, Ok(())) => {
                if let Some(shown) = &shown {
                    assert_eq!(shown, &answer, "{context}: text shown twice or lost");
                }
                exchanges.push((question.clone(), answer.clone()));
            }
            (Attempt::Failure(kind, partial), Err(error)) => {
                let (cause, partial_text) = match error {
                    Error::StreamInterrupted {
                        source,
                        partial_text,
                    } => (source.as_ref(), Some(partial_text.as_str())),
                    other => (other, None),
                };
                // A connection dropped mid-stream can surface as the read timeout instead: on
                // paused time the clock jumps to the timeout as soon as the runtime is idle, and
                // on a loaded machine that can come before the kernel hands over the closed
                // socket. Both are the same retryable interruption with the same partial text.
                let seen = kind_of(cause);
                let dropped_as_timeout =
                    *kind == Kind::Transport && partial.is_some() && seen == Some(Kind::Timeout);
                if !dropped_as_timeout {
                    assert_eq!(seen, Some(*kind), "{context}: {error:?}");
                }
                assert_eq!(error.is_retryable(), retryable(*kind), "{context}");
                let expected_partial = partial.map(|n| CHUNKS[..n].concat());
                assert_eq!(
                    partial_text.map(str::to_string),
                    expected_partial,
                    "{context}"
                );
                if let (Some(shown), Some(expected)) = (&shown, &expected_partial) {
                    assert_eq!(
                        shown, expected,
                        "{context}: the partial text was shown wrong"
                    );
                }
            }
            _ => panic!("{context}: expected {expected:?}, got {result:?}"),
        }

        // What reached the server: exactly the attempts, each the whole valid conversation.
        let requests = fake.requests();
        assert_eq!(requests.len(), sent + script.len(), "{context}: attempts");
        for request in &requests[sent..] {
            assert_request(request, &exchanges, &question, &expected, &context);
        }
        sent = requests.len();

        // The history is exactly the successful exchanges.
        let history: Vec<(String, String)> = session
            .history()
            .chunks(2)
            .map(|pair| (pair[0].text(), pair[1].text()))
            .collect();
        assert_eq!(history, exchanges, "{context}: history");
    }
}

fn assert_request(
    request: &RecordedRequest,
    exchanges: &[(String, String)],
    question: &str,
    expected: &Attempt,
    context: &str,
) {
    assert_valid_conversation(request);
    assert_eq!(request.system().as_deref(), Some(SYSTEM), "{context}");
    // On success the exchange was already recorded; the request held what came before it.
    let before = match expected {
        Attempt::Success => &exchanges[..exchanges.len() - 1],
        _ => exchanges,
    };
    let mut messages = Vec::new();
    for (q, a) in before {
        messages.push(("user".to_string(), q.clone()));
        messages.push(("assistant".to_string(), a.clone()));
    }
    messages.push(("user".to_string(), question.to_string()));
    assert_eq!(request.messages(), messages, "{context}");
}
