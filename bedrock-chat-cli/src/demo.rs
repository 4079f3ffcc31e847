//! `--demo`: the whole program without AWS. A fake Bedrock (the one the tests use, speaking the
//! real wire format) runs inside the process on 127.0.0.1 and answers every message with a
//! canned reply that says so; the real SDK talks to it, so everything else is what it would be.

use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakePassage, FakeReply, RecordedRequest};

/// What the banner, the REPL's first line and the page say in a demo.
pub const DEMO_NOTICE: &str = "Demo: replies are canned text from a fake Bedrock inside \
    bedrock-chat. No model reads your messages and nothing is sent to AWS.";

/// The pause between streamed words: about a model's pace, so streaming and Stop can be seen.
const WORD_PACE: Duration = Duration::from_millis(25);

/// Starts the fake on a free loopback port.
///
/// # Errors
///
/// No loopback port could be bound.
pub async fn start() -> std::io::Result<FakeBedrock> {
    let fake = FakeBedrock::start().await?;
    // Nothing is looked at afterwards: keep no record of what visitors send.
    fake.set_recording(false);
    fake.respond_with(reply_to);
    fake.add_knowledge_base(DEMO_KNOWLEDGE_BASE, demo_passages());
    Ok(fake)
}

/// The demo's knowledge base (`--knowledge-base KBDEMO0001`): a few passages about this
/// program, which the fake cites.
pub const DEMO_KNOWLEDGE_BASE: &str = "KBDEMO0001";

fn demo_passages() -> Vec<FakePassage> {
    vec![
        FakePassage::new(
            "s3://bedrock-chat-demo/docs/retries.md",
            "Throttled requests are retried after 2, 4, 8, 16 and 32 seconds. The retry policy \
             is configurable with --max-retries and --initial-retry-delay.",
        ),
        FakePassage::new(
            "https://github.com/bedrock-chat/bedrock-chat#knowledge-bases",
            "A knowledge base grounds every question: its passages go to the model as search \
             results, and the reply cites them by number.",
        ),
        FakePassage::new(
            "s3://bedrock-chat-demo/docs/costs.md",
            "Costs are shown per turn and per conversation at Bedrock's published prices. A \
             daily budget caps what the server may spend.",
        ),
    ]
}

/// The canned reply; `None` for a request whose own shape the fake answers (passages to cite,
/// a JSON schema), so those show as they would with a model.
fn reply_to(request: &RecordedRequest) -> Option<FakeReply> {
    let shaped = request.body.get("outputConfig").is_some()
        || request.body["toolConfig"]["toolChoice"]
            .get("tool")
            .is_some()
        || request.body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_array())
            .is_some_and(|blocks| blocks.iter().any(|b| b.get("searchResult").is_some()));
    if shaped {
        return None;
    }
    let question = request
        .messages()
        .last()
        .map(|(_, text)| text.clone())
        .unwrap_or_default();
    let words = question.split_whitespace().count();
    let mut start: String = question
        .split_whitespace()
        .take(8)
        .collect::<Vec<_>>()
        .join(" ");
    if words > 8 {
        start.push_str(" …");
    }
    // The visitor's words are quoted as code, so nothing in them is read as Markdown.
    let start = start.replace('`', "'");
    let text = format!(
        "**This is a canned demo reply**: no model read your message of {words} words \
         (`{start}`).\n\n\
         To talk to Claude, run `bedrock-chat` without `--demo`, with AWS credentials allowed \
         to call the model (the README's *Getting access to Claude on Bedrock*).\n\n\
         Replies stream word by word, as a model's do, so you can try stopping one (Ctrl-C in \
         the REPL, **Stop** in the browser) and asking again (`/retry`, **Regenerate**). The \
         costs shown are what Bedrock would charge for these tokens; nothing is billed. \
         Markdown is shown as a model would write it:\n\n\
         | what | where |\n|---|---|\n| the chat library | `bedrock-chat` |\n\
         | this REPL and `serve` | `bedrock-chat-cli` |\n\n\
         ```rust\nlet reply = session.send(\"Hello\").await?;\nprintln!(\"{{}}\", reply.text());\n```\n"
    );
    Some(FakeReply::text(&text).chunk_delay(WORD_PACE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_message_gets_a_reply_that_says_it_is_canned() {
        let fake = start().await.unwrap();
        let mut session = bedrock_chat::ChatSession::builder(fake.client().await.unwrap())
            .build()
            .unwrap();
        for question in ["Hello there", "What is `rm -rf` in **bold**?"] {
            let reply = session.send(question).await.unwrap();
            assert!(
                reply.text().contains("canned demo reply"),
                "{}",
                reply.text()
            );
        }
        let reply = session.history().last().unwrap().text();
        assert!(
            reply.contains("(`What is 'rm -rf' in **bold**?`)"),
            "{reply}"
        );
        assert!(fake.requests().is_empty(), "nothing is recorded");
        assert_eq!(fake.request_count(), 2);
    }
}
