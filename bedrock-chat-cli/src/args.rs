//! Command-line arguments.
//!
//! The chat settings' flags are not declared here: they come from the library's table,
//! [`bedrock_chat::SETTINGS`], with their help, variables, defaults and parsers. The program
//! starts from [`ChatConfig::from_env`] (environment, then `.env`, then defaults) and applies on
//! top only the flags the user gave. What is declared here is what only the REPL has.

use std::ffi::OsString;
use std::path::PathBuf;

use bedrock_chat::{ChatConfig, ContextPolicy, SETTINGS, Setting};
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser};

/// Chat with Claude on Amazon Bedrock.
///
/// In a terminal, opens an interactive chat (type /help inside it). With standard input from a
/// pipe, each non-empty line is one user turn of a single conversation and each reply is written
/// to standard output. Settings come from flags, then environment variables, then a `.env` file
/// in the working directory, then defaults. AWS credentials come from the standard AWS chain
/// (environment, profile, SSO, instance role).
///
/// Exit codes: 0 success, 1 a turn failed, 2 bad usage or configuration, 141 the reader of
/// standard output went away.
#[derive(Debug, Parser)]
#[command(
    name = "bedrock-chat",
    version,
    about,
    long_about,
    max_term_width = 100
)]
pub struct Args {
    /// A stop sequence; repeat the flag for several [default: none]
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,

    /// Shorthand for --context-policy tokens:N
    #[arg(long, value_name = "N", conflicts_with = "context-policy")]
    pub max_context_tokens: Option<u64>,

    /// Wait for whole replies (Converse) instead of streaming them (ConverseStream)
    #[arg(long)]
    pub no_stream: bool,

    /// Send one message, print the reply and exit
    #[arg(long, short, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// File that keeps the REPL's input history; it must be a bedrock-chat history file or not
    /// exist yet (anything else is left alone) [env: BEDROCK_CHAT_HISTORY_FILE, not taken from
    /// .env] [default: bedrock-chat/history in the user's data directory]
    #[arg(long)]
    pub history_file: Option<PathBuf>,

    /// The chat settings given on the command line, as `(setting, value)`.
    #[arg(skip)]
    pub settings: Vec<(&'static Setting, String)>,
}

/// The whole command line: the library's settings and the REPL's own flags.
pub fn command() -> clap::Command {
    Args::command().args(SETTINGS.iter().map(setting_arg))
}

fn setting_arg(setting: &'static Setting) -> Arg {
    let arg = Arg::new(setting.flag)
        .long(setting.flag)
        .value_name(setting.value_name)
        .help(setting.help())
        .action(ArgAction::Set)
        // `--budget -3` is a value to be refused by the setting's check, not an unknown flag.
        .allow_negative_numbers(true);
    match setting.short {
        Some(short) => arg.short(short),
        None => arg,
    }
}

impl Args {
    /// Parses `args` (the program name first).
    ///
    /// # Errors
    ///
    /// clap's error for unknown flags and missing values; call `.exit()` on it.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        Self::from_matches(&matches)
    }

    /// Reads the parsed command line.
    ///
    /// # Errors
    ///
    /// clap's error when the matches do not fit the arguments.
    pub fn from_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = <Args as FromArgMatches>::from_arg_matches(matches)?;
        args.settings = SETTINGS
            .iter()
            .filter_map(|setting| {
                let value = matches.get_one::<String>(setting.flag)?;
                Some((setting, value.clone()))
            })
            .collect();
        Ok(args)
    }

    /// Whether `flag` (a setting's long name) was given on the command line.
    pub fn has(&self, flag: &str) -> bool {
        self.settings
            .iter()
            .any(|(setting, _)| setting.flag == flag)
    }

    /// `base` (from the environment and `.env`) with the flags the user gave applied on top,
    /// checked.
    ///
    /// # Errors
    ///
    /// The library's error for a malformed or out-of-range value, naming the flag.
    pub fn chat_config(&self, mut base: ChatConfig) -> bedrock_chat::Result<ChatConfig> {
        for (setting, value) in &self.settings {
            setting.apply(&mut base, value, &format!("--{}", setting.flag))?;
        }
        if !self.stop.is_empty() {
            base.session.inference.stop_sequences = self.stop.clone();
        }
        if let Some(tokens) = self.max_context_tokens {
            base.session.context_policy = format!("tokens:{tokens}")
                .parse::<ContextPolicy>()
                .map_err(|e| bedrock_chat::Error::Config {
                    message: format!("--max-context-tokens: {e}"),
                    source: None,
                })?;
        }
        base.validate()?;
        Ok(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_chat::{Budget, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};

    #[test]
    fn the_cli_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn without_flags_the_library_defaults_stand() {
        let args = Args::try_parse_from(["bedrock-chat"]).unwrap();
        let config = args.chat_config(ChatConfig::new()).unwrap();
        assert_eq!(config.connection.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(config.connection.read_timeout, DEFAULT_READ_TIMEOUT);
        assert_eq!(config.session, ChatConfig::new().session);
    }

    #[test]
    fn flags_apply_over_the_environment() {
        let base = ChatConfig::new()
            .model_id("from-env")
            .system_prompt("env prompt");
        let args =
            Args::try_parse_from(["bedrock-chat", "-m", "from-flag", "--budget", "2"]).unwrap();
        let config = args.chat_config(base).unwrap();
        assert_eq!(config.session.model_id, "from-flag");
        assert_eq!(config.session.system_prompt.as_deref(), Some("env prompt"));
        assert_eq!(config.session.budget, Some(Budget::warn(2.0)));
    }

    #[test]
    fn bad_values_name_the_flag_and_negative_numbers_are_values() {
        let args = Args::try_parse_from(["bedrock-chat", "--temperature", "hot"]).unwrap();
        let error = args.chat_config(ChatConfig::new()).unwrap_err();
        assert!(error.to_string().contains("--temperature"), "{error}");
        let args = Args::try_parse_from(["bedrock-chat", "--budget", "-3"]).unwrap();
        let error = args.chat_config(ChatConfig::new()).unwrap_err();
        assert!(error.to_string().contains("at least 0"), "{error}");
    }
}
