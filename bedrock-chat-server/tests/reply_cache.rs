//! The reply cache for frequently asked questions (issue 28), through the browser API and
//! `/v1`, against the fake Bedrock that logs what reached it: an answer is served only once
//! enough *other* visitors asked the same thing, a hit costs nothing and says so, only ordinary
//! replies are kept, Regenerate asks the model, and the conversation goes on after a hit.
//! Visitors are told apart by address (`X-Forwarded-For` behind one trusted hop).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply, RedisServer};
use bedrock_chat::{ConversationStore, RedisStore};
use bedrock_chat_server::{ReplyCacheConfig, ServerConfig, TrustedProxies};
use futures::StreamExt;
use serde_json::{Value, json};
use support::{TestServer, Visitor, events, without_limits};

fn config() -> ServerConfig {
    let mut config = without_limits(ServerConfig::default());
    config.trusted_proxies = TrustedProxies::Hops(1);
    config.openai_api = true;
    config.reply_cache = Some(ReplyCacheConfig::default());
    config
}

async fn server() -> TestServer {
    TestServer::start_with(config()).await
}

/// A visitor at its own address asks `text` as a conversation's first message; the `done`
/// event's data.
async fn ask(visitor: &Visitor, text: &str) -> (String, Value) {
    let id = visitor.create().await;
    let response = visitor.say_streaming(&id, text).await;
    assert_eq!(response.status(), 200);
    let events = events(response).await;
    let done = events
        .iter()
        .find(|(name, _)| name == "done")
        .unwrap_or_else(|| panic!("no done event: {events:?}"))
        .1
        .clone();
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "delta")
        .map(|(_, data)| data["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        done["text"].as_str().unwrap_or(&text),
        text,
        "what streamed is the answer"
    );
    (id, done)
}

#[tokio::test]
async fn the_third_visitor_to_ask_gets_the_answer_from_the_cache_for_nothing() {
    let server = server().await;
    server
        .fake
        .set_fallback(FakeReply::text("We open at nine.").usage(1000, 200));
    let mut dones = Vec::new();
    for address in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let visitor = server.visitor_at(address);
        dones.push(ask(&visitor, "What are your opening hours?").await.1);
    }
    assert_eq!(
        server.fake.request_count(),
        2,
        "the third never reached Bedrock"
    );
    assert_eq!(dones[0]["cached"], false);
    assert_eq!(dones[1]["cached"], false);
    assert_eq!(dones[2]["cached"], true);
    assert_eq!(dones[2]["cost_usd"], 0.0);
    assert_eq!(dones[2]["usage"]["inputTokens"], 0);

    // A question only one visitor asked, however often, is never served to anyone else.
    let first = server.visitor_at("198.51.100.1");
    let _ = ask(&first, "My account 12345 is locked, why?").await;
    let _ = ask(&first, "My account 12345 is locked, why?").await;
    let other = server.visitor_at("198.51.100.9");
    let (_, done) = ask(&other, "My account 12345 is locked, why?").await;
    assert_eq!(
        done["cached"], false,
        "one visitor asking twice counts once"
    );
}

#[tokio::test]
async fn fresh_cookies_from_one_address_count_as_one_asker() {
    let server = server().await;
    server.fake.set_fallback(FakeReply::text("An answer."));
    for _ in 0..4 {
        let visitor = server.visitor_at("198.51.100.1");
        let (_, done) = ask(&visitor, "Who are you?").await;
        assert_eq!(done["cached"], false);
    }
    assert_eq!(server.fake.request_count(), 4);
}

#[tokio::test]
async fn after_a_hit_the_conversation_goes_on_and_regenerate_asks_the_model() {
    let server = server().await;
    server
        .fake
        .set_fallback(FakeReply::text("We open at nine."));
    for address in ["198.51.100.1", "198.51.100.2"] {
        let _ = ask(&server.visitor_at(address), "Opening hours?").await;
    }
    let third = server.visitor_at("198.51.100.3");
    let (id, done) = ask(&third, "Opening hours?").await;
    assert_eq!(done["cached"], true);
    let conversation = third.conversation(&id).await;
    assert_eq!(
        conversation["messages"],
        json!([
            {"role": "user", "text": "Opening hours?", "attachments": []},
            {"role": "assistant", "text": "We open at nine.", "attachments": []}
        ]),
        "the answer is in the history as if the model had written it"
    );

    // The next message goes to the model with the cached answer in its history.
    server.fake.set_fallback(FakeReply::text("Until six."));
    let response = third.say(&id, "And closing?").await;
    assert_eq!(response.status(), 200);
    let sent = server.fake.requests().last().unwrap().messages();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].1, "We open at nine.");

    // Regenerate always asks the model, and what it writes is not kept for others.
    let before = server.fake.request_count();
    let retried = third
        .http
        .post(format!("{}/api/conversations/{id}/retry", third.base))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);
    let body: Value = retried.json().await.unwrap();
    assert_eq!(body["cached"], false);
    assert_eq!(server.fake.request_count(), before + 1);
}

#[tokio::test]
async fn only_ordinary_replies_are_kept() {
    let cases: Vec<(&str, FakeReply)> = vec![
        (
            "out of tokens",
            FakeReply::text("A long answer cut").stop_reason("max_tokens"),
        ),
        (
            "a guardrail",
            FakeReply::guardrail_intervened("Sorry, I cannot.", "HATE"),
        ),
        ("a failure", FakeReply::error(FakeError::ModelError)),
    ];
    for (what, reply) in cases {
        let server = server().await;
        server.fake.set_fallback(reply);
        for address in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
            let visitor = server.visitor_at(address);
            let id = visitor.create().await;
            let _ = visitor.say(&id, "Tell me everything").await;
        }
        assert!(
            server.fake.request_count() >= 3,
            "{what} was served from the cache"
        );
    }

    // A reply the visitor hung up on part-way is not kept either.
    let server = server().await;
    server.fake.set_fallback(
        FakeReply::chunks(["Half ", "an answer."]).pause_after(1, Duration::from_secs(30)),
    );
    for address in ["198.51.100.1", "198.51.100.2"] {
        let visitor = server.visitor_at(address);
        let id = visitor.create().await;
        let response = visitor.say_streaming(&id, "Tell me").await;
        let mut body = response.bytes_stream();
        let mut seen = String::new();
        while !seen.contains("Half") {
            seen.push_str(&String::from_utf8_lossy(
                &body.next().await.unwrap().unwrap(),
            ));
        }
        drop(body);
    }
    server.fake.set_fallback(FakeReply::text("Whole."));
    let third = server.visitor_at("198.51.100.3");
    let (_, done) = ask(&third, "Tell me").await;
    assert_eq!(done["cached"], false, "a cut-off reply was kept");
}

#[tokio::test]
async fn a_reply_that_calls_a_tool_is_not_kept() {
    let server = server().await;
    let http = reqwest::Client::new();
    let body = json!({
        "model": "default",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "weather",
            "parameters": {"type": "object"}}}]
    });
    server.fake.set_fallback(FakeReply::tool_use(
        "t1",
        "weather",
        json!({"city": "Paris"}),
    ));
    for user in ["a", "b", "c"] {
        let mut body = body.clone();
        body["user"] = json!(user);
        let response = http
            .post(server.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-bedrock-chat-cache"], "miss");
    }
    assert_eq!(server.fake.request_count(), 3);
}

/// `/v1`: askers by `user` within a key (or an address), the header says hit or miss, a hit's
/// usage is zero, and `Cache-Control` is honoured.
#[tokio::test]
async fn v1_tells_hits_apart_and_honours_cache_control() {
    let server = server().await;
    server
        .fake
        .set_fallback(FakeReply::text("Reset it from the login page.").usage(500, 50));
    let http = reqwest::Client::new();
    let call = |user: &str, cache_control: Option<&str>| {
        let mut request = http
            .post(server.url("/v1/chat/completions"))
            .header("x-forwarded-for", "198.51.100.7")
            .json(&json!({"model": "default", "user": user,
                "messages": [{"role": "user", "content": "How do I reset my password?"}]}));
        if let Some(value) = cache_control {
            request = request.header("cache-control", value);
        }
        async move {
            let response = request.send().await.unwrap();
            let header = response.headers()["x-bedrock-chat-cache"]
                .to_str()
                .unwrap()
                .to_string();
            let body: Value = response.json().await.unwrap();
            (header, body)
        }
    };
    assert_eq!(call("alice", Some("no-store")).await.0, "miss");
    assert_eq!(call("alice", None).await.0, "miss");
    assert_eq!(call("bob", None).await.0, "miss");
    let (header, body) = call("carol", None).await;
    assert_eq!(header, "hit");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Reset it from the login page."
    );
    assert_eq!(body["usage"]["prompt_tokens"], 0);
    assert_eq!(server.fake.request_count(), 3);
    let (header, _) = call("dave", Some("no-cache")).await;
    assert_eq!(header, "miss", "no-cache: asked the model");
    assert_eq!(server.fake.request_count(), 4);

    // Streamed, a hit arrives as chunks like any reply.
    let response = http
        .post(server.url("/v1/chat/completions"))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"model": "default", "user": "erin", "stream": true,
            "messages": [{"role": "user", "content": "How do I reset my password?"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-bedrock-chat-cache"], "hit");
    let text = response.text().await.unwrap();
    assert!(
        text.contains("login page") && text.contains("[DONE]"),
        "{text}"
    );
    assert_eq!(server.fake.request_count(), 4);
}

/// Two instances on one Redis: askers through either count, and an answer kept through one
/// is served through the other.
#[tokio::test]
async fn two_instances_on_one_redis_share_the_cache() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let store: Arc<dyn ConversationStore> = Arc::new(
        RedisStore::builder(redis.url())
            .prefix("cache-test")
            .build()
            .unwrap(),
    );
    let one =
        TestServer::start_on(FakeBedrock::start().await.unwrap(), config(), store.clone()).await;
    let two = TestServer::start_on(FakeBedrock::start().await.unwrap(), config(), store).await;
    one.fake.set_fallback(FakeReply::text("From one."));
    two.fake.set_fallback(FakeReply::text("From two."));
    let _ = ask(&one.visitor_at("198.51.100.1"), "Where are you?").await;
    let _ = ask(&two.visitor_at("198.51.100.2"), "Where are you?").await;
    let (_, done) = ask(&two.visitor_at("198.51.100.3"), "Where are you?").await;
    assert_eq!(done["cached"], true);
    assert_eq!(
        done["text"],
        Value::Null,
        "streamed: the text came as deltas"
    );
    assert_eq!(one.fake.request_count() + two.fake.request_count(), 2);
    let (_, done) = ask(&one.visitor_at("198.51.100.4"), "Where are you?").await;
    assert_eq!(done["cached"], true, "and through the other instance");
    assert_eq!(one.fake.request_count() + two.fake.request_count(), 2);
}

/// `--reply-cache semantic`: a conversation's first question matches paraphrases (by the
/// fake's Titan-shaped embeddings) under the same rule of other askers; a near miss and an
/// unrelated question do not; a question with history is matched exactly only; an embeddings
/// model that fails is a miss, never a failed turn.
#[tokio::test]
async fn semantic_mode_matches_paraphrases_and_not_near_misses() {
    use bedrock_chat::{DEFAULT_SIMILARITY_THRESHOLD, MemoryStore, TitanEmbedder};

    let fake = FakeBedrock::start().await.unwrap();
    let embedder = TitanEmbedder::new(fake.client().await.unwrap());
    let mut config = config();
    config.reply_cache = Some(ReplyCacheConfig {
        semantic: Some((Arc::new(embedder), DEFAULT_SIMILARITY_THRESHOLD)),
        ..ReplyCacheConfig::default()
    });
    let server = TestServer::start_on(fake, config, Arc::new(MemoryStore::new())).await;
    server
        .fake
        .set_fallback(FakeReply::text("We open at nine."));
    let cached = |address: &'static str, text: &'static str| {
        let visitor = server.visitor_at(address);
        async move { ask(&visitor, text).await.1["cached"].as_bool().unwrap() }
    };
    assert!(!cached("198.51.100.1", "What are your opening hours?").await);
    assert!(!cached("198.51.100.2", "Opening hours?").await);
    assert!(cached("198.51.100.3", "what are the opening hours").await);
    assert_eq!(server.fake.request_count(), 2);
    assert!(
        !cached("198.51.100.4", "What are your closing hours?").await,
        "a near miss"
    );
    assert!(!cached("198.51.100.5", "How do I reset my password?").await);
    assert_eq!(server.fake.request_count(), 4);
    assert!(server.fake.embedding_count() >= 5);

    // With history, only the exact request matches: this goes to the model.
    let visitor = server.visitor_at("198.51.100.6");
    let (id, _) = ask(&visitor, "Where are you?").await;
    let response = visitor.say(&id, "Opening hours?").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["cached"], false);
    assert_eq!(server.fake.request_count(), 6);

    // The embeddings model throttled: asked the model, and the visitor got an answer.
    server.fake.set_embedding_error(Some(FakeError::Throttling));
    assert!(!cached("198.51.100.7", "Opening hours, please").await);
    assert_eq!(server.fake.request_count(), 7);
}

/// Attack: a script that forges `X-Forwarded-For` (with no trusted proxy in front) and a fresh
/// cookie on every request cannot pose as the "other askers" that make a question frequently
/// asked: every request comes from one peer, one asker.
#[tokio::test]
async fn forged_forwarded_addresses_and_fresh_cookies_are_one_asker() {
    let mut config = config();
    config.trusted_proxies = TrustedProxies::default();
    let server = TestServer::start_with(config).await;
    server.fake.set_fallback(FakeReply::text("An answer."));
    for forged in [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ] {
        let visitor = server.visitor_at(forged);
        let (_, done) = ask(&visitor, "What is the secret?").await;
        assert_eq!(
            done["cached"], false,
            "forged {forged} counted as another asker"
        );
    }
    assert_eq!(server.fake.request_count(), 4);
}
