//! One question, one answer.
//!
//! Shows: building a `BedrockClient` from the standard AWS configuration chain and a
//! `ChatSession` on it, then `send`, which waits for the whole reply.
//!
//! Needs: AWS credentials (environment, `AWS_PROFILE`, or `aws sso login`), a region
//! (`AWS_REGION`), and access to the model in that region. `BEDROCK_MODEL_ID` picks another model.
//!
//! Run: `cargo run -p bedrock-chat-examples --example one_question -- "What is the capital of France?"`

use bedrock_chat::{BedrockClient, ChatSession};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What is the capital of France?".to_string());

    let client = BedrockClient::from_env().await?;
    let mut session = ChatSession::builder(client)
        .model_id(
            std::env::var("BEDROCK_MODEL_ID").unwrap_or(bedrock_chat::DEFAULT_MODEL_ID.into()),
        )
        .build()?;

    let reply = session.send(question).await?;
    println!("{}", reply.text());
    eprintln!(
        "({} input + {} output tokens)",
        reply.usage().input_tokens,
        reply.usage().output_tokens
    );
    Ok(())
}
