//! A soak: minutes of mixed traffic from many visitors on keep-alive connections, against the
//! server on the in-process store and on a real `redis-server`, watching for failed requests
//! and for memory that grows.
//!
//! Each visitor keeps one connection and loops: create a conversation, three turns (streamed,
//! whole, streamed), list, read, undo, delete. Conversations are deleted, so what the stores
//! hold stays bounded, and the process's memory should be flat once warm. Reports requests and
//! turns per second, failed requests (any status but the expected one, or a transport error,
//! such as a keep-alive connection closed under the client) and the resident memory (VmRSS of
//! this process, which holds the server, the fake Bedrock and the visitors) about forty times, with
//! the slope over the second half by least squares.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench soak` (needs Debian's redis-server).
//! `SOAK_SECS` sets each store's run (default 600), `SOAK_VISITORS` the visitors (default 16),
//! `SOAK_STORES` which stores (default `memory,redis`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bedrock_chat::testing::{FakeReply, RedisServer};
use bedrock_chat::{ConversationStore, MemoryStore, RedisStore, SessionSettings};
use bedrock_chat_benches::{MODEL, REPLY, clients};
use bedrock_chat_server::{AppState, Limits, ServerConfig};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// The least-squares slope of `points` (seconds, KiB), in KiB a minute.
fn slope_per_minute(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den * 60.0 }
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    turns: AtomicU64,
    failed: AtomicU64,
}

/// One visitor's loop until `until`.
async fn visitor(base: String, n: usize, until: Instant, counts: Arc<Counts>) {
    // One connection, kept alive: a server that closes it unasked fails the next request.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let cookie = format!("bc_client={n:032x}");
    let check = |status: Result<reqwest::StatusCode, reqwest::Error>, expected: u16| {
        counts.requests.fetch_add(1, Ordering::Relaxed);
        let ok = matches!(&status, Ok(s) if s.as_u16() == expected);
        if !ok {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            eprintln!("visitor {n}: expected {expected}, got {status:?}");
        }
        ok
    };
    while Instant::now() < until {
        let created = http
            .post(format!("{base}/api/conversations"))
            .header("cookie", &cookie)
            .body("{}")
            .header("content-type", "application/json")
            .send()
            .await;
        let id = match created {
            Ok(response) if response.status() == 201 => {
                counts.requests.fetch_add(1, Ordering::Relaxed);
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                body["id"].as_str().unwrap_or_default().to_string()
            }
            other => {
                check(other.map(|r| r.status()), 201);
                continue;
            }
        };
        let at = |tail: &str| format!("{base}/api/conversations/{id}{tail}");
        for turn in 0..3 {
            let mut request = http
                .post(at("/messages"))
                .header("cookie", &cookie)
                .json(&serde_json::json!({"text": "What is the capital of France?"}));
            if turn != 1 {
                request = request.header("accept", "text/event-stream");
            }
            let answered = match request.send().await {
                Ok(response) if response.status() == 200 => response
                    .text()
                    .await
                    .is_ok_and(|body| turn == 1 || body.contains("event: done")),
                _ => false,
            };
            if check(
                Ok(if answered {
                    reqwest::StatusCode::OK
                } else {
                    reqwest::StatusCode::BAD_GATEWAY
                }),
                200,
            ) {
                counts.turns.fetch_add(1, Ordering::Relaxed);
            }
        }
        let listed = http
            .get(format!("{base}/api/conversations"))
            .header("cookie", &cookie)
            .send()
            .await;
        check(listed.map(|r| r.status()), 200);
        let read = http.get(at("")).header("cookie", &cookie).send().await;
        check(read.map(|r| r.status()), 200);
        let undone = http
            .post(at("/undo"))
            .header("cookie", &cookie)
            .send()
            .await;
        check(undone.map(|r| r.status()), 200);
        let deleted = http.delete(at("")).header("cookie", &cookie).send().await;
        check(deleted.map(|r| r.status()), 204);
    }
}

async fn soak(name: &str, store: Arc<dyn ConversationStore>, secs: u64, visitors: usize) {
    let clients = clients().await;
    clients
        .fake
        .set_fallback(FakeReply::chunks(REPLY.split_inclusive(' ')).usage(21, 69));
    let mut settings = SessionSettings::default();
    settings.model_id = MODEL.to_string();
    let mut config = ServerConfig::default();
    config.limits = Limits::unlimited();
    let state = AppState::with_shared_store(clients.library.clone(), settings, store, config);
    let listener = bedrock_chat_server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(bedrock_chat_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..visitors)
        .map(|n| tokio::spawn(visitor(base.clone(), n, until, counts.clone())))
        .collect();
    let mut samples = Vec::new();
    println!("{name}: {visitors} visitors for {secs} s");
    // About forty samples a run, 5 to 30 s apart.
    let every = Duration::from_secs((secs / 40).clamp(5, 30));
    while Instant::now() < until {
        tokio::time::sleep(every.min(until - Instant::now())).await;
        let at = started.elapsed().as_secs_f64();
        let rss = rss_kib();
        samples.push((at, rss as f64));
        println!(
            "  {at:>5.0} s  RSS {:>7.1} MiB  requests {:>8}  turns {:>7}  failed {}",
            rss as f64 / 1024.0,
            counts.requests.load(Ordering::Relaxed),
            counts.turns.load(Ordering::Relaxed),
            counts.failed.load(Ordering::Relaxed),
        );
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let second_half: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(at, _)| *at >= elapsed / 2.0)
        .collect();
    println!(
        "{name}: {:.0} requests/s, {:.0} turns/s, {} failed; RSS slope over the second half \
         {:+.1} KiB/min ({} samples)",
        counts.requests.load(Ordering::Relaxed) as f64 / elapsed,
        counts.turns.load(Ordering::Relaxed) as f64 / elapsed,
        counts.failed.load(Ordering::Relaxed),
        slope_per_minute(&second_half),
        second_half.len(),
    );
}

#[tokio::main]
async fn main() {
    let secs = env("SOAK_SECS", 600);
    let visitors = env("SOAK_VISITORS", 16) as usize;
    let stores = std::env::var("SOAK_STORES").unwrap_or_else(|_| "memory,redis".to_string());
    if stores.contains("memory") {
        soak("memory", Arc::new(MemoryStore::new()), secs, visitors).await;
    }
    if stores.contains("redis") {
        let redis = RedisServer::start()
            .await
            .expect("redis-server is installed (apt-get install redis-server)");
        let store = RedisStore::builder(redis.url())
            .prefix("soak")
            .build()
            .unwrap();
        soak("redis", Arc::new(store), secs, visitors).await;
    }
}
