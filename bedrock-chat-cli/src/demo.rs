//! `--demo`: the whole program without AWS. A fake Bedrock (the one the tests use, speaking the
//! real wire format) runs inside the process on 127.0.0.1 and answers every message with a
//! canned reply that says so; the real SDK talks to it, so everything else is what it would be.

use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeReply, RecordedRequest};

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
    fake.respond_with(|request| Some(reply_to(request)));
    Ok(fake)
}

fn reply_to(request: &RecordedRequest) -> FakeReply {
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
    FakeReply::text(&text).chunk_delay(WORD_PACE)
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
