//! Streaming a reply token by token to stdout.
//!
//! Shows: `send_streaming`, reading `StreamEvent`s as they arrive, and what happens when a stream
//! breaks half-way (`Error::StreamInterrupted`, with the conversation left unchanged).
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run: `cargo run -p bedrock-chat-examples --example streaming -- "Write a haiku about rivers."`

use std::io::Write;

use bedrock_chat::{ChatConfig, StreamEvent};
use futures::StreamExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Write a haiku about rivers.".to_string());
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let mut session = config.session_builder(client).build()?;

    // Returns once the first text has arrived; failures before that are retried.
    let mut stream = session.send_streaming(prompt).await?;
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::TextDelta(text)) => {
                write!(stdout, "{text}")?;
                stdout.flush()?;
            }
            Ok(StreamEvent::Metadata { usage, .. }) => {
                eprintln!("\n({} output tokens)", usage.output_tokens);
            }
            Ok(_) => {}
            Err(error) => {
                // The text so far was shown; the conversation does not include this turn.
                eprintln!("\nthe reply broke off: {error}");
                return Err(error.into());
            }
        }
    }
    drop(stream);
    println!();
    assert_eq!(
        session.history().len(),
        2,
        "the finished turn is in the history"
    );
    Ok(())
}
