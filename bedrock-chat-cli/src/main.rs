//! `bedrock-chat`: chat with Claude on Amazon Bedrock in the terminal or in a pipe.

use std::io::Write;
use std::process::ExitCode;

use bedrock_chat_cli::{app, args};

fn main() -> ExitCode {
    // `.env` is read by the library, under the environment; it is never loaded into it.
    let matches = args::command().get_matches();
    let args = match args::Args::from_matches(&matches) {
        Ok(args) => args,
        Err(error) => error.exit(),
    };
    // Logs go to stderr: for the REPL only when BEDROCK_CHAT_LOG asks (e.g. `debug`), for the
    // server at `info` unless it says otherwise, as text or, with `--log-format json`, one JSON
    // object a line. The SDK's signing internals are always excluded: at trace level they would
    // print the session token.
    let serving = match &args.command {
        Some(args::Subcommand::Serve(serve)) => Some(serve.log_format),
        _ => None,
    };
    let requested = std::env::var("BEDROCK_CHAT_LOG").ok().or_else(|| {
        // The instance-metadata client's warnings are left out: off EC2 each is a page of the
        // SDK's debug dump, and the server says itself what is missing (region, credentials).
        serving.map(|_| {
            "info,aws_config=warn,aws_config::imds=error,aws_smithy_runtime=warn".to_string()
        })
    });
    if let Some(requested) = requested {
        use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
        use tracing_subscriber::prelude::*;
        let filter = EnvFilter::try_new(&requested)
            .unwrap_or_else(|_| EnvFilter::new("warn"))
            .and(filter_fn(bedrock_chat::secret_safe_log_filter));
        // Colours only for a person at a terminal: a log file or collector gets plain text.
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        let layer = if serving == Some(args::LogFormat::Json) {
            layer.json().boxed()
        } else {
            layer.boxed()
        };
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            app::print_error(&format!("cannot start: {error}"));
            return ExitCode::FAILURE;
        }
    };
    if let Some(args::Subcommand::Healthcheck { url }) = &args.command {
        // Nothing else: no settings, no AWS, no `.env`; only the question.
        return match runtime.block_on(bedrock_chat_server::check_health(url)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                app::print_error(&format!("unhealthy: {error}"));
                ExitCode::FAILURE
            }
        };
    }
    let code = runtime.block_on(app::run(args));
    // A reply may still sit in stdout's buffer; a failure to write it is a failure of the run.
    if std::io::stdout().flush().is_err() && code == ExitCode::SUCCESS {
        return ExitCode::from(app::EXIT_TURN_FAILED);
    }
    code
}
