//! The figures in the README: the library's cost as a ratio to the bare AWS SDK doing the same
//! work, measured in alternating rounds (library, SDK, library, SDK, ...) in one run, so that a
//! noisy machine slows both sides alike. Each figure is the median over rounds.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench ratios` (about a minute).
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput};
use bedrock_chat::{BedrockClient, ChatSession, Message, RetryPolicy, StreamEvent};
use bedrock_chat_benches::{
    Clients, MODEL, clients, history, sdk_history, sdk_inference, sdk_user, text_bytes,
};
use futures::StreamExt;

const QUESTION: &str = "What is the capital of France?";
const ROUNDS: usize = 41;

fn session(client: &BedrockClient, history: Vec<Message>) -> ChatSession {
    ChatSession::builder(client.clone())
        .model_id(MODEL)
        .retry_policy(RetryPolicy::none())
        .history(history)
        .build()
        .unwrap()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Prints one table row: median time per operation of each side, and their ratio.
fn report(name: &str, lib_rounds: Vec<Duration>, sdk_rounds: Vec<Duration>) -> f64 {
    let (lib, sdk) = (median(lib_rounds), median(sdk_rounds));
    let ratio = lib.as_secs_f64() / sdk.as_secs_f64();
    println!("| {name} | {lib:.1?} | {sdk:.1?} | {ratio:.3}x |");
    ratio
}

/// Runs the two blocks in alternating rounds of `$n` operations; each block is one operation
/// and evaluates to the time it took.
macro_rules! alternate {
    ($name:expr, $n:expr, $library:block, $sdk:block) => {{
        for _ in 0..($n).min(20) {
            let _ = $library;
            let _ = $sdk;
        }
        let mut lib_rounds = Vec::new();
        let mut sdk_rounds = Vec::new();
        for _ in 0..ROUNDS {
            let mut total = Duration::ZERO;
            for _ in 0..$n {
                total += $library;
            }
            lib_rounds.push(total / $n);
            let mut total = Duration::ZERO;
            for _ in 0..$n {
                total += $sdk;
            }
            sdk_rounds.push(total / $n);
        }
        report($name, lib_rounds, sdk_rounds)
    }};
}

async fn turn(c: &Clients) {
    let mut s = session(&c.library, Vec::new());
    alternate!(
        "one turn, whole reply (Converse)",
        50u32,
        {
            let start = Instant::now();
            std::hint::black_box(s.send(QUESTION).await.unwrap());
            let took = start.elapsed();
            s.undo();
            took
        },
        {
            let start = Instant::now();
            let output = c
                .sdk
                .converse()
                .model_id(MODEL)
                .messages(sdk_user(QUESTION))
                .inference_config(sdk_inference())
                .send()
                .await
                .unwrap();
            std::hint::black_box(output.output());
            start.elapsed()
        }
    );
}

async fn stream(c: &Clients, to_end: bool) {
    let mut s = session(&c.library, Vec::new());
    let name = if to_end {
        "streamed turn, to the end of the stream"
    } else {
        "streamed turn, to the first text"
    };
    alternate!(
        name,
        50u32,
        {
            let start = Instant::now();
            let mut took = None;
            let mut stream = s.send_streaming(QUESTION).await.unwrap();
            while let Some(event) = stream.next().await {
                if matches!(event.unwrap(), StreamEvent::TextDelta(_)) && took.is_none() && !to_end
                {
                    took = Some(start.elapsed());
                }
            }
            let took = took.unwrap_or_else(|| start.elapsed());
            drop(stream);
            s.undo();
            took
        },
        {
            let start = Instant::now();
            let mut took = None;
            let mut output = c
                .sdk
                .converse_stream()
                .model_id(MODEL)
                .messages(sdk_user(QUESTION))
                .inference_config(sdk_inference())
                .send()
                .await
                .unwrap();
            let mut text = String::new();
            while let Some(event) = output.stream.recv().await.unwrap() {
                if let ConverseStreamOutput::ContentBlockDelta(delta) = event
                    && let Some(ContentBlockDelta::Text(t)) = delta.delta
                {
                    text.push_str(&t);
                    if took.is_none() && !to_end {
                        took = Some(start.elapsed());
                    }
                }
            }
            std::hint::black_box(text);
            took.unwrap_or_else(|| start.elapsed())
        }
    );
}

async fn history_length(c: &Clients, messages: usize) -> (f64, Duration) {
    let past = history(messages);
    let sdk_past = sdk_history(&past);
    let mut s = session(&c.library, past.clone());
    let n = if messages >= 1000 { 5u32 } else { 25 };
    let name = format!(
        "one turn with {messages} messages of history ({} KB)",
        text_bytes(&past) / 1024
    );
    let mut lib_time = Duration::ZERO;
    let ratio = alternate!(
        &name,
        n,
        {
            let start = Instant::now();
            std::hint::black_box(s.send(QUESTION).await.unwrap());
            let took = start.elapsed();
            lib_time = took;
            s.undo();
            took
        },
        {
            let start = Instant::now();
            let mut messages = sdk_past.clone();
            messages.push(sdk_user(QUESTION));
            let output = c
                .sdk
                .converse()
                .model_id(MODEL)
                .set_messages(Some(messages))
                .inference_config(sdk_inference())
                .send()
                .await
                .unwrap();
            std::hint::black_box(output.output());
            start.elapsed()
        }
    );
    (ratio, lib_time)
}

async fn concurrency(c: &Clients) {
    const SESSIONS: usize = 1000;
    alternate!(
        "1,000 concurrent sessions, one turn each (time per batch)",
        1u32,
        {
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..SESSIONS {
                let mut s = session(&c.library, Vec::new());
                tasks.spawn(async move { s.send(QUESTION).await.map(|r| r.text()) });
            }
            let mut completed = 0;
            while let Some(done) = tasks.join_next().await {
                done.unwrap().unwrap();
                completed += 1;
            }
            assert_eq!(completed, SESSIONS, "every turn completes");
            start.elapsed()
        },
        {
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..SESSIONS {
                let sdk = c.sdk.clone();
                tasks.spawn(async move {
                    sdk.converse()
                        .model_id(MODEL)
                        .messages(sdk_user(QUESTION))
                        .inference_config(sdk_inference())
                        .send()
                        .await
                        .map(|o| o.stop_reason().clone())
                });
            }
            let mut completed = 0;
            while let Some(done) = tasks.join_next().await {
                done.unwrap().unwrap();
                completed += 1;
            }
            assert_eq!(completed, SESSIONS, "every turn completes");
            start.elapsed()
        }
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = clients().await;
        println!("| scenario | library | bare SDK | ratio |");
        println!("|---|---|---|---|");
        turn(&c).await;
        stream(&c, false).await;
        stream(&c, true).await;
        let mut per_kb = Vec::new();
        for messages in [10, 100, 1000] {
            let (_, took) = history_length(&c, messages).await;
            per_kb.push((messages, took));
        }
        concurrency(&c).await;
        println!();
        for (messages, took) in per_kb {
            let kb = text_bytes(&history(messages)) as f64 / 1024.0;
            println!(
                "history {messages:>4} messages: {:.1} us per KB of conversation (last library turn)",
                took.as_secs_f64() * 1e6 / kb
            );
        }
    });
}
