//! `bedrock-chat serve`: the browser chat, on the same settings as the REPL.

use std::io::{self, Write};
use std::process::ExitCode;

use std::sync::Arc;

use bedrock_chat::{BedrockClient, Budget, ChatConfig, ConversationStore, MemoryStore, RedisStore};
use bedrock_chat_server::{AppState, Limits, ServerConfig};

use crate::app::{EXIT_USAGE, print_error};
use crate::args::ServeArgs;

/// Starts the server and runs it until SIGTERM or Ctrl-C.
///
/// # Errors
///
/// Writing to standard output failed.
pub async fn run(
    client: BedrockClient,
    config: ChatConfig,
    args: &ServeArgs,
) -> anyhow::Result<ExitCode> {
    // The library's one check of a dollar limit.
    for (name, value) in [
        ("--daily-budget", args.daily_budget.unwrap_or(0.0)),
        ("--client-daily-budget", args.client_daily_budget),
    ] {
        if let Err(error) = Budget::warn(value).validate() {
            print_error(&format!("{name}: {}", crate::app::describe(&error)));
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    }
    // Each of these at 0 would start a server that refuses every message.
    let refusal = if args.ttl.is_zero() {
        Some("--ttl: conversations must be kept longer than 0; use e.g. 24h")
    } else if args.max_streams == 0 {
        Some("--max-streams: at least 1 reply must be allowed at a time")
    } else if args.turns_per_minute == 0 {
        Some("--turns-per-minute: a visitor must be allowed at least 1 message a minute")
    } else if args.conversations_per_client == 0 {
        Some("--conversations-per-client: a visitor must be allowed at least 1 conversation")
    } else {
        None
    };
    if let Some(refusal) = refusal {
        print_error(refusal);
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let auth_token = args.auth_token.clone().filter(|t| !t.is_empty());
    if args.openai_api && auth_token.is_none() && !args.addr.ip().is_loopback() {
        print_error(&format!(
            "refusing to serve the OpenAI-compatible API on {} without a token: anyone who finds \
             it could spend your AWS money; add --auth-token TOKEN (or BEDROCK_CHAT_AUTH_TOKEN), \
             or listen on 127.0.0.1",
            args.addr
        ));
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let mut limits = Limits::default();
    limits.turns_per_minute = args.turns_per_minute;
    limits.concurrent_turns = args.max_streams;
    limits.client_daily_usd = Some(args.client_daily_budget);
    limits.server_daily_usd = args.daily_budget;
    limits.conversation_ttl = args.ttl;
    limits.conversations_per_client = args.conversations_per_client;
    let store: Arc<dyn ConversationStore> = if args.store == "memory" {
        Arc::new(
            MemoryStore::builder()
                .ttl(args.ttl)
                .max_per_owner(args.conversations_per_client)
                .build(),
        )
    } else {
        match RedisStore::open(
            &args.store,
            &args.store_prefix,
            args.ttl,
            args.conversations_per_client,
            8 * 1024 * 1024,
        ) {
            Ok(store) => Arc::new(store),
            Err(error) => {
                print_error(&format!("--store: {error}"));
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        }
    };
    let mut server = ServerConfig::default();
    server.auth_token = auth_token;
    server.openai_api = args.openai_api;
    server.allowed_models = args
        .allowed_models
        .iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    server.secure_cookies = args.secure_cookies;
    server.shutdown_grace = args.shutdown_grace;
    server.turn_lease = args.turn_lease.max(std::time::Duration::from_millis(300));
    server.limits = limits;
    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            print_error(&format!(
                "cannot listen on {}: {error}; choose another address with --addr",
                args.addr
            ));
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let address = listener.local_addr()?;
    let state = AppState::with_shared_store(client, config.session, store, server);
    writeln!(
        io::stdout(),
        "bedrock-chat is serving {} on http://{address}/ (Ctrl-C to stop)",
        state.settings().model_id
    )?;
    if args.store == "memory" {
        writeln!(
            io::stdout(),
            "conversations: in this process's memory (lost on restart)"
        )?;
    } else {
        // The URL may hold a password: it is not repeated.
        writeln!(io::stdout(), "conversations: on Redis (--store)")?;
    }
    if state.config().openai_api {
        writeln!(
            io::stdout(),
            "OpenAI-compatible API: http://{address}/v1 (model \"default\" or {})",
            state.settings().model_id
        )?;
    }
    io::stdout().flush()?;
    bedrock_chat_server::serve(listener, state, bedrock_chat_server::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
