//! A fake Bedrock runtime on 127.0.0.1, to try the REPL, `serve` and the examples without AWS.
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
//! `--help` lists the flags: the port, throttled first requests, the pause between streamed
//! chunks, and the reply itself (`--reply TEXT`, repeated for replies in turn).

use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply};
use clap::Parser;

/// A fake Amazon Bedrock runtime on 127.0.0.1 that speaks Bedrock's real wire format (Converse
/// and ConverseStream, and InvokeModel for Titan embeddings). It prints its URL on stdout;
/// point a program at it with AWS_ENDPOINT_URL_BEDROCK_RUNTIME=URL and any credentials.
#[derive(Parser)]
#[command(name = "fake_bedrock", max_term_width = 100)]
struct Flags {
    /// The port to listen on [default: any free port, printed]
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    port: u16,

    /// Answer the first N requests with ThrottlingException (429), as Bedrock does under load
    #[arg(long, value_name = "N", default_value_t = 0)]
    throttle: usize,

    /// Milliseconds between the streamed reply's chunks (one word each)
    #[arg(long, value_name = "MS", default_value_t = 30)]
    chunk_delay: u64,

    /// The reply to every message; repeat the flag for replies in turn (the last one then
    /// answers everything after)
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "This is the fake Bedrock. Every answer is this sentence, streamed word by word."
    )]
    reply: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let fake = FakeBedrock::start_on(flags.port).await?;
    fake.push_times(flags.throttle, FakeReply::error(FakeError::Throttling));
    let delay = Duration::from_millis(flags.chunk_delay);
    let reply = |text: &str| {
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        FakeReply::chunks(words).chunk_delay(delay)
    };
    // In turn, the last one answering everything after (clap gives the flag a default).
    for (index, text) in flags.reply.iter().enumerate() {
        if index + 1 == flags.reply.len() {
            fake.set_fallback(reply(text));
        } else {
            fake.push(reply(text));
        }
    }
    println!("{}", fake.endpoint_url());
    eprintln!("fake Bedrock listening; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    eprintln!("{} requests served", fake.request_count());
    Ok(())
}
