//! Wiring: arguments to a client, a session and a REPL on the real terminal.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use bedrock_chat::{BedrockClient, ChatConfig, ChatSession};
use tokio::sync::mpsc;

use crate::args::Args;
use crate::input::{EditorReader, PipeReader, default_history_path};
use crate::repl::{CtrlC, NoInterrupts, Options, Outcome, Repl};

/// Exit status: a turn failed.
pub const EXIT_TURN_FAILED: u8 = 1;
/// Exit status: bad usage or configuration.
pub const EXIT_USAGE: u8 = 2;

/// Runs the program with parsed arguments and returns its exit status.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match args.chat_config() {
        Ok(config) => config,
        Err(error) => return Ok(usage_error(&error)),
    };
    let client = match client(&args, &config).await {
        Ok(client) => client,
        Err(error) => return Ok(usage_error(&error)),
    };
    let (notices, notices_rx) = mpsc::unbounded_channel();
    let other_notices = notices.clone();
    let session = match ChatSession::builder(client)
        .config(&config)
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

    let stdin_is_terminal = io::stdin().is_terminal();
    let interactive = stdin_is_terminal && args.prompt.is_none();
    let options = Options {
        interactive,
        stream: !args.no_stream,
        stdout_is_terminal: io::stdout().is_terminal(),
        stderr_is_terminal: io::stderr().is_terminal(),
    };
    let mut repl = Repl::new(session, options, io::stdout(), io::stderr(), notices_rx);

    let outcome = if let Some(prompt) = args.prompt.clone() {
        let mut interrupts = NoInterrupts;
        repl.one_shot(prompt, &mut interrupts).await?
    } else if interactive {
        let history = args.history_file.clone().or_else(default_history_path);
        let mut input = EditorReader::new(history)?;
        let mut interrupts = CtrlC;
        repl.run(&mut input, &mut interrupts).await?
    } else {
        let mut input = PipeReader::new(io::BufReader::new(io::stdin()));
        let mut interrupts = NoInterrupts;
        repl.run(&mut input, &mut interrupts).await?
    };
    Ok(match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::TurnFailed => ExitCode::from(EXIT_TURN_FAILED),
    })
}

async fn client(args: &Args, config: &ChatConfig) -> bedrock_chat::Result<BedrockClient> {
    BedrockClient::builder()
        .config(config)
        .connect_timeout(args.connect_timeout)
        .read_timeout(args.read_timeout)
        .build()
        .await
}

fn usage_error(error: &bedrock_chat::Error) -> ExitCode {
    eprintln!("bedrock-chat: {error}");
    ExitCode::from(EXIT_USAGE)
}
