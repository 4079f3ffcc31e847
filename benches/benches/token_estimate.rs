//! How far the session's token estimate is from Bedrock's own count (`CountTokens`, which
//! counts a request exactly as Converse bills it).
//!
//! Offline, against the requests recorded from real Bedrock with their billed input tokens (the
//! count `CountTokens` gives for the same request). With `BEDROCK_CHAT_LIVE=1` and AWS
//! credentials, also against real `CountTokens` for conversations of several kinds (English,
//! French, Chinese, code, a long history). Prints a table; nothing is asserted.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench token_estimate`

use bedrock_chat::testing::ScriptedClient;
use bedrock_chat::{BedrockClient, ChatSession, Message, ModelClient};

/// Requests recorded from real Bedrock (tests/integration/recorded.rs): the question alone, and
/// the input tokens Converse billed for it.
const RECORDED: &[(&str, &str, u64)] = &[
    (
        "recorded: capital of France (Sonnet 4.5)",
        "What is the capital of France?",
        21,
    ),
    (
        "recorded: reply OK (Sonnet 4.6)",
        "Reply with exactly OK.",
        12,
    ),
];

fn conversations() -> Vec<(&'static str, Vec<Message>, String)> {
    let english = "The river rises in the hills above the town and runs west for forty miles \
                   before it meets the sea; in spring it floods the meadows along its banks. ";
    let french = "La rivière prend sa source dans les collines au-dessus de la ville et coule \
                  vers l'ouest sur soixante kilomètres avant de rejoindre la mer. ";
    let chinese =
        "这条河发源于城镇上方的山丘，向西流淌六十公里后汇入大海。春天河水会漫过两岸的草地。";
    let code = "fn main() {\n    let xs: Vec<u64> = (1..=10).map(|x| x * x).collect();\n    println!(\"{:?}\", xs);\n}\n";
    let history = |text: &str, exchanges: usize| -> Vec<Message> {
        (0..exchanges)
            .flat_map(|i| {
                [
                    Message::user(format!("Question {i}: {}", text.repeat(3))),
                    Message::assistant(text.repeat(6)),
                ]
            })
            .collect()
    };
    vec![
        (
            "English, 10 exchanges",
            history(english, 10),
            "Go on.".into(),
        ),
        (
            "French, 10 exchanges",
            history(french, 10),
            "Continue.".into(),
        ),
        (
            "Chinese, 10 exchanges",
            history(chinese, 10),
            "继续。".into(),
        ),
        (
            "Rust code, 10 exchanges",
            history(code, 10),
            "Explain it.".into(),
        ),
        (
            "English, 100 exchanges",
            history(english, 100),
            "Summarise.".into(),
        ),
    ]
}

async fn estimate(
    client: impl ModelClient + 'static,
    history: Vec<Message>,
    text: &str,
) -> (u64, Option<u64>) {
    let session = ChatSession::builder(client)
        .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .history(history)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let count = session
        .count_next_turn(text)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (count.estimated, count.exact)
}

fn row(name: &str, estimated: u64, exact: u64) {
    let error = (estimated as f64 - exact as f64) / exact as f64 * 100.0;
    println!("| {name} | {estimated} | {exact} | {error:+.0}% |");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| request | estimate | CountTokens | error |\n|---|---|---|---|");
    for (name, question, billed) in RECORDED {
        let (estimated, _) = estimate(ScriptedClient::new(), Vec::new(), question).await;
        row(name, estimated, *billed);
    }
    if std::env::var_os("BEDROCK_CHAT_LIVE").is_none() {
        println!(
            "\n(set BEDROCK_CHAT_LIVE=1, with AWS credentials, for real CountTokens on more conversations)"
        );
        return;
    }
    let client = BedrockClient::from_env()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (name, history, question) in conversations() {
        let (estimated, exact) = estimate(client.clone(), history, &question).await;
        match exact {
            Some(exact) => row(name, estimated, exact),
            None => println!("| {name} | {estimated} | (no count) | |"),
        }
    }
}
