//! Summarising a document: a PDF, Word, Excel, HTML, CSV, Markdown or text file, then a follow-up
//! question about it (the document stays in the conversation).
//!
//! Shows: `Attachment::from_path` for documents (a name Bedrock accepts is made from the file
//! name: `John's report #2.pdf` is sent as `Johns report 2`), `send_with`, and a second turn.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run: `cargo run -p bedrock-chat-examples --example summarise_document -- report.pdf`

use bedrock_chat::{Attachment, ChatConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        anyhow::bail!("usage: summarise_document FILE");
    };
    let document = Attachment::from_path(&path)?;
    eprintln!("sending {}", document.describe());
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let mut session = config.session_builder(client).build()?;

    let summary = session
        .send_with(
            "Summarise this document in three bullet points.",
            vec![document],
        )
        .await?;
    println!("{}\n", summary.text());
    let follow_up = session
        .send("What is the single most important point, in one sentence?")
        .await?;
    println!("{}", follow_up.text());
    Ok(())
}
