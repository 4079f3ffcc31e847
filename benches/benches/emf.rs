//! How much CloudWatch log a busy server writes for its metrics: a minute at 200 turns a
//! second (12,000 turns, each recorded through the server's own `TurnMeter`, with outcomes,
//! retries and refusals mixed in as a public chatbot sees them), flushed the way `serve
//! --cloudwatch-namespace` flushes (once a minute), against writing one EMF line per turn.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench emf`. CloudWatch Logs bills ingestion by
//! the gigabyte, so bytes a day is the number that matters.

use std::time::Instant;

use bedrock_chat::TokenUsage;
use bedrock_chat_server::{CloudWatchMetrics, EmfRecorder, TurnMeter};

const TURNS_PER_SECOND: usize = 200;
const SECONDS: usize = 60;
const MODELS: [&str; 2] = [
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
];

fn recorder() -> EmfRecorder {
    EmfRecorder::new(CloudWatchMetrics {
        namespace: "BedrockChat".to_string(),
        service: "bedrock-chat-prod".to_string(),
    })
}

/// Turn `n` of the minute: mostly fine, some failing, some retried or refused.
fn record_turn(n: usize) {
    let model = MODELS[n % 7 % 2];
    let mut meter = TurnMeter::start(
        if n.is_multiple_of(3) {
            "openai"
        } else {
            "chat"
        },
        model,
    );
    meter.first_token();
    let outcome = match n % 50 {
        0 => "throttled",
        1 => "cancelled",
        2 => "timeout",
        _ => "ok",
    };
    if n.is_multiple_of(25) {
        metrics::counter!("bedrock_chat_retries_total", "kind" => "throttled").increment(1);
        metrics::counter!("bedrock_chat_throttles_total").increment(1);
    }
    if n.is_multiple_of(40) {
        metrics::counter!("bedrock_chat_refusals_total", "limit" => "rate_limited").increment(1);
    }
    let usage = TokenUsage::new(800 + (n % 400) as u64, 200 + (n % 300) as u64)
        .with_cache(Some((n % 5 * 100) as u64), Some(0));
    meter.finish(outcome, &usage, Some(0.004));
}

fn main() {
    let turns = TURNS_PER_SECOND * SECONDS;

    // As serve does it: a minute recorded, then one flush.
    let aggregated = recorder();
    let started = Instant::now();
    metrics::with_local_recorder(&aggregated, || (0..turns).for_each(record_turn));
    let recording = started.elapsed();
    let mut minute = Vec::new();
    let started = Instant::now();
    aggregated.flush(&mut minute).unwrap();
    let flushing = started.elapsed();
    let lines = minute.iter().filter(|&&b| b == b'\n').count();

    // Per turn: a flush after every turn.
    let per_turn = recorder();
    let mut every = Vec::new();
    metrics::with_local_recorder(&per_turn, || {
        for n in 0..turns {
            record_turn(n);
            per_turn.flush(&mut every).unwrap();
        }
    });
    let every_lines = every.iter().filter(|&&b| b == b'\n').count();

    let per_day = |bytes: usize| bytes as f64 * 1440.0 / 1e9;
    println!("a minute at {TURNS_PER_SECOND} turns/s ({turns} turns):");
    println!(
        "  aggregated per minute: {lines} lines, {} KB/min, {:.2} GB/day; recording {:.0} ns/turn, flush {:.1} ms",
        minute.len() / 1000,
        per_day(minute.len()),
        recording.as_nanos() as f64 / turns as f64,
        flushing.as_secs_f64() * 1e3,
    );
    println!(
        "  one line per turn:     {every_lines} lines, {} KB/min, {:.2} GB/day",
        every.len() / 1000,
        per_day(every.len()),
    );
    println!(
        "  {:.0}x less log written",
        every.len() as f64 / minute.len() as f64
    );
}
