//! Long conversations: what is sent stays within the context policy, overflow is recovered,
//! usage and cost add up, and the budget is enforced.

use std::sync::{Arc, Mutex};

use bedrock_chat::testing::{FakeError, FakeReply};
use bedrock_chat::{Budget, ContextPolicy, Error, Message, ModelPrice, Notice, PriceTable};
use futures::StreamExt;
use proptest::prelude::*;

use crate::support::{Harness, assert_valid_conversation};

// A global profile: the price table holds global prices (regional ones cost 10% more).
const SONNET: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// `exchanges` exchanges of about 300 + 900 bytes.
fn long_history(exchanges: usize) -> Vec<Message> {
    (0..exchanges)
        .flat_map(|i| {
            [
                Message::user(format!(
                    "question {i}: {}",
                    "why is the sky blue? ".repeat(14)
                )),
                Message::assistant(format!(
                    "answer {i}: {}",
                    "Rayleigh scattering. ".repeat(43)
                )),
            ]
        })
        .collect()
}

fn notices(
    builder: bedrock_chat::ChatSessionBuilder,
) -> (bedrock_chat::ChatSessionBuilder, Arc<Mutex<Vec<Notice>>>) {
    let seen: Arc<Mutex<Vec<Notice>>> = Arc::default();
    let log = seen.clone();
    (
        builder.on_notice(move |n| log.lock().unwrap().push(n.clone())),
        seen,
    )
}

#[tokio::test]
async fn last_exchanges_sends_only_the_newest_and_keeps_everything() {
    let h = Harness::start().await;
    let (builder, seen) = notices(h.session_builder_with(long_history(100)).await);
    let mut session = builder
        .context_policy(ContextPolicy::LastExchanges(5))
        .build()
        .unwrap();

    session.send("and now?").await.unwrap();

    let request = h.fake.requests().pop().unwrap();
    assert_valid_conversation(&request);
    assert_eq!(request.messages().len(), 11);
    assert!(request.messages()[0].1.starts_with("question 95:"));
    assert_eq!(session.history().len(), 202, "the full history is kept");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [Notice::ContextTrimmed {
            dropped_messages: 190,
            sent_messages: 10,
            after_overflow: false
        }]
    );
}

#[tokio::test]
async fn send_all_sends_everything() {
    let h = Harness::start().await;
    let mut session = h
        .session_builder_with(long_history(100))
        .await
        .context_policy(ContextPolicy::SendAll)
        .build()
        .unwrap();
    session.send("and now?").await.unwrap();
    assert_eq!(h.fake.requests()[0].messages().len(), 201);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, .. ProptestConfig::default() })]

    /// Whatever the length of the conversation and the budget, what is sent is valid, within the
    /// budget (by the fake's own count of about 4 bytes a token) and the newest exchanges.
    #[test]
    fn a_token_budget_keeps_requests_valid_and_within_budget(exchanges in 0usize..300, budget in 400u64..60_000) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let h = Harness::start().await;
            let mut session = h
                .session_builder_with(long_history(exchanges))
                .await
                .context_policy(ContextPolicy::TokenBudget(budget))
                .build()
                .unwrap();
            session.send("the newest question").await.unwrap();
            let request = h.fake.requests().pop().unwrap();
            assert_valid_conversation(&request);
            let bytes: usize = request.messages().iter().map(|(_, text)| text.len()).sum();
            assert!((bytes as u64) / 4 <= budget, "{bytes} bytes sent for a budget of {budget} tokens");
            let sent = request.messages().len() - 1;
            let history = long_history(exchanges);
            let expected: Vec<String> = history[history.len() - sent..].iter().map(Message::text).collect();
            let got: Vec<String> = request.messages()[..sent].iter().map(|(_, t)| t.clone()).collect();
            assert_eq!(got, expected, "the newest exchanges are the ones sent");
            assert_eq!(session.history().len(), history.len() + 2);
        });
    }
}

/// A fake whose model refuses any request with more than `limit` messages.
fn refuse_over(h: &Harness, limit: usize, as_stop_reason: bool) {
    h.fake.respond_with(move |request| {
        (request.messages().len() > limit).then(|| {
            if as_stop_reason {
                FakeReply::chunks([""]).stop_reason("model_context_window_exceeded")
            } else {
                FakeReply::error(FakeError::Validation(
                    "Input is too long for requested model.".into(),
                ))
            }
        })
    });
}

#[tokio::test]
async fn an_overflow_is_recovered_by_sending_less_once() {
    for as_stop_reason in [false, true] {
        let h = Harness::start().await;
        refuse_over(&h, 41, as_stop_reason);
        let (builder, seen) = notices(h.session_builder_with(long_history(40)).await);
        let mut session = builder.build().unwrap(); // the default token budget fits all 81

        let reply = session.send("one more").await.unwrap();

        assert!(!reply.text().is_empty());
        let requests = h.fake.requests();
        assert_eq!(requests.len(), 2, "stop reason: {as_stop_reason}");
        assert_eq!(requests[0].messages().len(), 81);
        assert_eq!(
            requests[1].messages().len(),
            41,
            "half of the exchanges dropped"
        );
        assert_valid_conversation(&requests[1]);
        assert_eq!(session.history().len(), 82);
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [Notice::ContextTrimmed {
                dropped_messages: 40,
                sent_messages: 40,
                after_overflow: true
            }]
        );
    }
}

#[tokio::test]
async fn an_overflow_is_recovered_for_streams_before_any_text() {
    let h = Harness::start().await;
    refuse_over(&h, 41, false);
    let mut session = h
        .session_builder_with(long_history(40))
        .await
        .build()
        .unwrap();
    let reply = session
        .send_streaming("one more")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert!(!reply.text().is_empty());
    assert_eq!(h.fake.requests()[1].messages().len(), 41);
}

#[tokio::test]
async fn with_send_all_an_overflow_says_how_to_continue_and_changes_nothing() {
    let h = Harness::start().await;
    refuse_over(&h, 41, false);
    let mut session = h
        .session_builder_with(long_history(40))
        .await
        .context_policy(ContextPolicy::SendAll)
        .build()
        .unwrap();
    let error = session.send("one more").await.unwrap_err();
    assert!(
        matches!(error, Error::ContextWindowExceeded { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("/clear"), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(h.fake.request_count(), 1);
    assert_eq!(session.history().len(), 80);
}

#[tokio::test]
async fn usage_and_cost_add_up_for_both_call_kinds() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::text("one").usage(1_000, 200)).push(
        FakeReply::text("two")
            .usage(2_000, 300)
            .cache_usage(10_000, 4_000),
    );
    let mut session = h.builder().await.model_id(SONNET).build().unwrap();
    session.send("first").await.unwrap();
    let mut stream = session.send_streaming("second").await.unwrap();
    while stream.next().await.is_some() {}
    drop(stream);

    let usage = session.usage();
    assert_eq!(usage.turns().len(), 2);
    assert_eq!(&*usage.turns()[1].model_id, SONNET);
    assert_eq!(usage.total().input_tokens, 3_000);
    assert_eq!(usage.total().output_tokens, 500);
    assert_eq!(usage.total().cache_read_input_tokens, Some(10_000));
    assert_eq!(usage.total().cache_write_input_tokens, Some(4_000));

    let cost = session.cost();
    let first = (1_000.0 * 3.0 + 200.0 * 15.0) / 1e6;
    let second = (2_000.0 * 3.0 + 300.0 * 15.0 + 10_000.0 * 0.30 + 4_000.0 * 3.75) / 1e6;
    assert!((cost.per_turn[0].unwrap() - first).abs() < 1e-12);
    assert!((cost.per_turn[1].unwrap() - second).abs() < 1e-12);
    assert!((cost.total_usd - (first + second)).abs() < 1e-12);
    assert_eq!(cost.unpriced_turns, 0);
}

#[tokio::test]
async fn caller_prices_override_the_builtin_ones() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::text("one").usage(1_000_000, 0));
    let mut session = h
        .builder()
        .await
        .model_id(SONNET)
        .prices(PriceTable::builtin().with_price(SONNET, ModelPrice::new(2.0, 10.0)))
        .build()
        .unwrap();
    session.send("first").await.unwrap();
    assert_eq!(session.cost().total_usd, 2.0);
}

#[tokio::test]
async fn a_refusing_budget_stops_the_turn_before_any_request() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::text("one").usage(100_000, 4_000));
    let mut session = h
        .builder()
        .await
        .budget(Budget::refuse(0.40))
        .build()
        .unwrap();
    // The first turn could cost 4096 output tokens at $15/M = $0.06: allowed.
    session.send("first").await.unwrap();
    // Spent $0.30 + $0.06; the next could cost up to about $0.06 more: over $0.40.
    let error = session.send("second").await.unwrap_err();
    assert!(matches!(error, Error::BudgetExceeded { .. }), "{error:?}");
    assert!(error.to_string().contains("$0.40"), "{error}");
    assert_eq!(h.fake.request_count(), 1);
    assert_eq!(session.history().len(), 2);
}

#[tokio::test]
async fn a_warning_budget_warns_and_sends() {
    let h = Harness::start().await;
    let (builder, seen) = notices(h.builder().await);
    let mut session = builder.budget(Budget::warn(0.0)).build().unwrap();
    session.send("first").await.unwrap();
    assert_eq!(h.fake.request_count(), 1);
    assert!(matches!(
        seen.lock().unwrap()[0],
        Notice::BudgetWarning { .. }
    ));
}

/// A conversation restored from a store brings what it had cost: its budget is the
/// conversation's, however many sessions (server requests) it passes through.
#[tokio::test]
async fn a_restored_conversation_counts_its_earlier_cost_against_the_budget() {
    use bedrock_chat::ChatSession;
    use bedrock_chat::testing::ScriptedClient;
    let client = ScriptedClient::new().with_text("ok");
    let mut first = ChatSession::builder(client.clone())
        .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .build()
        .unwrap();
    first.send("hello").await.unwrap();
    let mut saved = first.snapshot();
    // Pretend the conversation had already used a million output tokens ($15).
    let mut json: serde_json::Value = serde_json::from_str(&saved.to_json()).unwrap();
    json["usage"]["outputTokens"] = serde_json::json!(1_000_000);
    saved = bedrock_chat::SavedConversation::from_json(json.to_string().as_bytes()).unwrap();
    let mut next = ChatSession::builder(client.clone())
        .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .budget(Budget::refuse(10.0))
        .build()
        .unwrap();
    next.restore(saved).unwrap();
    let error = next.send("again").await.unwrap_err();
    assert!(
        matches!(error, bedrock_chat::Error::BudgetExceeded { .. }),
        "{error:?}"
    );
    assert_eq!(client.requests().len(), 1, "refused before sending");
}
