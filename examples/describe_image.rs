//! Asking about an image: a PNG, JPEG, GIF or WebP file sent with a question.
//!
//! Shows: `Attachment::from_path` (the format read from the file's content, Bedrock's size limits
//! checked before anything is sent) and `ChatSession::send_with`.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run: `cargo run -p bedrock-chat-examples --example describe_image -- photo.png "What is in this picture?"`

use bedrock_chat::{Attachment, ChatConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        anyhow::bail!("usage: describe_image IMAGE [QUESTION]");
    };
    let question = args
        .next()
        .unwrap_or_else(|| "Describe this image in two sentences.".to_string());

    let image = Attachment::from_path(&path)?;
    eprintln!("sending {}", image.describe());
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let mut session = config.session_builder(client).build()?;
    let reply = session.send_with(question, vec![image]).await?;
    println!("{}", reply.text());
    Ok(())
}
