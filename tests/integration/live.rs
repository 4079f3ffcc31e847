//! Against real Amazon Bedrock, when asked: `BEDROCK_CHAT_LIVE=1 cargo test -p bedrock-chat-tests
//! live -- --ignored`. Uses the standard AWS configuration chain and `BEDROCK_MODEL_ID` (default:
//! the crate's default model); costs a few hundred tokens.

use bedrock_chat::{ChatConfig, StreamEvent};
use futures::StreamExt;

fn wanted() -> bool {
    std::env::var("BEDROCK_CHAT_LIVE").is_ok_and(|v| v == "1")
}

#[tokio::test]
#[ignore = "talks to real Bedrock; set BEDROCK_CHAT_LIVE=1 and run with --ignored"]
async fn live_whole_and_streamed_turns() {
    if !wanted() {
        eprintln!("skipped: BEDROCK_CHAT_LIVE is not 1");
        return;
    }
    let config = ChatConfig::from_env().unwrap();
    let client = config.client().await.unwrap();
    let mut session = config.session_builder(client).build().unwrap();

    let reply = session.send("Reply with exactly OK.").await.unwrap();
    assert!(reply.text().contains("OK"), "{}", reply.text());
    assert!(reply.usage().input_tokens > 0);

    let mut stream = session
        .send_streaming("Now reply with exactly DONE.")
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta(delta) = event.unwrap() {
            text.push_str(&delta);
        }
    }
    drop(stream);
    assert!(text.contains("DONE"), "{text}");
    assert_eq!(session.history().len(), 4);
}
