//! The reply cache for frequently asked questions, measured:
//!
//! 1. **Time to first token** of a hit through `bedrock-chat serve` (browser API, streamed)
//!    against a miss answered at Bedrock's pace (the fake waits 600 ms before its reply, as a
//!    Sonnet first token often does), medians of 20.
//! 2. **A replayed trace** of 1,000 first questions from 300 visitors: 50 intents with Zipf
//!    popularity (s = 1), each asked in 5 phrasings, some intents near misses of others
//!    ("opening hours" / "closing hours"). For exact and semantic mode: the hit rate, the
//!    dollars saved at the model's price, and **wrong hits** (an answer made for another
//!    intent), which must be 0 at the default threshold (a threshold of 0.5 is run beside it,
//!    to show what a low one costs). The fake's embeddings are bag-of-words vectors (see
//!    `testing::fake_embedding`), so the semantic numbers say what the cache does with vectors
//!    of that kind; Titan's own land paraphrases less exactly.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench reply_cache` (about half a minute).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_chat::testing::{FakeBedrock, FakeReply};
use bedrock_chat::{
    ChatRequest, DEFAULT_SIMILARITY_THRESHOLD, MemoryStore, Message, ModelClient, PriceTable,
    ReplyCache, SessionSettings, TitanEmbedder, TokenUsage,
};
use bedrock_chat_benches::MODEL;
use bedrock_chat_server::{AppState, ReplyCacheConfig, ServerConfig, TrustedProxies};
use futures::StreamExt;

const QUESTIONS: usize = 1000;
const VISITORS: u64 = 300;
const INTENTS: usize = 50;

/// Topic words of each intent: two content words. Intents 2k and 2k+1 share their second
/// word for k < 10 (near misses such as "opening hours" and "closing hours").
fn topic(intent: usize) -> String {
    const FIRST: [&str; 50] = [
        "opening",
        "closing",
        "parking",
        "delivery",
        "refund",
        "invoice",
        "password",
        "account",
        "shipping",
        "warranty",
        "discount",
        "membership",
        "booking",
        "cancellation",
        "payment",
        "pricing",
        "support",
        "location",
        "allergen",
        "vegan",
        "gift",
        "loyalty",
        "student",
        "pet",
        "wifi",
        "accessibility",
        "newsletter",
        "career",
        "privacy",
        "cookie",
        "holiday",
        "weekend",
        "express",
        "international",
        "tracking",
        "exchange",
        "repair",
        "install",
        "subscription",
        "trial",
        "upgrade",
        "downgrade",
        "login",
        "email",
        "phone",
        "chat",
        "feedback",
        "complaint",
        "partnership",
        "donation",
    ];
    const SECOND: [&str; 10] = [
        "hours",
        "rules",
        "options",
        "policy",
        "status",
        "limits",
        "fees",
        "times",
        "details",
        "requirements",
    ];
    let second = if intent < 20 {
        SECOND[intent / 2]
    } else {
        SECOND[intent % 10]
    };
    format!("{} {second}", FIRST[intent])
}

/// Five ways to ask about `topic`, differing only in words a search engine would drop.
fn phrasing(topic: &str, way: usize) -> String {
    match way {
        0 => format!("What are your {topic}?"),
        1 => format!("{topic}?"),
        2 => format!("Tell me about the {topic}"),
        3 => format!("Can you tell me about {topic}, please?"),
        _ => format!("what is the {topic}"),
    }
}

/// A small, seeded generator: the trace is the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `(visitor, intent, question)` for each of the trace's questions.
fn trace() -> Vec<(u64, usize, String)> {
    let weights: Vec<f64> = (1..=INTENTS).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..QUESTIONS)
        .map(|_| {
            let mut pick = rng.unit() * total;
            let mut intent = 0;
            while pick > weights[intent] && intent + 1 < INTENTS {
                pick -= weights[intent];
                intent += 1;
            }
            let way = (rng.next() % 5) as usize;
            let visitor = rng.next() % VISITORS;
            (visitor, intent, phrasing(&topic(intent), way))
        })
        .collect()
}

/// The fake answers each question with its intent, so a hit tells which intent it was made for.
fn answer_by_intent(fake: &FakeBedrock) {
    let intents: HashMap<String, usize> = (0..INTENTS)
        .flat_map(|intent| (0..5).map(move |way| (phrasing(&topic(intent), way), intent)))
        .collect();
    fake.respond_with(move |request| {
        let question = request.messages().last()?.1.clone();
        let intent = intents.get(&question)?;
        Some(FakeReply::text(&format!("Answer for intent {intent}.")).usage(60, 180))
    });
}

async fn replay(semantic: Option<f32>) {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_recording(false);
    answer_by_intent(&fake);
    let client: Arc<dyn ModelClient> = Arc::new(fake.client().await.unwrap());
    let mut cache = ReplyCache::new(Arc::new(MemoryStore::new()));
    if let Some(threshold) = semantic {
        let embedder = TitanEmbedder::new(fake.client().await.unwrap());
        cache = cache.semantic(Arc::new(embedder), threshold);
    }
    let price = PriceTable::default().price_for(MODEL).unwrap();
    let (mut hits, mut wrong, mut saved) = (0, 0, 0.0);
    let started = Instant::now();
    for (visitor, intent, question) in trace() {
        let cached = cache.client(client.clone(), format!("visitor-{visitor}"));
        let request = ChatRequest::new(MODEL, vec![Message::user(question)]);
        let response = cached.converse(&request).await.unwrap();
        if let Some(lookup) = cached.lookup()
            && let bedrock_chat::CacheLookup::Hit { saved: usage } = lookup
        {
            hits += 1;
            saved += price.cost(&usage);
            if response.text() != format!("Answer for intent {intent}.") {
                wrong += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let spent = price.cost(&TokenUsage::new(60, 180)) * (QUESTIONS - hits) as f64;
    println!(
        "  {:<15} {hits:>4} hits of {QUESTIONS} ({:.1}%), {wrong} wrong, ${saved:.3} saved of \
         ${:.3}; Bedrock calls {}, embeddings {}; {:.0} µs a question",
        semantic.map_or_else(|| "exact".to_string(), |t| format!("semantic {t:.2}")),
        hits as f64 / QUESTIONS as f64 * 100.0,
        saved + spent,
        fake.request_count(),
        fake.embedding_count(),
        elapsed.as_secs_f64() * 1e6 / QUESTIONS as f64,
    );
}

/// The time to the first `delta` of a streamed turn through `serve`.
async fn first_token(http: &reqwest::Client, base: &str, address: &str, text: &str) -> Duration {
    let created: serde_json::Value = http
        .post(format!("{base}/api/conversations"))
        .header("x-forwarded-for", address)
        .header(
            "cookie",
            format!("bc_client={:0>32}", address.replace('.', "")),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let started = Instant::now();
    let response = http
        .post(format!("{base}/api/conversations/{id}/messages"))
        .header("x-forwarded-for", address)
        .header(
            "cookie",
            format!("bc_client={:0>32}", address.replace('.', "")),
        )
        .header("accept", "text/event-stream")
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let mut first = None;
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if first.is_none() && seen.contains("event: delta") {
            first = Some(started.elapsed());
        }
        if seen.contains("event: done") {
            break;
        }
    }
    first.expect("a delta arrived")
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

async fn time_to_first_token() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_recording(false);
    fake.set_fallback(
        FakeReply::chunks(["We open ", "at nine ", "every day."]).delay(Duration::from_millis(600)),
    );
    let client = fake.client().await.unwrap();
    let mut settings = SessionSettings::default();
    settings.model_id = MODEL.to_string();
    let mut config = ServerConfig::default();
    config.trusted_proxies = TrustedProxies::Hops(1);
    config.limits = bedrock_chat_server::Limits::unlimited();
    config.reply_cache = Some(ReplyCacheConfig::default());
    let state = AppState::new(client, settings, MemoryStore::new(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(bedrock_chat_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let mut misses = Vec::new();
    for n in 0..20 {
        // A question of its own each time: always a miss.
        misses.push(
            first_token(
                &http,
                &base,
                &format!("10.0.0.{n}"),
                &format!("Question {n}?"),
            )
            .await,
        );
    }
    for n in 0..2 {
        first_token(&http, &base, &format!("10.0.1.{n}"), "Opening hours?").await;
    }
    let mut hits = Vec::new();
    for n in 0..20 {
        hits.push(first_token(&http, &base, &format!("10.0.2.{n}"), "Opening hours?").await);
    }
    println!(
        "  time to first token through serve: miss {:.1} ms, hit {:.2} ms (medians of 20)",
        median(misses).as_secs_f64() * 1e3,
        median(hits).as_secs_f64() * 1e3,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("reply cache:");
    time_to_first_token().await;
    println!(
        "a trace of {QUESTIONS} first questions, {INTENTS} intents (Zipf), 5 phrasings, {VISITORS} visitors, min askers 2:"
    );
    replay(None).await;
    replay(Some(DEFAULT_SIMILARITY_THRESHOLD)).await;
    // Too low a threshold, for contrast: near misses ("closing hours" for "opening hours").
    replay(Some(0.5)).await;
}
