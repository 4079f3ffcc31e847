//! Slash commands: parsed here, carried out by the REPL.

use std::path::PathBuf;

/// What a line of input asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Send this text to the model.
    Say(String),
    /// `/help`
    Help,
    /// `/exit` or `/quit`
    Exit,
    /// `/clear`: start a new conversation.
    Clear,
    /// `/system [TEXT]`: show, or set, the system prompt (`/system -` clears it).
    System(Option<String>),
    /// `/model [ID]`: show, or switch, the model.
    Model(Option<String>),
    /// `/retry`: resend the last message.
    Retry,
    /// `/undo`: drop the last exchange.
    Undo,
    /// `/history`: print the conversation.
    History,
    /// `/usage`: tokens used, per turn and in total.
    Usage,
    /// `/save [--force] PATH`: `--force` replaces an existing conversation without asking.
    Save {
        /// Where to save.
        path: PathBuf,
        /// Replace an existing saved conversation without asking.
        force: bool,
    },
    /// `/load PATH`
    Load(PathBuf),
    /// `/attach [PATH]`: attach a file to the next message, or list what is attached.
    Attach(Option<PathBuf>),
    /// `/detach`: drop what is attached.
    Detach,
    /// `/tools`: the MCP servers and their tools.
    Tools,
    /// `/models`: the models and inference profiles of the region.
    Models,
    /// `/tokens`: what the next turn would send.
    Tokens,
    /// A command that needs an argument it did not get, or one that does not exist.
    Invalid(String),
}

/// What `/help` says before the commands.
const HELP_PREAMBLE: &str = "\
Type a message and press Enter to send it; the conversation so far is sent as context
(all of it, or the newest part, as --context-policy says).
End a line with \\ to continue on the next line, or paste a block between two lines of \"\"\".
Start a message with // to send text that begins with a slash.
Ctrl-C stops a reply (the conversation stays as before it); at the prompt it clears the line.
Ctrl-D or /exit quits.";

/// Every slash command, as typed and what it does: `/help` and the README's table are both
/// written from this list.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/help", "this help"),
    ("/exit", "quit (also /quit, or Ctrl-D)"),
    ("/clear", "start a new conversation (also /new)"),
    (
        "/system [TEXT]",
        "show the system prompt, or set it (/system - removes it)",
    ),
    (
        "/model [ID]",
        "show the model, or switch to another (the conversation is kept)",
    ),
    (
        "/retry",
        "send the last message again (the failed one, or the last answered one, replacing its \
         reply); never answered from the reply cache",
    ),
    ("/undo", "remove the last exchange"),
    ("/history", "show the conversation"),
    (
        "/usage",
        "tokens and estimated cost, per turn and in total, and the reply cache's hits",
    ),
    (
        "/save PATH",
        "save the conversation (versioned JSON, readable only by you, written atomically); asks \
         before replacing a saved conversation, never replaces any other file or a device",
    ),
    (
        "/save --force PATH",
        "replace an existing saved conversation without asking (how a pipe replaces one)",
    ),
    (
        "/load PATH",
        "load a saved conversation (the browser chat's JSON export too)",
    ),
    (
        "/attach PATH",
        "attach an image (PNG, JPEG, GIF, WebP) or a document (PDF, CSV, DOC, DOCX, XLS, XLSX, \
         HTML, TXT, MD) to your next message",
    ),
    ("/attach", "list what is attached"),
    ("/detach", "drop what is attached"),
    (
        "/tools",
        "the MCP servers (connected or not, and why) and their tools, with what each may do",
    ),
    (
        "/models",
        "the models and inference profiles this region offers for chat (switch with /model ID)",
    ),
    (
        "/tokens",
        "the input tokens the next turn would send: the estimate and Bedrock's exact count",
    ),
];

/// The `/help` text: the preamble, then each command with what it does, wrapped to fit an
/// 80-column terminal.
pub fn help() -> String {
    const INDENT: usize = 22;
    const WIDTH: usize = 80;
    let mut text = format!("{HELP_PREAMBLE}\n");
    for (usage, what) in COMMANDS {
        let mut line = format!("\n  {usage:<18}  ");
        if usage.len() > 18 {
            line.truncate(line.trim_end().len());
            line.push_str(&format!("\n{:INDENT$}", ""));
        }
        let mut column = INDENT;
        for (index, word) in what.split_whitespace().enumerate() {
            if index > 0 && column + 1 + word.len() > WIDTH {
                line.push_str(&format!("\n{:INDENT$}", ""));
                column = INDENT;
            } else if index > 0 {
                line.push(' ');
                column += 1;
            }
            line.push_str(word);
            column += word.chars().count();
        }
        text.push_str(&line);
    }
    text
}

/// The README's table of slash commands, from [`COMMANDS`].
#[cfg(test)]
pub(crate) fn commands_table() -> String {
    let mut table = String::from("| slash command | does |\n|---|---|\n");
    for (usage, what) in COMMANDS {
        table.push_str(&format!("| `{usage}` | {what} |\n"));
    }
    table
}

/// Parses one line of input.
pub fn parse(line: &str) -> Command {
    let trimmed = line.trim();
    if let Some(rest) = trimmed.strip_prefix("//") {
        return Command::Say(format!("/{rest}"));
    }
    let Some(body) = trimmed.strip_prefix('/') else {
        return Command::Say(line.to_string());
    };
    let (name, arg) = match body.split_once(char::is_whitespace) {
        Some((name, arg)) => (name, Some(arg.trim()).filter(|a| !a.is_empty())),
        None => (body, None),
    };
    let path = |arg: Option<&str>, usage: &str| match arg {
        Some(path) => Ok(expand_home(path)),
        None => Err(Command::Invalid(format!(
            "{usage} needs a file path, e.g. {usage} chat.json"
        ))),
    };
    let save = |arg: Option<&str>| {
        let (force, rest) = match arg {
            Some(rest) => match rest
                .strip_prefix("--force")
                .or_else(|| rest.strip_prefix("-f"))
            {
                Some(after) if after.is_empty() || after.starts_with(char::is_whitespace) => {
                    (true, Some(after.trim()).filter(|a| !a.is_empty()))
                }
                _ => (false, Some(rest)),
            },
            None => (false, None),
        };
        path(rest, "/save").map_or_else(|e| e, |path| Command::Save { path, force })
    };
    match name {
        "help" | "?" => Command::Help,
        "exit" | "quit" => Command::Exit,
        "clear" | "new" => Command::Clear,
        "system" => Command::System(arg.map(str::to_string)),
        "model" => Command::Model(arg.map(str::to_string)),
        "retry" => Command::Retry,
        "undo" => Command::Undo,
        "history" => Command::History,
        "usage" => Command::Usage,
        "save" => save(arg),
        "load" => path(arg, "/load").map_or_else(|e| e, Command::Load),
        "attach" => Command::Attach(arg.map(expand_home)),
        "detach" => Command::Detach,
        "tools" => Command::Tools,
        "models" => Command::Models,
        "tokens" => Command::Tokens,
        other => Command::Invalid(format!(
            "unknown command /{other}; type /help for the list (start with // to send text beginning with /)"
        )),
    }
}

/// `~` and `~/...` mean the home folder, as in a shell.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix('~'), dirs::home_dir()) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/help` and the README list every command there is, and only those.
    #[test]
    fn every_listed_command_parses_and_help_fits_a_terminal() {
        for (usage, _) in COMMANDS {
            let line = usage
                .replace("PATH", "chat.json")
                .replace("[TEXT]", "x")
                .replace("[ID]", "m");
            assert!(!matches!(parse(&line), Command::Invalid(_)), "{usage}");
        }
        let help = help();
        for name in [
            "help", "exit", "clear", "system", "model", "retry", "undo", "history", "usage",
            "save", "load", "attach", "detach",
        ] {
            assert!(
                help.contains(&format!("/{name}")),
                "/{name} is not in /help"
            );
        }
        assert!(
            help.lines().all(|line| line.chars().count() <= 96),
            "{help}"
        );
    }

    #[test]
    fn commands_and_text_are_told_apart() {
        assert_eq!(parse("hello"), Command::Say("hello".into()));
        assert_eq!(parse("/help"), Command::Help);
        assert_eq!(parse("  /exit "), Command::Exit);
        assert_eq!(
            parse("/system Be brief."),
            Command::System(Some("Be brief.".into()))
        );
        assert_eq!(parse("/system"), Command::System(None));
        assert_eq!(parse("/model eu.x"), Command::Model(Some("eu.x".into())));
        assert_eq!(
            parse("/save a b.json"),
            Command::Save {
                path: "a b.json".into(),
                force: false
            }
        );
        assert_eq!(
            parse("/save --force chat.json"),
            Command::Save {
                path: "chat.json".into(),
                force: true
            }
        );
        assert_eq!(
            parse("/save -force.json"),
            Command::Save {
                path: "-force.json".into(),
                force: false
            }
        );
        if let Some(home) = dirs::home_dir() {
            assert_eq!(
                parse("/load ~/chat.json"),
                Command::Load(home.join("chat.json"))
            );
        }
        assert_eq!(
            parse("//etc is a dir"),
            Command::Say("/etc is a dir".into())
        );
    }

    #[test]
    fn mistakes_get_a_hint_not_a_request() {
        assert!(matches!(parse("/frobnicate"), Command::Invalid(m) if m.contains("/help")));
        assert!(matches!(parse("/save"), Command::Invalid(m) if m.contains("file path")));
    }
}
