//! Saving a conversation and resuming it in a later run.
//!
//! Shows: `ChatSession::load` and `save`. The file is versioned JSON, replaced atomically and
//! readable only by you; a damaged or newer-version file is refused with a clear message and the
//! session is left as it was.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run it twice; the second run remembers the first:
//! `cargo run -p bedrock-chat-examples --example save_and_resume -- chat.json "My name is Ada."`
//! `cargo run -p bedrock-chat-examples --example save_and_resume -- chat.json "What is my name?"`

use std::path::PathBuf;

use bedrock_chat::ChatConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "conversation.json".into()));
    let message = args.next().unwrap_or_else(|| "Hello!".into());

    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let mut session = config.session_builder(client).build()?;
    if path.exists() {
        session.load(&path)?;
        println!(
            "(resumed {} messages from {})",
            session.history().len(),
            path.display()
        );
    }

    let reply = session.send(message).await?;
    println!("{}", reply.text());

    session.save(&path)?;
    println!(
        "(saved {} messages to {})",
        session.history().len(),
        path.display()
    );
    Ok(())
}
