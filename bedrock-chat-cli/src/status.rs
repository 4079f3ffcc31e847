//! Exit statuses and the one `error: ...` line: what both frontends (the REPL and `serve`)
//! end with, below both so neither imports the other.

use std::io::{self, Write};

use crate::terminal::visible;

/// Exit status: a turn failed.
pub const EXIT_TURN_FAILED: u8 = 1;
/// Exit status: bad usage or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: standard output's reader went away (`| head`), as for a process ended by SIGPIPE.
pub const EXIT_BROKEN_PIPE: u8 = 128 + 13;

/// Writes `message` to stderr as one `error: ...` line, the one style of every error the binary
/// prints (clap's own included). A closed stderr is ignored: there is nowhere else to say it, and
/// `eprintln!` would panic.
pub fn print_error(message: &str) {
    let _ = writeln!(io::stderr(), "error: {}", visible(message));
}

/// An error's message for the `error: ...` line: a configuration error without its
/// "configuration error:" heading, which the line already says.
pub fn describe(error: &bedrock_chat::Error) -> String {
    match error {
        bedrock_chat::Error::Config { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
