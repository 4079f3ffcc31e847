//! Wiring: arguments to a client, a session and a REPL on the real terminal.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bedrock_chat::ChatConfig;
use tokio::sync::mpsc;

use crate::args::{Args, Subcommand};
use crate::input::{EditorReader, PipeReader, default_history_path};
use crate::repl::{CtrlC, NoInterrupts, Options, Outcome, Repl};
pub use crate::status::{EXIT_BROKEN_PIPE, EXIT_TURN_FAILED, EXIT_USAGE, describe, print_error};
use crate::terminal::visible;

/// Runs the program with parsed arguments and returns its exit status.
pub async fn run(args: Args) -> ExitCode {
    match run_checked(args).await {
        Ok(code) => code,
        // Whoever read our output has gone: stop quietly, as `yes | head -1` does.
        Err(error) if is_broken_pipe(&error) => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(error) => {
            print_error(&format!("{error:#}"));
            ExitCode::from(EXIT_TURN_FAILED)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

async fn run_checked(args: Args) -> anyhow::Result<ExitCode> {
    if crate::output::stdout_is_closed() {
        print_error("standard output is closed, so replies would be lost; nothing was sent");
        return Ok(ExitCode::from(EXIT_TURN_FAILED));
    }
    if let Some(prompt) = &args.prompt
        && let Err(error) = bedrock_chat::ChatSession::check_message(prompt)
    {
        print_error(&format!("-p/--prompt: {}", describe(&error)));
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let dotenv = std::path::Path::new(".env");
    let config = match ChatConfig::from_env_file(dotenv).and_then(|base| args.chat_config(base)) {
        Ok(config) => config,
        Err(error) => return Ok(usage_error(&error)),
    };
    for notice in crate::dotenv::notices(dotenv, &config, args.has("endpoint-url")) {
        writeln!(io::stderr(), "{}", visible(&notice))?;
    }
    // Kept for the whole run: the demo's fake Bedrock stops when it is dropped.
    let demo = match args.demo {
        true => Some(crate::demo::start().await?),
        false => None,
    };
    let client = match &demo {
        Some(fake) => fake.client().await,
        None => config.client().await,
    };
    let client = match client {
        Ok(client) => client,
        Err(error) => return Ok(usage_error(&error)),
    };
    if let Some(Subcommand::Models { json }) = &args.command {
        return crate::models::run(&client, *json, &config.session.model_id).await;
    }
    let knowledge_base = match args.knowledge.knowledge_base(&client) {
        Ok(kb) => kb,
        Err(error) => return Ok(usage_error(&error)),
    };
    if let Some(Subcommand::Serve(serve)) = &args.command {
        let tools = match &args.mcp_config {
            None => None,
            Some(path) => match bedrock_chat::McpConfig::from_file(path) {
                Ok(mcp) => {
                    let mcp = bedrock_chat::McpTools::connect(mcp).await;
                    warn_unavailable(&mcp).await?;
                    let mut tools = bedrock_chat_server::ServerTools::new(mcp);
                    tools.allowed = args.allow_tools.clone();
                    tools.allow_all = args.allow_all_tools;
                    Some(tools)
                }
                Err(error) => return Ok(usage_error(&error)),
            },
        };
        let stop = tools.as_ref().map(|t| t.mcp.clone());
        let code = crate::serve::run(
            client,
            config,
            serve,
            &args.cache,
            args.demo,
            tools,
            knowledge_base,
        )
        .await;
        if let Some(mcp) = stop {
            mcp.shutdown().await;
        }
        return code;
    }
    let stdin_is_terminal = io::stdin().is_terminal();
    let interactive = stdin_is_terminal && args.prompt.is_none();
    // Started before anything else is set up, so it has that time to finish.
    let endpoint = config.connection.endpoint_url.clone();
    if args.demo {
        writeln!(io::stderr(), "{}", crate::demo::DEMO_NOTICE)?;
    }
    let credentials_check = (interactive && !args.demo).then(|| {
        let client = client.clone();
        tokio::spawn(async move { client.check_credentials().await })
    });
    let (notices, notices_rx) = mpsc::unbounded_channel();
    let other_notices = notices.clone();
    // The REPL's reply cache is its own, in memory: only this user's questions are in it, so
    // by default an answer needs no other askers.
    let cached = args.cache.config(&client, 0).map(|cache| {
        let store = Arc::new(bedrock_chat::MemoryStore::new());
        let mut reply_cache = bedrock_chat::ReplyCache::new(store)
            .ttl(cache.ttl)
            .min_askers(cache.min_askers);
        if let Some((embedder, threshold)) = cache.semantic {
            reply_cache = reply_cache.semantic(embedder, threshold);
        }
        reply_cache.client(Arc::new(client.clone()), "you")
    });
    let models_from = client.clone();
    let mut builder = match &cached {
        Some(cached) => config.session_builder(cached.clone()),
        None => config.session_builder(client),
    };
    if let Some(kb) = knowledge_base {
        builder = builder.retriever(kb);
    }
    let session = match builder
        .on_retry(move |notice| {
            let _ = notices.send(notice.to_string());
        })
        .on_notice(move |notice| {
            let _ = other_notices.send(notice.to_string());
        })
        .build()
    {
        Ok(session) => session,
        Err(error) => return Ok(usage_error(&error)),
    };

    crate::signals::exit_on_termination(crate::signals::TerminalState::capture());
    let options = Options {
        interactive,
        stream: !args.no_stream,
        stdout_is_terminal: io::stdout().is_terminal(),
        stderr_is_terminal: io::stderr().is_terminal(),
        output_closed: crate::output::stdout_is_unread,
        show_reasoning: !args.hide_thinking,
    };
    let mut attachments = Vec::with_capacity(args.attach.len());
    for path in &args.attach {
        match bedrock_chat::Attachment::from_path(path) {
            Ok(attachment) => attachments.push(attachment),
            Err(error) => {
                print_error(&format!("--attach: {}", describe(&error)));
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        }
    }
    let mut repl = Repl::new(session, options, io::stdout(), io::stderr(), notices_rx);
    repl.attach(attachments);
    repl.list_models_with(models_from);
    if let Some(path) = &args.mcp_config {
        let config = match bedrock_chat::McpConfig::from_file(path) {
            Ok(config) => config,
            Err(error) => return Ok(usage_error(&error)),
        };
        let mcp = bedrock_chat::McpTools::connect(config).await;
        warn_unavailable(&mcp).await?;
        let approval =
            crate::mcp::Approval::new(interactive, args.allow_tools.clone(), args.allow_all_tools);
        if let Err(error) = repl.use_mcp(mcp, approval) {
            return Ok(usage_error(&error));
        }
    }
    if let Some(cached) = cached {
        repl.reply_cache(cached);
    }

    let outcome = if let Some(prompt) = args.prompt.clone() {
        let mut interrupts = NoInterrupts;
        repl.one_shot(prompt, &mut interrupts).await?
    } else if interactive {
        let history = args
            .history_file
            .clone()
            .or_else(|| {
                std::env::var_os(crate::dotenv::HISTORY_FILE_VARIABLE)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(default_history_path);
        let mut input = EditorReader::new(history)?;
        if let Some(warning) = credentials_warning(credentials_check).await {
            input.warn(warning);
        }
        if let Some(endpoint) = endpoint.as_ref().filter(|_| !args.demo) {
            // Said at the start: a fake or a proxy answering in Bedrock's place is no surprise.
            input.warn(format!(
                "requests go to {endpoint}, not to Bedrock's own endpoint"
            ));
        }
        let mut interrupts = CtrlC;
        repl.run(&mut input, &mut interrupts).await?
    } else {
        let mut input = PipeReader::new(io::BufReader::new(io::stdin()));
        let mut interrupts = NoInterrupts;
        repl.run(&mut input, &mut interrupts).await?
    };
    repl.stop_mcp().await;
    Ok(match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::TurnFailed => ExitCode::from(EXIT_TURN_FAILED),
        Outcome::UsageError => ExitCode::from(EXIT_USAGE),
    })
}

/// Says on stderr which MCP servers could not be reached at start.
async fn warn_unavailable(mcp: &bedrock_chat::McpTools) -> io::Result<()> {
    for server in mcp.servers().await {
        if let Some(problem) = &server.problem {
            writeln!(
                io::stderr(),
                "{}",
                visible(&format!(
                    "warning: MCP server {}: {problem}; check its entry in the MCP configuration \
                     (its tools are offered once it starts; /tools shows the servers)",
                    server.name
                ))
            )?;
        }
    }
    Ok(())
}

/// How long the prompt may wait for the credential check. Credentials from the environment or
/// the AWS files are found in well under a millisecond; only the instance metadata service, asked
/// when there are none, takes longer (a second or more where it does not exist).
const CREDENTIALS_CHECK_WAIT: Duration = Duration::from_millis(150);

/// The warning to show with the first prompt when the credential check failed, so missing
/// credentials are reported before the first message rather than after it (a missing region
/// already fails at start). Only at a terminal: in a pipe or with `--prompt` the first request
/// follows at once and says the same, and nothing should reach the network before it. A check
/// still running after [`CREDENTIALS_CHECK_WAIT`] is left to the first request, which reports
/// missing credentials at once, without retrying.
///
/// Shown before the prompt rather than printed over it later: rustyline's printer for other
/// tasks makes the editor lag behind keys that arrive together (a paste without bracketed paste),
/// which is worse than a late warning.
async fn credentials_warning(
    check: Option<tokio::task::JoinHandle<bedrock_chat::Result<()>>>,
) -> Option<String> {
    match tokio::time::timeout(CREDENTIALS_CHECK_WAIT, check?).await {
        Ok(Ok(Err(error))) => Some(format!("{error} (messages will fail until this is fixed)")),
        _ => None,
    }
}

fn usage_error(error: &bedrock_chat::Error) -> ExitCode {
    print_error(&describe(error));
    ExitCode::from(EXIT_USAGE)
}
