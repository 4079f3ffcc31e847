//! A custom retry policy, printing each retry as it happens.
//!
//! Shows: `RetryPolicy` (retries, first and longest delay, jitter, a total waiting budget), an
//! `on_retry` observer for telling the user, and `Error::is_retryable` on the final error.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`). To see
//! retries without being throttled, point it at the fake server: in one terminal run
//! `cargo run -p bedrock-chat-examples --example fake_bedrock -- --throttle 3`, then set
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` to the URL it prints.
//!
//! Run: `cargo run -p bedrock-chat-examples --example retry_policy`

use std::time::Duration;

use bedrock_chat::{ChatConfig, RetryPolicy};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ChatConfig::from_env()?;
    let client = config.client().await?;

    let policy = RetryPolicy::default()
        .max_retries(4)
        .initial_delay(Duration::from_millis(500))
        .max_delay(Duration::from_secs(8))
        .jitter(true) // many clients throttled together should not come back together
        .total_budget(Some(Duration::from_secs(20)));
    println!("retry schedule without jitter: {:?}", policy.schedule());

    let mut session = config
        .session_builder(client)
        .retry_policy(policy)
        .on_retry(|notice| {
            // e.g. "throttled; retrying in 0.5 s (retry 1 of 4)"
            eprintln!("{notice}");
        })
        .build()?;

    match session.send("Say hello.").await {
        Ok(reply) => println!("{}", reply.text()),
        Err(error) => {
            eprintln!("gave up: {error}");
            eprintln!("worth trying again later: {}", error.is_retryable());
            std::process::exit(1);
        }
    }
    Ok(())
}
