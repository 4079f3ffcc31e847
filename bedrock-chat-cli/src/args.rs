//! Command-line arguments. Each flag falls back to its environment variable (which may come from
//! `.env`), then to its default.

use std::path::PathBuf;
use std::time::Duration;

use bedrock_chat::{
    Budget, ChatConfig, ContextPolicy, DEFAULT_MAX_TOKENS, DEFAULT_MODEL_ID, InferenceConfig,
    PriceTable, RetryPolicy,
};
use clap::Parser;

/// Chat with Claude on Amazon Bedrock.
///
/// In a terminal, opens an interactive chat (type /help inside it). With standard input from a
/// pipe, each non-empty line is one user turn of a single conversation and each reply is written
/// to standard output. Settings come from flags, then environment variables, then a `.env` file
/// in the working directory, then defaults. AWS credentials come from the standard AWS chain
/// (environment, profile, SSO, instance role).
///
/// Exit codes: 0 success, 1 a turn failed, 2 bad usage or configuration.
#[derive(Debug, Parser)]
#[command(
    name = "bedrock-chat",
    version,
    about,
    long_about,
    max_term_width = 100
)]
pub struct Args {
    /// Model or inference profile id
    #[arg(long, short, env = "BEDROCK_MODEL_ID", default_value = DEFAULT_MODEL_ID)]
    pub model: String,

    /// AWS region [default: the AWS profile's region]
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,

    /// AWS profile for settings and credentials [default: the AWS chain's]
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,

    /// Bedrock runtime endpoint URL [default: Bedrock's regional endpoint]
    #[arg(long, env = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")]
    pub endpoint_url: Option<String>,

    /// System prompt [default: none]
    #[arg(long, short, env = "BEDROCK_SYSTEM_PROMPT")]
    pub system: Option<String>,

    /// Most tokens in a reply
    #[arg(long, env = "BEDROCK_MAX_TOKENS", default_value_t = DEFAULT_MAX_TOKENS)]
    pub max_tokens: u32,

    /// Randomness, from 0 to 1 [default: the model's]
    #[arg(long, env = "BEDROCK_TEMPERATURE")]
    pub temperature: Option<f32>,

    /// Nucleus sampling, from 0 to 1 [default: the model's]
    #[arg(long, env = "BEDROCK_TOP_P")]
    pub top_p: Option<f32>,

    /// A stop sequence; repeat the flag for several [default: none]
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,

    /// How many times a throttled or failed request is retried
    #[arg(long, env = "BEDROCK_MAX_RETRIES", default_value_t = 5)]
    pub max_retries: u32,

    /// Wait before the first retry, doubling each time (e.g. 2s, 250ms)
    #[arg(long, env = "BEDROCK_RETRY_BASE_DELAY", default_value = "2s", value_parser = parse_duration)]
    pub retry_base_delay: Duration,

    /// Longest wait between retries
    #[arg(long, env = "BEDROCK_RETRY_MAX_DELAY", default_value = "60s", value_parser = parse_duration)]
    pub retry_max_delay: Duration,

    /// Longest time to open a connection
    #[arg(long, env = "BEDROCK_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Longest wait for a reply, or between two parts of a streamed reply
    #[arg(long, env = "BEDROCK_READ_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub read_timeout: Duration,

    /// How much of a long conversation each turn sends: all (everything, until it no longer
    /// fits), last:N (the last N exchanges) or tokens:N (the newest exchanges within N input
    /// tokens). Older messages stay in the history either way
    #[arg(long, env = "BEDROCK_CONTEXT_POLICY", default_value = "tokens:150000", value_parser = parse_policy)]
    pub context_policy: ContextPolicy,

    /// Shorthand for --context-policy tokens:N
    #[arg(long, value_name = "N", conflicts_with = "context_policy")]
    pub max_context_tokens: Option<u64>,

    /// Spending limit for the session in US dollars [default: none]
    #[arg(long, env = "BEDROCK_BUDGET_USD", value_name = "USD")]
    pub budget: Option<f64>,

    /// What happens when a turn could go over the budget: warn, or refuse to send it
    #[arg(long, env = "BEDROCK_BUDGET_MODE", default_value = "warn", value_parser = ["warn", "refuse"])]
    pub budget_mode: String,

    /// JSON file of model prices that override the built-in ones, e.g.
    /// {"claude-sonnet-4": {"input": 3.0, "output": 15.0, "cacheRead": 0.3, "cacheWrite": 3.75}}
    /// (US dollars per million tokens) [default: built-in prices]
    #[arg(long, env = "BEDROCK_PRICE_TABLE", value_name = "FILE")]
    pub price_table: Option<PathBuf>,

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
}

impl Args {
    /// The library configuration these arguments describe, checked.
    pub fn chat_config(&self) -> bedrock_chat::Result<ChatConfig> {
        let mut inference = InferenceConfig::new().max_tokens(self.max_tokens);
        inference.temperature = self.temperature;
        inference.top_p = self.top_p;
        inference.stop_sequences = self.stop.clone();
        let retry = RetryPolicy::default()
            .max_retries(self.max_retries)
            .initial_delay(self.retry_base_delay)
            .max_delay(self.retry_max_delay);
        let mut config = ChatConfig::new()
            .model_id(self.model.clone())
            .inference(inference)
            .retry_policy(retry);
        config.region = self.region.clone();
        config.profile = self.profile.clone();
        config.endpoint_url = self.endpoint_url.clone();
        config.system_prompt = self.system.clone().filter(|s| !s.trim().is_empty());
        config.context_policy = match self.max_context_tokens {
            Some(0) => {
                return Err(bedrock_chat::Error::Config {
                    message: "--max-context-tokens must be at least 1".to_string(),
                    source: None,
                });
            }
            Some(tokens) => ContextPolicy::TokenBudget(tokens),
            None => self.context_policy,
        };
        if let Some(path) = &self.price_table {
            config.prices = PriceTable::load(path)?;
        }
        config.budget = self.budget.map(|limit| {
            if self.budget_mode == "refuse" {
                Budget::refuse(limit)
            } else {
                Budget::warn(limit)
            }
        });
        config.validate()?;
        Ok(config)
    }
}

fn parse_policy(text: &str) -> Result<ContextPolicy, String> {
    text.parse().map_err(|e: bedrock_chat::Error| e.to_string())
}

/// A duration such as `2s`, `250ms` or `1m30s`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            return Ok(Duration::from_secs_f64(seconds));
        }
        return Err(format!("{text} is not a positive number of seconds"));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is not a duration; use e.g. 2s, 250ms or 1m30s"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_chat::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn timeout_defaults_match_the_library() {
        let args = Args::try_parse_from(["bedrock-chat"]).unwrap();
        assert_eq!(args.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(args.read_timeout, DEFAULT_READ_TIMEOUT);
    }

    #[test]
    fn durations_accept_human_forms() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn out_of_range_settings_are_configuration_errors() {
        let args = Args::try_parse_from(["bedrock-chat", "--temperature", "7"]).unwrap();
        let error = args.chat_config().unwrap_err();
        assert!(error.to_string().contains("between 0 and 1"), "{error}");
    }
}
