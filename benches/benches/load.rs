//! Many visitors at once through the browser chat's HTTP API: 200 conversations x 5 streamed
//! turns, all 200 under way together, on two server instances sharing one real `redis-server`
//! (turns alternate between the instances), on one instance with the in-process store, and
//! through the library directly. Reports turns/s, time to first text (p50, p99), failed and lost
//! turns, and what the server adds at the median.
//!
//! Two tables: at Bedrock's pace (the fake waits as Claude does, and the visitors arrive over
//! about one turn), where the difference is what the server adds to a turn; and as fast as the
//! machine goes (the fake answers at once, every visitor starts together), a saturation test in
//! which the difference is mostly queueing for the cores.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench load` (needs Debian's redis-server).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_chat::testing::FakeReply;
use bedrock_chat::testing::RedisServer;
use bedrock_chat::{
    ChatRequest, ConversationStore, MemoryStore, Message, RedisStore, RetryPolicy, SessionSettings,
    StreamEvent, converse_stream_once,
};
use bedrock_chat_benches::{MODEL, REPLY, clients};
use bedrock_chat_server::{AppState, Limits, ServerConfig};
use futures::StreamExt;

const CONVERSATIONS: usize = 200;
const TURNS: usize = 5;

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn instance(
    client: bedrock_chat::BedrockClient,
    store: Arc<dyn ConversationStore>,
) -> String {
    let mut settings = SessionSettings::default();
    settings.model_id = MODEL.to_string();
    let mut config = ServerConfig::default();
    config.limits = Limits::unlimited();
    let state = AppState::with_shared_store(client, settings, store, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bedrock_chat_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// One streamed turn through the API: (time to the first delta, whole turn), or `None` if it
/// failed.
async fn api_turn(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    cookie: &str,
) -> Option<(Duration, Duration)> {
    let started = Instant::now();
    let mut response = http
        .post(format!("{base}/api/conversations/{id}/messages"))
        .header("cookie", cookie)
        .header("accept", "text/event-stream")
        .json(&serde_json::json!({"text": "What is the capital of France?"}))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let mut body = String::new();
    let mut first = None;
    while let Some(chunk) = response.chunk().await.ok()? {
        body.push_str(&String::from_utf8_lossy(&chunk));
        if first.is_none() && body.contains("event: delta") {
            first = Some(started.elapsed());
        }
    }
    body.contains("event: done")
        .then(|| (first.unwrap_or_default(), started.elapsed()))
}

/// Runs the conversations, the `n`th starting `n * stagger` after the first.
async fn run(name: &str, bases: &[String], stagger: Duration) -> Duration {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONVERSATIONS)
        .map(|n| {
            let http = http.clone();
            let bases = bases.to_vec();
            tokio::spawn(async move {
                tokio::time::sleep(stagger * n as u32).await;
                let cookie = format!("bc_client={n:032x}");
                let created: serde_json::Value = http
                    .post(format!("{}/api/conversations", bases[0]))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = created["id"].as_str().unwrap().to_string();
                let mut results = Vec::new();
                for turn in 0..TURNS {
                    let base = &bases[turn % bases.len()];
                    results.push(api_turn(&http, base, &id, &cookie).await);
                }
                let stored: serde_json::Value = http
                    .get(format!("{}/api/conversations/{id}", bases[bases.len() - 1]))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let kept = stored["messages"].as_array().map_or(0, Vec::len) / 2;
                (results, kept)
            })
        })
        .collect();
    let mut firsts = Vec::new();
    let mut failed = 0;
    let mut lost = 0;
    for task in tasks {
        let (results, kept) = task.await.unwrap();
        let ok = results.iter().filter(|r| r.is_some()).count();
        failed += results.len() - ok;
        lost += ok.saturating_sub(kept);
        firsts.extend(results.into_iter().flatten().map(|(first, _)| first));
    }
    let elapsed = started.elapsed();
    let turns = firsts.len();
    let p50 = percentile(&mut firsts, 0.5);
    println!(
        "| {name} | {:.0} | {} | {} | {failed} | {lost} |",
        turns as f64 / elapsed.as_secs_f64(),
        ms(p50),
        ms(percentile(&mut firsts, 0.99)),
    );
    p50
}

/// The same turns through the library directly: each conversation's turns in order, timed to
/// the first text as through the API.
async fn direct(library: &bedrock_chat::BedrockClient, stagger: Duration) -> Duration {
    let library = Arc::new(library.clone());
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONVERSATIONS)
        .map(|n| {
            let library = library.clone();
            tokio::spawn(async move {
                tokio::time::sleep(stagger * n as u32).await;
                let mut history: Vec<Message> = Vec::new();
                let mut firsts = Vec::new();
                for _ in 0..TURNS {
                    history.push(Message::user("What is the capital of France?"));
                    let request = ChatRequest::new(MODEL, history.clone()).checked().unwrap();
                    let begun = Instant::now();
                    let mut events = converse_stream_once(
                        library.as_ref(),
                        &request,
                        &RetryPolicy::none(),
                        None,
                    )
                    .await
                    .unwrap();
                    let mut text = String::new();
                    while let Some(event) = events.next().await {
                        if let StreamEvent::TextDelta(delta) = event.unwrap() {
                            if text.is_empty() {
                                firsts.push(begun.elapsed());
                            }
                            text.push_str(&delta);
                        }
                    }
                    history.push(Message::assistant(text));
                }
                firsts
            })
        })
        .collect();
    let mut firsts = Vec::new();
    for task in tasks {
        firsts.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let p50 = percentile(&mut firsts, 0.5);
    println!(
        "| the library directly | {:.0} | {} | {} | 0 | 0 |",
        firsts.len() as f64 / elapsed.as_secs_f64(),
        ms(p50),
        ms(percentile(&mut firsts, 0.99)),
    );
    p50
}

/// One table: the three setups with the fake answering `reply`.
async fn scenario(
    title: &str,
    clients: &bedrock_chat_benches::Clients,
    reply: bedrock_chat::testing::FakeReply,
    stagger: Duration,
    two: &[String],
    one: &[String],
) {
    clients.fake.set_fallback(reply);
    println!("{title}: {CONVERSATIONS} conversations x {TURNS} streamed turns, all at once:\n");
    println!("| setup | turns/s | time to first token p50 | p99 | failed | lost |");
    println!("|---|---|---|---|---|---|");
    let redis_p50 = run("2 instances, one Redis", two, stagger).await;
    let memory_p50 = run("1 instance, in-process store", one, stagger).await;
    let direct_p50 = direct(&clients.library, stagger).await;
    // Signed: at Bedrock's pace the difference is within the timers' jitter and can come out
    // below zero.
    let added = |p50: Duration| {
        format!(
            "{:+.2} ms",
            (p50.as_secs_f64() - direct_p50.as_secs_f64()) * 1000.0
        )
    };
    println!(
        "\nadded at the median time to first token: {} with Redis, {} in memory\n",
        added(redis_p50),
        added(memory_p50),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clients = clients().await;
    let redis = RedisServer::start()
        .await
        .expect("redis-server is needed: sudo apt-get install redis-server");
    let redis_store = || -> Arc<dyn ConversationStore> {
        Arc::new(
            RedisStore::builder(redis.url())
                .prefix("bench")
                .ttl(Duration::from_secs(600))
                .max_per_owner(1000)
                .build()
                .unwrap(),
        )
    };
    let two = vec![
        instance(clients.library.clone(), redis_store()).await,
        instance(clients.library.clone(), redis_store()).await,
    ];
    let one = vec![instance(clients.library.clone(), Arc::new(MemoryStore::new())).await];

    let reply = || FakeReply::text(REPLY).usage(21, 69);
    // Bedrock's own pace: Claude takes a few hundred milliseconds to its first token and then
    // streams a chunk every few tens of milliseconds. The visitors arrive over 0.6 s (about
    // one turn) rather than in the same millisecond, as people do, so all 200 conversations
    // are under way together without their turns falling into lockstep; at that pace the two
    // cores are mostly idle, and the difference is what the server adds to a turn.
    scenario(
        "At Bedrock's pace (first token after 300 ms, a chunk every 15 ms; visitors arriving over 0.6 s)",
        &clients,
        reply()
            .delay(Duration::from_millis(300))
            .chunk_delay(Duration::from_millis(15)),
        Duration::from_millis(3),
        &two,
        &one,
    )
    .await;
    // A fake that answers at once: as many turns as two cores can run. The clients, the fake,
    // Redis and the servers share the cores, so every turn queues and the difference is mostly
    // queueing behind the server's extra CPU work.
    scenario(
        "As fast as the machine goes (the fake answers at once; all visitors at once)",
        &clients,
        reply(),
        Duration::ZERO,
        &two,
        &one,
    )
    .await;
}
