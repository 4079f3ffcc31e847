//! Many conversations at once on one shared client, as a web server would hold them.
//!
//! Shows: `BedrockClient` is cheap to clone and its clones share one connection pool; each
//! conversation is its own `ChatSession` (turns take `&mut self`, so a session is never used by
//! two tasks at once); sessions run concurrently on Tokio tasks.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`). Mind your
//! Bedrock quota: the default is 8 sessions; pass another number to change it.
//!
//! Run: `cargo run -p bedrock-chat-examples --example concurrent_sessions -- 8`

use bedrock_chat::ChatConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sessions: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(8);
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;

    let mut tasks = tokio::task::JoinSet::new();
    for user in 0..sessions {
        let client = client.clone(); // shares the connection pool
        let config = config.clone();
        tasks.spawn(async move {
            let mut session = config
                .session_builder(client)
                .system_prompt("Answer with a single number.")
                .build()?;
            let first = session.send(format!("What is {user} + {user}?")).await?;
            let second = session.send("And that times ten?").await?;
            Ok::<_, bedrock_chat::Error>((user, first.text(), second.text()))
        });
    }

    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok((user, first, second)) => println!("session {user}: {first} then {second}"),
            Err(error) => {
                failures += 1;
                eprintln!("a session failed: {error}");
            }
        }
    }
    println!(
        "{} sessions finished, {failures} failed",
        sessions - failures
    );
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}
