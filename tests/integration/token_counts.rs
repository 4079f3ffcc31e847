//! Exact token counts (`CountTokens`) for the context policy and the budget, with the estimate
//! as the fallback; and the service tier, latency profile and hour-long cache points passed
//! through, reported in usage and priced.

use bedrock_chat::testing::FakeError;
use bedrock_chat::{Budget, CacheTtl, ContextPolicy, Latency, Message, RetryPolicy, ServiceTier};

use crate::support::Harness;

/// A conversation of `exchanges` exchanges of about 2 KB each.
fn long_history(exchanges: usize) -> Vec<Message> {
    (0..exchanges)
        .flat_map(|i| {
            [
                Message::user(format!("question {i} {}", "words ".repeat(170))),
                Message::assistant(format!("answer {i} {}", "words ".repeat(170))),
            ]
        })
        .collect()
}

#[tokio::test]
async fn the_token_budget_is_kept_by_bedrocks_count_not_the_estimate() {
    // The fake counts a token per 4 bytes; the estimate leans high (a token per 3 bytes and 5
    // per message), so it would send fewer exchanges than fit.
    let budget = 3_000;
    let mut sent = Vec::new();
    for exact in [false, true] {
        let h = Harness::start().await;
        let mut session = h
            .session_builder_with(long_history(20))
            .await
            .context_policy(ContextPolicy::TokenBudget(budget))
            .exact_token_counts(exact)
            .build()
            .unwrap();
        session.send("Go on.").await.unwrap();
        let request = h.fake.requests().pop().unwrap();
        let reported = request.body["messages"].as_array().unwrap().len();
        sent.push(reported);
        assert_eq!(h.fake.token_count_requests() > 0, exact);
        if exact {
            // Counted as Converse would bill it, and within the budget.
            assert!(session.usage().last().unwrap().input_tokens <= budget);
        }
    }
    assert!(
        sent[1] > sent[0],
        "exact counts send more of what fits: {sent:?}"
    );
}

#[tokio::test]
async fn the_budget_uses_the_exact_count_and_a_failed_count_falls_back_to_the_estimate() {
    let h = Harness::start().await;
    // An estimate of the next turn is over the limit (it leans high); Bedrock's count is under.
    async fn make(h: &Harness, exact: bool) -> bedrock_chat::ChatSession {
        h.session_builder_with(long_history(8))
            .await
            .retry_policy(RetryPolicy::none())
            .inference(bedrock_chat::InferenceConfig::new().max_tokens(100))
            .budget(Budget::refuse(0.018))
            .exact_token_counts(exact)
            .build()
            .unwrap()
    }
    let mut estimated = make(&h, false).await;
    let error = estimated.send("Go on.").await.unwrap_err();
    assert!(error.to_string().contains("budget"), "{error}");
    let mut exact = make(&h, true).await;
    exact.send("Go on.").await.unwrap();
    // Counting fails: the estimate decides, and the turn is not lost over it.
    h.fake.set_count_tokens_error(Some(FakeError::Throttling));
    let mut fallback = make(&h, true).await;
    let error = fallback.send("Go on.").await.unwrap_err();
    assert!(error.to_string().contains("budget"), "{error}");
}

#[tokio::test]
async fn a_model_that_cannot_count_is_asked_once_and_the_next_turn_can_be_counted() {
    let h = Harness::start().await;
    h.fake.set_count_tokens_error(Some(FakeError::Validation(
        "The model does not support counting tokens.".into(),
    )));
    let mut session = h.builder().await.exact_token_counts(true).build().unwrap();
    session.send("One").await.unwrap();
    session.send("Two").await.unwrap();
    assert_eq!(
        h.fake.token_count_requests(),
        1,
        "refused once, then estimates only"
    );

    h.fake.set_count_tokens_error(None);
    let count = session.count_next_turn("And three?").await.unwrap();
    assert_eq!(count.messages, 5);
    assert_eq!(count.dropped, 0);
    let exact = count.exact.unwrap();
    // The fake's count of that request is what its Converse would bill for it.
    session.send("And three?").await.unwrap();
    assert_eq!(session.usage().last().unwrap().input_tokens, exact);
    assert!(count.estimated.abs_diff(exact) <= exact / 2, "{count:?}");
}

#[tokio::test]
async fn tier_latency_and_hour_long_cache_points_are_sent_reported_and_priced() {
    let h = Harness::start().await;
    let mut session = h
        .session_builder_with(long_history(3))
        .await
        .service_tier(ServiceTier::Flex)
        .latency(Latency::Optimized)
        .prompt_caching(true)
        .cache_ttl(CacheTtl::OneHour)
        .build()
        .unwrap();
    session.send("Go on.").await.unwrap();
    let body = &h.fake.requests()[0].body;
    assert_eq!(body["serviceTier"]["type"], "flex");
    assert_eq!(body["performanceConfig"]["latency"], "optimized");
    let points: Vec<&serde_json::Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().unwrap())
        .filter_map(|b| b.get("cachePoint"))
        .collect();
    assert!(!points.is_empty());
    assert!(points.iter().all(|p| p["ttl"] == "1h"), "{points:?}");
    let usage = session.usage().last().unwrap();
    assert_eq!(usage.service_tier, Some(ServiceTier::Flex));
    assert_eq!(usage.latency, Some(Latency::Optimized));
    // Flex halves the price, latency-optimised adds a quarter: 0.625 of the plain price.
    let plain = bedrock_chat::TokenUsage::new(usage.input_tokens, usage.output_tokens).with_cache(
        usage.cache_read_input_tokens,
        usage.cache_write_input_tokens,
    );
    let price = session.prices().price_for(session.model_id()).unwrap();
    let ratio = session.cost().total_usd / price.cost(&plain);
    assert!((ratio - 0.625).abs() < 1e-9, "{ratio}");

    // Streamed turns report the same.
    use futures::StreamExt;
    let mut stream = session.send_streaming("More.").await.unwrap();
    while let Some(event) = stream.next().await {
        event.unwrap();
    }
    drop(stream);
    assert_eq!(
        session.usage().last().unwrap().service_tier,
        Some(ServiceTier::Flex)
    );
}
