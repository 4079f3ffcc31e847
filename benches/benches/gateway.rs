//! What `bedrock-chat serve` adds per turn: `/v1/chat/completions` (the OpenAI-compatible
//! endpoint) and `/api/conversations/{id}/messages` (the browser chat), against the same turn
//! through the library directly, on the fake Bedrock over loopback. Alternating rounds, medians.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench gateway` (about a minute).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_chat::{
    ChatRequest, CheckedRequest, MemoryStore, Message, RetryPolicy, SessionSettings, StreamEvent,
    converse_once, converse_stream_once,
};
use bedrock_chat_benches::{MODEL, clients};
use bedrock_chat_server::{AppState, Limits, ServerConfig};
use futures::StreamExt;
use serde_json::json;

const ROUNDS: usize = 15;
const PER_ROUND: usize = 20;
const CONCURRENT: usize = 100;
const PER_CLIENT: usize = 5;

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// One turn through the library directly, whole or streamed to its end.
async fn turn_directly(
    library: Arc<bedrock_chat::BedrockClient>,
    request: Arc<CheckedRequest>,
    stream: bool,
) -> Duration {
    let started = Instant::now();
    if stream {
        let mut events =
            converse_stream_once(library.as_ref(), &request, &RetryPolicy::none(), None)
                .await
                .unwrap();
        while let Some(event) = events.next().await {
            if let StreamEvent::Metadata { .. } = event.unwrap() {}
        }
    } else {
        converse_once(library.as_ref(), &request, &RetryPolicy::none(), None)
            .await
            .unwrap();
    }
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clients = clients().await;
    let library = Arc::new(clients.library.clone());
    let mut settings = SessionSettings::default();
    settings.model_id = MODEL.to_string();
    let mut config = ServerConfig::default();
    config.openai_api = true;
    config.limits = Limits::unlimited();
    let state = AppState::new(
        clients.library.clone(),
        settings,
        MemoryStore::new(),
        config,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bedrock_chat_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let url = format!("http://{addr}/v1/chat/completions");
    let request = ChatRequest::new(MODEL, vec![Message::user("What is the capital of France?")])
        .checked()
        .unwrap();
    let policy = RetryPolicy::none();
    let body = |stream: bool| {
        json!({"model": "default", "stream": stream,
               "messages": [{"role": "user", "content": "What is the capital of France?"}]})
    };

    let request = Arc::new(request);
    let direct_whole = || turn_directly(library.clone(), request.clone(), false);
    let direct_stream = || turn_directly(library.clone(), request.clone(), true);
    let gateway = |stream: bool| {
        let http = http.clone();
        let url = url.clone();
        let body = body(stream);
        async move {
            let started = Instant::now();
            let response = http.post(&url).json(&body).send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let text = response.text().await.unwrap();
            assert!(text.contains("Paris"));
            started.elapsed()
        }
    };
    let _ = &policy;

    println!("| turn | library directly (median) | through the server (median) | added |");
    println!("|---|---|---|---|");
    for (name, stream) in [
        ("whole, /v1/chat/completions", false),
        ("streamed to the end, /v1/chat/completions", true),
    ] {
        for _ in 0..20 {
            let _ = if stream {
                direct_stream().await
            } else {
                direct_whole().await
            };
            let _ = gateway(stream).await;
        }
        let mut direct = Vec::new();
        let mut served = Vec::new();
        for _ in 0..ROUNDS {
            for _ in 0..PER_ROUND {
                direct.push(if stream {
                    direct_stream().await
                } else {
                    direct_whole().await
                });
                served.push(gateway(stream).await);
            }
        }
        let d = percentile(&mut direct, 0.5);
        let s = percentile(&mut served, 0.5);
        println!(
            "| {name} | {} | {} | {} |",
            ms(d),
            ms(s),
            ms(s.saturating_sub(d))
        );
    }

    // The browser chat's API: a stored conversation, one turn at a time.
    let base = format!("http://{addr}");
    let id: serde_json::Value = http
        .post(format!("{base}/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = id["id"].as_str().unwrap().to_string();
    let chat_turn = || {
        let http = http.clone();
        let url = format!("{base}/api/conversations/{id}/messages");
        async move {
            let started = Instant::now();
            let response = http
                .post(&url)
                .json(&json!({"text": "What is the capital of France?"}))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let _ = response.text().await.unwrap();
            started.elapsed()
        }
    };
    // A fresh conversation per round keeps the history (and so the request) the same size.
    let mut direct = Vec::new();
    let mut served = Vec::new();
    for _ in 0..ROUNDS * PER_ROUND {
        direct.push(direct_whole().await);
        served.push(chat_turn().await);
        let _ = http
            .post(format!("{base}/api/conversations/{id}/undo"))
            .send()
            .await
            .unwrap();
    }
    let d = percentile(&mut direct, 0.5);
    let s = percentile(&mut served, 0.5);
    println!(
        "| whole, /api/conversations/{{id}}/messages (load, save) | {} | {} | {} |",
        ms(d),
        ms(s),
        ms(s.saturating_sub(d))
    );

    // 100 clients at once, each sending turns one after another: through the server, then the
    // same load on the library directly.
    for stream in [false, true] {
        let started = Instant::now();
        let tasks: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let http = http.clone();
                let url = url.clone();
                let body = body(stream);
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    for _ in 0..PER_CLIENT {
                        let begun = Instant::now();
                        let response = http.post(&url).json(&body).send().await.unwrap();
                        let ok = response.status().is_success();
                        let text = response.text().await.unwrap_or_default();
                        assert!(ok && text.contains("Paris"), "a failed turn");
                        times.push(begun.elapsed());
                    }
                    times
                })
            })
            .collect();
        let mut served = Vec::new();
        let mut failed = 0;
        for task in tasks {
            match task.await {
                Ok(t) => served.extend(t),
                Err(_) => failed += 1,
            }
        }
        let served_total = started.elapsed();

        let started = Instant::now();
        let tasks: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let (library, request) = (library.clone(), request.clone());
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    for _ in 0..PER_CLIENT {
                        times.push(turn_directly(library.clone(), request.clone(), stream).await);
                    }
                    times
                })
            })
            .collect();
        let mut directly = Vec::new();
        for task in tasks {
            directly.extend(task.await.unwrap());
        }
        let direct_total = started.elapsed();
        let (d50, s50) = (percentile(&mut directly, 0.5), percentile(&mut served, 0.5));
        println!(
            "\n{CONCURRENT} concurrent clients x {PER_CLIENT} {} turns: through the server {:.0} turns/s, p50 {}, p99 {}, {failed} failed; \
             the library directly {:.0} turns/s, p50 {}, p99 {}; added at the median {}",
            if stream { "streamed" } else { "whole" },
            served.len() as f64 / served_total.as_secs_f64(),
            ms(s50),
            ms(percentile(&mut served, 0.99)),
            directly.len() as f64 / direct_total.as_secs_f64(),
            ms(d50),
            ms(percentile(&mut directly, 0.99)),
            ms(s50.saturating_sub(d50)),
        );
    }
}
