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
    // Logs go to stderr, only when BEDROCK_CHAT_LOG asks (e.g. `debug`). The SDK's signing
    // internals are always excluded: at trace level they would print the session token.
    if let Ok(requested) = std::env::var("BEDROCK_CHAT_LOG") {
        use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
        use tracing_subscriber::prelude::*;
        let filter = EnvFilter::try_new(&requested)
            .unwrap_or_else(|_| EnvFilter::new("warn"))
            .and(filter_fn(bedrock_chat::secret_safe_log_filter));
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .init();
    }
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
