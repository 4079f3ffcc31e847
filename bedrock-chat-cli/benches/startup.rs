//! How fast the REPL binary is ready: `--help`, and start-up to the point where it would read
//! the first message (credentials and region in the environment, standard input at its end).
//! Target: under 100 ms to the prompt.
//!
//! Run: `cargo bench -p bedrock-chat-cli --bench startup`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median_run(args: &[&str], runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_bedrock-chat"))
                .args(args)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
                .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
                // Nothing listens here: a request before the first message would fail the run.
                .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
                .env("AWS_CONFIG_FILE", "/nonexistent")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let runs = 50;
    // One untimed run warms the page cache.
    median_run(&["--help"], 1);
    let help = median_run(&["--help"], runs);
    let ready = median_run(&[], runs);
    println!("bedrock-chat --help:                  median {help:?} over {runs} runs");
    println!("bedrock-chat start-up to first read:  median {ready:?} over {runs} runs");
}
