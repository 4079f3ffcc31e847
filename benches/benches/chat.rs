//! Time per turn: the library against the bare AWS SDK doing the same work, in the same run, on a
//! fake Bedrock over loopback. Compare the `library` and `sdk` lines of each group: their ratio is
//! what the library adds.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench chat`
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{ContentBlockDelta, ConverseStreamOutput};
use bedrock_chat::{BedrockClient, ChatSession, RetryPolicy, StreamEvent};
use bedrock_chat_benches::{MODEL, clients, history, sdk_history, sdk_inference, sdk_user};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use tokio::runtime::Runtime;

const QUESTION: &str = "What is the capital of France?";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn session(client: &BedrockClient, history: Vec<bedrock_chat::Message>) -> ChatSession {
    ChatSession::builder(client.clone())
        .model_id(MODEL)
        .retry_policy(RetryPolicy::none())
        .history(history)
        .build()
        .unwrap()
}

/// One non-streaming turn: `ChatSession::send` against a bare `converse` call.
fn turn(c: &mut Criterion) {
    let rt = runtime();
    let clients = rt.block_on(clients());
    let mut group = c.benchmark_group("turn");
    group.bench_function("library", |b| {
        let mut session = session(&clients.library, Vec::new());
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let reply = session.send(QUESTION).await.unwrap();
                    std::hint::black_box(reply.text());
                    session.undo();
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("sdk", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let output = clients
                        .sdk
                        .converse()
                        .model_id(MODEL)
                        .messages(sdk_user(QUESTION))
                        .inference_config(sdk_inference())
                        .send()
                        .await
                        .unwrap();
                    std::hint::black_box(output.output());
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// Streaming: time to the first text, and to the end of the stream.
fn stream(c: &mut Criterion) {
    let rt = runtime();
    let clients = rt.block_on(clients());
    for (name, to_end) in [("stream_first_text", false), ("stream_whole", true)] {
        let mut group = c.benchmark_group(name);
        group.bench_function("library", |b| {
            let mut session = session(&clients.library, Vec::new());
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let mut stream = session.send_streaming(QUESTION).await.unwrap();
                        while let Some(event) = stream.next().await {
                            if matches!(event.unwrap(), StreamEvent::TextDelta(_)) && !to_end {
                                break;
                            }
                        }
                        total += start.elapsed();
                        // Read the rest untimed so both sides leave the connection reusable.
                        while stream.next().await.is_some() {}
                        drop(stream);
                        session.undo();
                    }
                    total
                })
            })
        });
        group.bench_function("sdk", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let mut output = clients
                            .sdk
                            .converse_stream()
                            .model_id(MODEL)
                            .messages(sdk_user(QUESTION))
                            .inference_config(sdk_inference())
                            .send()
                            .await
                            .unwrap();
                        let mut text = String::new();
                        let mut timed = false;
                        while let Some(event) = output.stream.recv().await.unwrap() {
                            if let ConverseStreamOutput::ContentBlockDelta(delta) = event
                                && let Some(ContentBlockDelta::Text(t)) = delta.delta
                            {
                                text.push_str(&t);
                                if !to_end && !timed {
                                    total += start.elapsed();
                                    timed = true;
                                }
                            }
                        }
                        if to_end {
                            total += start.elapsed();
                        }
                        std::hint::black_box(text);
                    }
                    total
                })
            })
        });
        group.finish();
    }
}

/// One turn with 10, 100 and 1,000 messages of history.
fn history_length(c: &mut Criterion) {
    let rt = runtime();
    let clients = rt.block_on(clients());
    let mut group = c.benchmark_group("history");
    group.sample_size(20);
    for messages in [10, 100, 1000] {
        let past = history(messages);
        let bytes: usize = bedrock_chat_benches::text_bytes(&past);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::new("library", messages), &past, |b, past| {
            let mut session = session(&clients.library, past.clone());
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        std::hint::black_box(session.send(QUESTION).await.unwrap());
                        session.undo();
                    }
                    start.elapsed()
                })
            })
        });
        let sdk_past = sdk_history(&past);
        group.bench_with_input(
            BenchmarkId::new("sdk", messages),
            &sdk_past,
            |b, sdk_past| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            // An application on the bare SDK keeps its history and sends a copy.
                            let mut messages = sdk_past.clone();
                            messages.push(sdk_user(QUESTION));
                            let output = clients
                                .sdk
                                .converse()
                                .model_id(MODEL)
                                .set_messages(Some(messages))
                                .inference_config(sdk_inference())
                                .send()
                                .await
                                .unwrap();
                            std::hint::black_box(output.output());
                        }
                        start.elapsed()
                    })
                })
            },
        );
    }
    group.finish();
}

/// 1,000 sessions at once on one shared client.
fn concurrency(c: &mut Criterion) {
    const SESSIONS: usize = 1000;
    let rt = runtime();
    let clients = rt.block_on(clients());
    let mut group = c.benchmark_group("concurrent_1000");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SESSIONS as u64));
    group.bench_function("library", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..SESSIONS {
                        let mut session = session(&clients.library, Vec::new());
                        tasks.spawn(async move { session.send(QUESTION).await.map(|r| r.text()) });
                    }
                    let mut completed = 0;
                    while let Some(done) = tasks.join_next().await {
                        done.unwrap().unwrap();
                        completed += 1;
                    }
                    assert_eq!(completed, SESSIONS, "every turn completes");
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.bench_function("sdk", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..SESSIONS {
                        let sdk = clients.sdk.clone();
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
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = turn, stream, history_length, concurrency
}
criterion_main!(benches);
