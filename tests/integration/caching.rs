//! Prompt caching: cache points placed where they pay off, accepted by the fake (which refuses
//! more than four, as Bedrock does), and cache tokens counted and priced.

use bedrock_chat::testing::FakeReply;
use bedrock_chat::{FunctionTool, ModelPrice, PriceTable, RetryPolicy};
use serde_json::{Value, json};

use crate::support::{Harness, assert_valid_conversation};

const SONNET: &str = "global.anthropic.claude-sonnet-4-6";

fn points(blocks: &Value) -> usize {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b.get("cachePoint").is_some())
        .count()
}

#[tokio::test]
async fn a_long_system_prompt_and_the_conversation_are_cached_and_reads_are_priced() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("one").usage(10, 5).cache_usage(0, 2_000))
        .push(FakeReply::text("two").usage(10, 5).cache_usage(2_000, 30));
    let prices =
        PriceTable::empty().with_price(SONNET, ModelPrice::new(3.0, 15.0).with_cache(0.30, 3.75));
    let mut session = h
        .builder()
        .await
        .model_id(SONNET)
        .retry_policy(RetryPolicy::none())
        .system_prompt("You know the whole manual. ".repeat(300))
        .prices(prices)
        .prompt_caching(true)
        .build()
        .unwrap();
    session.send("first").await.unwrap();
    session.send("second").await.unwrap();

    let requests = h.fake.requests();
    assert_eq!(
        points(&requests[0].body["system"]),
        1,
        "the system prompt is cached"
    );
    let messages = requests[1].body["messages"].as_array().unwrap();
    assert_eq!(
        points(&messages[0]["content"]),
        1,
        "the cache written last turn is read"
    );
    assert_eq!(
        points(&messages[2]["content"]),
        1,
        "the conversation so far is written"
    );
    assert_valid_conversation(&requests[1]);

    let total = session.usage().total();
    assert_eq!(total.cache_write_input_tokens, Some(2_030));
    assert_eq!(total.cache_read_input_tokens, Some(2_000));
    let expected = (20.0 * 3.0 + 10.0 * 15.0 + 2_000.0 * 0.30 + 2_030.0 * 3.75) / 1e6;
    assert!((session.cost().total_usd - expected).abs() < 1e-12);
}

#[tokio::test]
async fn short_prompts_get_no_cache_points_and_caching_is_off_by_default() {
    let h = Harness::start().await;
    let mut cached = h
        .builder()
        .await
        .model_id(SONNET)
        .system_prompt("Be brief.")
        .prompt_caching(true)
        .build()
        .unwrap();
    cached.send("hi").await.unwrap();
    let mut plain = h
        .builder()
        .await
        .model_id(SONNET)
        .system_prompt("Long. ".repeat(2000))
        .build()
        .unwrap();
    plain.send("hi").await.unwrap();
    for request in h.fake.requests() {
        assert!(
            !request.body.to_string().contains("cachePoint"),
            "{}",
            request.body
        );
    }
}

#[tokio::test]
async fn long_tool_definitions_are_cached_and_never_more_than_four_points() {
    let h = Harness::start().await;
    let long = "Explains at length. ".repeat(400);
    let tool = FunctionTool::with_schema(
        "lookup",
        long,
        json!({"type": "object"}),
        |_: Value| async move { Ok::<_, String>("found") },
    )
    .unwrap();
    h.fake
        .push(FakeReply::tool_use("t1", "lookup", json!({})))
        .push(FakeReply::text("Here."));
    let mut session = h
        .builder()
        .await
        .model_id(SONNET)
        .system_prompt("S".repeat(5000))
        .tool(tool)
        .prompt_caching(true)
        .build()
        .unwrap();
    session.send("look it up").await.unwrap();
    let requests = h.fake.requests();
    assert_eq!(
        requests.len(),
        2,
        "the fake refused a request: {:?}",
        requests.last().map(|r| &r.body)
    );
    let tools = &requests[1].body["toolConfig"]["tools"];
    assert_eq!(points(tools), 1);
    let total: usize = points(tools)
        + points(&requests[1].body["system"])
        + requests[1].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| points(&m["content"]))
            .sum::<usize>();
    assert_eq!(total, 4);
}
