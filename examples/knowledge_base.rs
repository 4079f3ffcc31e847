//! Answers grounded in your documents: a Bedrock knowledge base is searched before each
//! question, the model cites what it used, and the sources are listed under the reply. Then the
//! models this region offers for chat.
//!
//! Shows: `KnowledgeBase` (the agent runtime's `Retrieve`) as the session's retriever,
//! `ChatResponse::sources` (numbered in order of first citation), `Citation`s with the words
//! quoted, and `BedrockClient::model_catalog` (`ListInferenceProfiles`, `ListFoundationModels`).
//!
//! Needs: AWS credentials, a region, access to the model, a knowledge base
//! (`BEDROCK_KNOWLEDGE_BASE_ID`), and `bedrock:Retrieve`, `bedrock:ListInferenceProfiles` and
//! `bedrock:ListFoundationModels`.
//!
//! Run: `BEDROCK_KNOWLEDGE_BASE_ID=KB12345678 cargo run -p bedrock-chat-examples --example knowledge_base -- "How long do refunds take?"`

use bedrock_chat::{ChatConfig, KnowledgeBase};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "How long do refunds take?".to_string());
    let id = std::env::var("BEDROCK_KNOWLEDGE_BASE_ID").map_err(|_| {
        anyhow::anyhow!("set BEDROCK_KNOWLEDGE_BASE_ID to your knowledge base's id")
    })?;
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let knowledge_base = KnowledgeBase::new(id).results(4).with_client(&client);
    knowledge_base.validate()?;
    let mut session = config
        .session_builder(client.clone())
        .retriever(knowledge_base)
        .build()?;

    let reply = session.send(question).await?;
    println!("{}", reply.text());
    let sources = reply.sources();
    if !sources.is_empty() {
        println!("\nSources:");
        for source in sources.list() {
            let title = source.title.as_deref().unwrap_or("(untitled)");
            let location = source.location.as_deref().unwrap_or("");
            println!("  [{}] {title} {location}", source.number);
            for quote in &source.quotes {
                println!("      \"{quote}\"");
            }
        }
    }

    println!("\nModels for chat in {}:", client.region());
    for model in client.model_catalog().await.list().await?.models {
        let note = if model.on_demand {
            ""
        } else {
            " (through a profile only)"
        };
        println!("  {:55} {}{note}", model.id, model.name);
    }
    Ok(())
}
