//! `bedrock-chat`: chat with Claude on Amazon Bedrock in the terminal or in a pipe.

use std::process::ExitCode;

use bedrock_chat_cli::{app, args::Args};
use clap::Parser;

fn main() -> ExitCode {
    // `.env` in the working directory sits under the real environment: variables already set win.
    if let Err(error) = dotenvy::from_path(".env")
        && !error.not_found()
    {
        eprintln!("bedrock-chat: cannot read .env: {error}");
        return ExitCode::from(app::EXIT_USAGE);
    }
    let args = Args::parse();
    // Logs go to stderr, off unless BEDROCK_CHAT_LOG asks (e.g. `debug`). The SDK's signing
    // internals are always excluded: at trace level they would print the session token.
    let requested = std::env::var("BEDROCK_CHAT_LOG").unwrap_or_else(|_| "off".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{requested},{}",
        bedrock_chat::LOG_FILTER_SECRET_SAFE
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(bedrock_chat::LOG_FILTER_SECRET_SAFE));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bedrock-chat: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::run(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("bedrock-chat: {error:#}");
            ExitCode::FAILURE
        }
    }
}
