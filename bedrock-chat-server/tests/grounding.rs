//! The browser chat with a knowledge base and a model picker: citations stream as events and
//! stay as footnotes; a visitor picks only an offered model and pays its price; and a stranger
//! cannot make the knowledge base search, or the model answer, without bound.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;

use bedrock_chat::testing::{FakeBedrock, FakePassage};
use bedrock_chat::{KnowledgeBase, MemoryStore};
use bedrock_chat_server::{ServerConfig, ServerKnowledgeBase, TrustedProxies};
use serde_json::{Value, json};
use support::{TestServer, events, without_limits};

const KB: &str = "KBREFUND01";

async fn grounded(config: ServerConfig) -> TestServer {
    let fake = FakeBedrock::start().await.unwrap();
    fake.add_knowledge_base(
        KB,
        vec![
            FakePassage::new("s3://acme/refunds.md", "Refunds are paid within 14 days."),
            FakePassage::new(
                "https://acme.example/shipping",
                "Orders ship within 2 days.",
            ),
            // A hostile document: its location is a script, its title markup.
            FakePassage::new(
                "javascript:alert(1)//<img src=x onerror=alert(2)>",
                "Refunds and shipping are free.",
            ),
        ],
    );
    let client = fake.client().await.unwrap();
    let mut config = config;
    config.knowledge_base = Some(ServerKnowledgeBase {
        retriever: Arc::new(KnowledgeBase::new(KB).results(3).with_client(&client)),
        reserve_bytes: 3 * 4096,
    });
    TestServer::start_on(fake, config, Arc::new(MemoryStore::new())).await
}

#[tokio::test]
async fn a_cited_reply_streams_its_sources_and_keeps_them_as_footnotes() {
    let server = grounded(ServerConfig::default()).await;
    let visitor = server.visitor();
    let id = visitor.create().await;
    let events = events(
        visitor
            .say_streaming(&id, "How do refunds and shipping work?")
            .await,
    )
    .await;
    let citations: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "citation")
        .map(|(_, data)| data)
        .collect();
    assert_eq!(citations.len(), 3, "{events:?}");
    let (_, done) = events.last().unwrap();
    let sources = done["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3);
    for source in sources {
        let location = source["location"].as_str().unwrap();
        // Only an https address is a link; s3 and anything else is text.
        if location.starts_with("https://") {
            assert_eq!(source["link"], location);
        } else {
            assert!(source["link"].is_null(), "{source}");
        }
        assert!(source["number"].as_u64().unwrap() >= 1);
    }
    // Reloaded: the footnotes are in the conversation, the passages are not in the question.
    let conversation = visitor.conversation(&id).await;
    let messages = conversation["messages"].as_array().unwrap();
    assert_eq!(messages[0]["text"], "How do refunds and shipping work?");
    assert_eq!(messages[1]["sources"].as_array().unwrap().len(), 3);
    // A whole (JSON) turn lists them too.
    let whole: Value = visitor
        .say(&id, "And exchanges?")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whole["sources"].as_array().unwrap().len(), 3, "{whole}");
}

#[tokio::test]
async fn a_flood_of_questions_is_refused_before_it_reaches_the_knowledge_base() {
    let mut config = without_limits(ServerConfig::default());
    config.trusted_proxies = TrustedProxies::Hops(1);
    config.limits.address_turns_per_minute = 2;
    let server = grounded(config).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        // A fresh cookie each time, from one address.
        let visitor = server.visitor_at("203.0.113.9");
        let id = visitor.create().await;
        statuses.push(visitor.say(&id, "Refunds?").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(
        server.fake.retrievals().len(),
        2,
        "refused turns searched nothing"
    );
}

#[tokio::test]
async fn a_visitor_picks_an_offered_model_and_only_an_offered_one() {
    let mut config = ServerConfig::default();
    config.allowed_models = vec!["us.anthropic.claude-haiku-4-5-20251001-v1:0".into()];
    let server = TestServer::start_with(config).await;
    let visitor = server.visitor();
    let models: Value = visitor.get("/api/models").await.json().await.unwrap();
    assert_eq!(
        models["default"],
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    let listed: Vec<(&str, &str)> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["label"].as_str().unwrap(), m["price"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("Claude Sonnet 4.5 (US)", "$3.3/$16.5"),
            ("Claude Haiku 4.5 (US)", "$1.1/$5.5")
        ]
    );

    let id = visitor.create().await;
    let say = |model: &str| {
        visitor
            .http
            .post(server.url(&format!("/api/conversations/{id}/messages")))
            .json(&json!({"text": "Hello", "model": model}))
            .send()
    };
    // An unoffered model (a pricier one) is refused before anything is sent.
    let refused = say("anthropic.claude-opus-4-1-20250805-v1:0")
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "model_not_found");
    let huge = say(&"x".repeat(100_000)).await.unwrap();
    assert_eq!(huge.status(), 404);
    assert!(
        huge.text().await.unwrap().len() < 2_000,
        "the name is not echoed whole"
    );
    assert_eq!(server.fake.request_count(), 0);

    let answered: Value = say("us.anthropic.claude-haiku-4-5-20251001-v1:0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answered["model"],
        "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    );
    // Charged at Haiku's price, not the server's model's.
    let usage = &answered["usage"];
    let expected = (usage["inputTokens"].as_f64().unwrap() * 1.1
        + usage["outputTokens"].as_f64().unwrap() * 5.5)
        / 1e6;
    assert!(
        (answered["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12,
        "{answered}"
    );
    // The conversation keeps its model: the next message goes there too.
    visitor.say(&id, "Again").await;
    let sent: Vec<String> = server
        .fake
        .requests()
        .iter()
        .map(|r| r.model_id.clone())
        .collect();
    assert_eq!(sent, ["us.anthropic.claude-haiku-4-5-20251001-v1:0"; 2]);
    assert_eq!(
        visitor.conversation(&id).await["model"],
        "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    );
}

#[tokio::test]
async fn a_failed_search_tells_the_visitor_nothing_of_the_operators_set_up() {
    let fake = FakeBedrock::start().await.unwrap();
    let client = fake.client().await.unwrap();
    let mut config = ServerConfig::default();
    config.knowledge_base = Some(ServerKnowledgeBase {
        retriever: Arc::new(KnowledgeBase::new("KBSECRET99").with_client(&client)),
        reserve_bytes: 4096,
    });
    let server = TestServer::start_on(fake, config, Arc::new(MemoryStore::new())).await;
    let visitor = server.visitor();
    let id = visitor.create().await;
    let response = visitor.say(&id, "Anything?").await;
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert!(body.contains("could not be searched"), "{body}");
    for secret in ["KBSECRET99", "us-east-1", "Retrieve"] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    assert_eq!(server.fake.request_count(), 0, "the model was not asked");
}
