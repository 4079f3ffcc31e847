//! Time per turn under criterion: the library against the bare AWS SDK doing the same work, on a
//! fake Bedrock over loopback. Compare the `library` and `sdk` lines of each group. (The README's
//! table comes from `ratios.rs`, which alternates the two sides to cancel out machine noise.)
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench chat`
#![allow(missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::time::Duration;

use bedrock_chat_benches::{
    clients, history, library_batch, library_stream, library_turn, sdk_batch, sdk_history,
    sdk_stream, sdk_turn, session,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sums the durations `operation` reports over criterion's iterations.
fn timed<F: Future<Output = Duration>>(
    rt: &Runtime,
    iters: u64,
    mut operation: impl FnMut() -> F,
) -> Duration {
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += operation().await;
        }
        total
    })
}

fn turn(c: &mut Criterion) {
    let rt = runtime();
    let clients = rt.block_on(clients());
    let mut group = c.benchmark_group("turn");
    let mut s = session(&clients.library, Vec::new());
    group.bench_function("library", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += library_turn(&mut s).await;
                }
                total
            })
        })
    });
    group.bench_function("sdk", |b| {
        b.iter_custom(|iters| timed(&rt, iters, || sdk_turn(&clients.sdk, &[])))
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    let rt = runtime();
    let clients = rt.block_on(clients());
    for (name, to_end) in [("stream_first_text", false), ("stream_whole", true)] {
        let mut group = c.benchmark_group(name);
        let mut s = session(&clients.library, Vec::new());
        group.bench_function("library", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += library_stream(&mut s, to_end).await;
                    }
                    total
                })
            })
        });
        group.bench_function("sdk", |b| {
            b.iter_custom(|iters| timed(&rt, iters, || sdk_stream(&clients.sdk, to_end)))
        });
        group.finish();
    }
}

fn history_length(c: &mut Criterion) {
    let rt = runtime();
    let clients = rt.block_on(clients());
    let mut group = c.benchmark_group("history");
    group.sample_size(20);
    for messages in [10, 100, 1000] {
        let past = history(messages);
        group.throughput(Throughput::Bytes(
            bedrock_chat_benches::text_bytes(&past) as u64
        ));
        let mut s = session(&clients.library, past.clone());
        group.bench_function(BenchmarkId::new("library", messages), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += library_turn(&mut s).await;
                    }
                    total
                })
            })
        });
        let sdk_past = sdk_history(&past);
        group.bench_function(BenchmarkId::new("sdk", messages), |b| {
            b.iter_custom(|iters| timed(&rt, iters, || sdk_turn(&clients.sdk, &sdk_past)))
        });
    }
    group.finish();
}

fn concurrency(c: &mut Criterion) {
    const SESSIONS: usize = 1000;
    let rt = runtime();
    let clients = rt.block_on(clients());
    let mut group = c.benchmark_group("concurrent_1000");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SESSIONS as u64));
    group.bench_function("library", |b| {
        b.iter_custom(|iters| timed(&rt, iters, || library_batch(&clients.library, SESSIONS)))
    });
    group.bench_function("sdk", |b| {
        b.iter_custom(|iters| timed(&rt, iters, || sdk_batch(&clients.sdk, SESSIONS)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = turn, stream, history_length, concurrency
}
criterion_main!(benches);
