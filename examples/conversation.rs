//! A multi-turn conversation with a system prompt: each turn sends the whole conversation so far,
//! so the model can refer back to earlier answers.
//!
//! Shows: `ChatConfig::from_env` (environment, then `.env`, then defaults), a system prompt,
//! several `send` calls on one session, and reading the history.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run: `cargo run -p bedrock-chat-examples --example conversation`

use bedrock_chat::{ChatConfig, Role};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let mut session = config
        .session_builder(client)
        .system_prompt("You are a geography tutor. Answer in one short sentence.")
        .build()?;

    for question in [
        "What is the longest river in France?",
        "Which sea does it flow into?", // "it" only makes sense with the first exchange as context
        "And how long is it, in kilometres?",
    ] {
        let reply = session.send(question).await?;
        println!("you:    {question}\nclaude: {}\n", reply.text());
    }

    let turns = session
        .history()
        .iter()
        .filter(|m| m.role() == Role::User)
        .count();
    let total = session.usage().total();
    println!(
        "{turns} turns, {} input + {} output tokens in total",
        total.input_tokens, total.output_tokens
    );
    Ok(())
}
