//! `bedrock-chat serve`: the browser chat, on the same settings as the REPL.

use std::io::{self, Write};
use std::process::ExitCode;

use std::sync::Arc;

use bedrock_chat::{BedrockClient, Budget, ChatConfig, ConversationStore, MemoryStore, RedisStore};
use bedrock_chat_server::{
    AllowedHosts, ApiKeys, AppState, CloudWatchMetrics, Limits, PUBLIC_SERVER_DAILY_USD,
    ServerConfig,
};

use crate::args::{CacheArgs, ServeArgs};
use crate::status::{EXIT_USAGE, describe, print_error};

/// Starts the server and runs it until SIGTERM or Ctrl-C.
///
/// # Errors
///
/// Writing to standard output failed.
pub async fn run(
    client: BedrockClient,
    config: ChatConfig,
    args: &ServeArgs,
    cache: &CacheArgs,
    demo: bool,
    tools: Option<bedrock_chat_server::ServerTools>,
    knowledge_base: Option<bedrock_chat::KnowledgeBase>,
) -> anyhow::Result<ExitCode> {
    // The library's one check of a dollar limit.
    for (name, value) in [
        ("--daily-budget", args.daily_budget.unwrap_or(0.0)),
        ("--client-daily-budget", args.client_daily_budget),
    ] {
        if let Err(error) = Budget::warn(value).validate() {
            print_error(&format!("{name}: {}", describe(&error)));
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    }
    // At 0 the server would refuse every message (the counts' ranges are clap's).
    if args.ttl.0.is_zero() {
        print_error("--ttl: conversations must be kept longer than 0; use e.g. 24h");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let auth_token = args.auth_token.clone().filter(|t| !t.is_empty());
    let public = !args.addr.ip().is_loopback();
    let api_keys = match (&args.api_keys, &args.api_keys_json) {
        (Some(path), _) => ApiKeys::load(path).map_err(|e| format!("--api-keys: {e}")),
        (None, Some(json)) => ApiKeys::parse(json).map_err(|e| format!("--api-keys-json: {e}")),
        (None, None) => Ok(ApiKeys::default()),
    };
    let api_keys = match api_keys {
        Ok(keys) => keys,
        Err(error) => {
            print_error(&error);
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    if let Some(namespace) = &args.cloudwatch_namespace {
        let valid = |name: &str| (1..=255).contains(&name.len()) && !name.starts_with("AWS/");
        if !valid(namespace) || !valid(&args.cloudwatch_service) {
            print_error(
                "--cloudwatch-namespace and --cloudwatch-service: 1 to 255 characters, and a \
                 namespace may not start with AWS/",
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        bedrock_chat_server::init_with_cloudwatch(CloudWatchMetrics {
            namespace: namespace.clone(),
            service: args.cloudwatch_service.clone(),
        });
    }
    if args.openai_api && auth_token.is_none() && api_keys.is_empty() && public {
        print_error(&format!(
            "refusing to serve the OpenAI-compatible API on {} without a token: anyone who finds \
             it could spend your AWS money; add --auth-token TOKEN (or BEDROCK_CHAT_AUTH_TOKEN), \
             or listen on 127.0.0.1",
            args.addr
        ));
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    // On loopback only the loopback names; elsewhere the operator names the hosts (a server
    // reached by any name can be reached through a rebound DNS name too).
    let allowed_hosts = match (&args.allowed_hosts, public) {
        (Some(hosts), _) => hosts.clone(),
        (None, false) => AllowedHosts::Loopback,
        (None, true) => {
            print_error(&format!(
                "--allowed-hosts: on {} name the host names visitors use (chat.example.com), or \
                 --allowed-hosts '*' to answer to any (only behind a proxy that checks Host)",
                args.addr
            ));
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let mut limits = Limits::default();
    limits.turns_per_minute = args.turns_per_minute;
    limits.address_turns_per_minute = args.address_turns_per_minute;
    limits.server_turns_per_minute = args.server_turns_per_minute;
    limits.conversations_per_hour = args.conversations_per_hour;
    limits.attachments_per_hour = args.attachments_per_hour;
    limits.searches_per_minute = args.searches_per_minute;
    limits.tool_calls_per_turn = args.tool_calls_per_turn;
    limits.tool_calls_per_minute = args.tool_calls_per_minute;
    limits.concurrent_turns = args.max_streams;
    limits.concurrent_turns_per_address = args.max_streams_per_address;
    limits.concurrent_turns_per_visitor = args.max_streams_per_visitor;
    limits.max_connections = args.max_connections;
    limits.max_connections_per_address = args.max_connections_per_address;
    limits.client_daily_usd = Some(args.client_daily_budget);
    limits.address_daily_usd = Some(args.address_daily_budget);
    limits.server_daily_usd = match (args.daily_budget, args.no_daily_budget, public) {
        (Some(cap), _, _) => Some(cap),
        (None, true, _) | (None, false, false) => None,
        (None, false, true) => Some(PUBLIC_SERVER_DAILY_USD),
    };
    limits.conversation_ttl = args.ttl.0;
    limits.conversations_per_client = args.conversations_per_client;
    limits.max_conversations = args.max_conversations;
    let store: Arc<dyn ConversationStore> = if args.store == "memory" {
        Arc::new(
            MemoryStore::builder()
                .ttl(limits.conversation_ttl)
                .max_per_owner(limits.conversations_per_client)
                .max_conversations(limits.max_conversations)
                .max_bytes(limits.conversation_bytes)
                .build(),
        )
    } else {
        let mut builder = RedisStore::builder(&args.store);
        if let Some(password) = args.store_password.as_deref().filter(|p| !p.is_empty()) {
            builder = builder.password(password);
        }
        let built = builder
            .prefix(&args.store_prefix)
            .ttl(limits.conversation_ttl)
            .max_per_owner(limits.conversations_per_client)
            .max_conversations(limits.max_conversations)
            .max_bytes(limits.conversation_bytes)
            .build();
        match built {
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
    // A model without a price would cost nothing as far as the daily budgets know, so a
    // visitor who picked it would spend without bound: each offered one needs a price.
    if let Some(model) = server
        .allowed_models
        .iter()
        .find(|m| config.session.prices.price_for(m).is_none())
    {
        print_error(&format!(
            "--models: {model} has no price in the price table, so the daily budgets could not \
             limit what it spends; give its price with --price-table (or offer another model)"
        ));
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    if config
        .session
        .prices
        .price_for(&config.session.model_id)
        .is_none()
    {
        eprintln!(
            "warning: {} has no price in the price table: turns are counted but not charged, \
             so the dollar budgets do not limit it (give its price with --price-table)",
            config.session.model_id
        );
    }
    server.secure_cookies = args.secure_cookies;
    server.shutdown_grace = args.shutdown_grace.0;
    server.turn_lease = args.turn_lease.0.max(std::time::Duration::from_millis(300));
    server.allowed_hosts = allowed_hosts;
    server.trusted_proxies = args.trusted_proxies.clone().unwrap_or_default();
    server.separate_metrics = args.metrics_addr.is_some();
    server.api_keys = api_keys;
    server.limits = limits;
    server.reply_cache = cache.config(&client, bedrock_chat::DEFAULT_MIN_ASKERS);
    server.notice = demo.then(|| crate::demo::DEMO_NOTICE.to_string());
    server.tools = tools;
    server.knowledge_base = knowledge_base.map(|kb| bedrock_chat_server::ServerKnowledgeBase {
        // Bedrock's default chunks are 300 tokens (about 1.2 KB); 4 KB each leaves room for
        // larger ones.
        reserve_bytes: kb.result_count() as usize * 4096,
        retriever: Arc::new(kb),
    });
    if public && server.auth_token.is_none() {
        // Said on stderr, where an operator's terminal or log collector shows it.
        eprintln!(
            "warning: serving on {} without --auth-token: anyone who reaches it can chat; each \
             visitor and address is limited, and the server may spend {} a day",
            args.addr,
            server
                .limits
                .server_daily_usd
                .map_or("without limit".to_string(), |cap| format!("${cap:.2}"))
        );
    }
    let metrics_listener = match args.metrics_addr {
        None => None,
        Some(addr) => match bedrock_chat_server::bind(addr) {
            Ok(listener) => Some(listener),
            Err(error) => {
                print_error(&format!(
                    "cannot listen on {addr}: {error}; choose another address with --metrics-addr"
                ));
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        },
    };
    let listener = match bedrock_chat_server::bind(args.addr) {
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
    // As the REPL does: say at once when there are no working credentials, rather than let the
    // first visitor find out. The check runs beside the start (the credential chain can take
    // a few seconds to give up off AWS).
    if !demo {
        let check = client.clone();
        tokio::spawn(async move {
            if let Err(error) = check.check_credentials().await {
                eprintln!("warning: {error} (every message will fail until this is fixed)");
            }
        });
    }
    let state = AppState::with_shared_store(client, config.session, store, server);
    writeln!(
        io::stdout(),
        "bedrock-chat is serving {} on http://{address}/ (Ctrl-C to stop)",
        state.settings().model_id
    )?;
    if demo {
        writeln!(io::stdout(), "{}", crate::demo::DEMO_NOTICE)?;
    }
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
    if let Some(metrics) = metrics_listener {
        writeln!(
            io::stdout(),
            "metrics: http://{}/metrics",
            metrics.local_addr()?
        )?;
        tokio::spawn(bedrock_chat_server::serve_metrics(metrics));
    }
    io::stdout().flush()?;
    let served =
        bedrock_chat_server::serve(listener, state, bedrock_chat_server::shutdown_signal()).await;
    // What the last minute recorded, written before the process ends (SIGTERM included).
    bedrock_chat_server::flush_cloudwatch();
    served?;
    Ok(ExitCode::SUCCESS)
}
