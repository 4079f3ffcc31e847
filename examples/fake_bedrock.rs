//! A fake Bedrock runtime on 127.0.0.1, to try the REPL and the examples without AWS.
//!
//! Shows: `bedrock_chat::testing::FakeBedrock`, the same fake the tests use. It speaks the real
//! wire format, so the unmodified AWS SDK talks to it.
//!
//! Needs: nothing. Run it, then point any program at the URL it prints:
//!
//! ```text
//! cargo run -p bedrock-chat-examples --example fake_bedrock -- --port 8123 --throttle 2
//! AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:8123 AWS_REGION=us-east-1 \
//!   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test cargo run -p bedrock-chat-cli
//! ```
//!
//! Flags: `--port N` listens on port N (default: any free port, printed); `--throttle N`
//! throttles the first N requests; `--chunk-delay MS` pauses between streamed chunks (default
//! 30).

use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut throttle = 0;
    let mut port = 0;
    let mut chunk_delay = 30;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--throttle", Some(n)) => throttle = n as usize,
            ("--chunk-delay", Some(ms)) => chunk_delay = ms,
            ("--port", Some(n)) => port = u16::try_from(n)?,
            _ => anyhow::bail!("unknown or incomplete flag {flag}"),
        }
    }
    let fake = FakeBedrock::start_on(port).await?;
    fake.push_times(throttle, FakeReply::error(FakeError::Throttling));
    fake.set_fallback(
        FakeReply::text(
            "This is the fake Bedrock. Every answer is this sentence, streamed word by word.",
        )
        .chunk_delay(Duration::from_millis(chunk_delay)),
    );
    println!("{}", fake.endpoint_url());
    eprintln!("fake Bedrock listening; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    eprintln!("{} requests served", fake.request_count());
    Ok(())
}
