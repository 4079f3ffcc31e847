//! Configuration: explicit values, then environment variables, then a `.env` file, then defaults.
//!
//! Every setting a frontend can offer is one entry of [`SETTINGS`]: its flag, its environment
//! variable, its help, its default (read from [`SessionSettings::default`] and
//! [`ConnectionSettings::default`], so it is written down once) and its parser. [`ChatConfig`]
//! reads the environment through that table, and a frontend builds its flags from it, so adding a
//! setting means adding one entry (and the field it sets).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use aws_credential_types::Credentials;

use crate::bedrock::{BedrockClient, BedrockClientBuilder};
use crate::budget::{Budget, BudgetMode};
use crate::client::ModelClient;
use crate::context::ContextPolicy;
use crate::error::{Error, Result};
use crate::pricing::PriceTable;
use crate::session::{ChatSession, ChatSessionBuilder};
use crate::settings::{ConnectionSettings, SessionSettings, parse_duration};
use crate::tier::{Latency, ServiceTier};

/// Where a chat gets its settings: explicit values (the setters, or a frontend's flags), then
/// environment variables, then a `.env` file, then defaults. It produces the two builders:
/// [`client_builder`](Self::client_builder) and [`session_builder`](Self::session_builder).
///
/// The variables are those of [`SETTINGS`]:
///
/// | setting | variable | default |
/// |---|---|---|
/// | model id | `BEDROCK_MODEL_ID` | [`DEFAULT_MODEL_ID`](crate::DEFAULT_MODEL_ID) |
/// | region | `AWS_REGION`, `AWS_DEFAULT_REGION` | the AWS config chain (profile), else none |
/// | profile | `AWS_PROFILE` | the AWS config chain's default |
/// | endpoint URL | `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL` | Bedrock's regional endpoint |
/// | system prompt | `BEDROCK_SYSTEM_PROMPT` | none |
/// | max tokens | `BEDROCK_MAX_TOKENS` | [`DEFAULT_MAX_TOKENS`](crate::DEFAULT_MAX_TOKENS) |
/// | temperature | `BEDROCK_TEMPERATURE` | the model's (1.0) |
/// | top-p | `BEDROCK_TOP_P` | the model's |
/// | retries | `BEDROCK_MAX_RETRIES` | 5 |
/// | first retry delay | `BEDROCK_RETRY_BASE_DELAY` (`2s`, `250ms`) | 2 s |
/// | longest retry delay | `BEDROCK_RETRY_MAX_DELAY` | 60 s |
/// | connect timeout | `BEDROCK_CONNECT_TIMEOUT` | 10 s |
/// | read timeout | `BEDROCK_READ_TIMEOUT` | 5 min |
/// | context policy | `BEDROCK_CONTEXT_POLICY` (`all`, `last:N`, `tokens:N`) | `tokens:150000` |
/// | budget in US dollars | `BEDROCK_BUDGET_USD` | none |
/// | budget mode | `BEDROCK_BUDGET_MODE` (`warn`, `refuse`) | `warn` |
/// | price file | `BEDROCK_PRICE_TABLE` (JSON, see [`PriceTable::load`]) | built-in prices |
///
/// AWS credentials come from the standard AWS chain (environment, profile, SSO, instance role).
/// Like the original app, which loaded `.env` into its environment, a `.env` file may also hold
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; they are used only when
/// the environment sets neither keys nor a profile. The `.env` file is read, never loaded into
/// the process environment, so nothing else in the process sees it.
///
/// ```
/// use bedrock_chat::ChatConfig;
///
/// let config = ChatConfig::from_lookup(|name| match name {
///     "BEDROCK_MODEL_ID" => Some("eu.anthropic.claude-sonnet-4-6".to_string()),
///     "BEDROCK_TEMPERATURE" => Some("0.2".to_string()),
///     _ => None,
/// })?
/// .region("eu-west-1"); // an explicit value wins over the environment
/// assert_eq!(config.session.model_id, "eu.anthropic.claude-sonnet-4-6");
/// assert_eq!(config.connection.region.as_deref(), Some("eu-west-1"));
/// # Ok::<(), bedrock_chat::Error>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
#[non_exhaustive]
pub struct ChatConfig {
    /// What a session needs.
    pub session: SessionSettings,
    /// What the connection to Bedrock needs.
    pub connection: ConnectionSettings,
    /// Kept apart from the budget so that the mode and the limit can be given in either order.
    budget_mode: BudgetMode,
    dotenv_credentials: Option<Credentials>,
    /// The variables whose values came from the `.env` file.
    from_dotenv: Vec<&'static str>,
}

/// One setting a frontend can offer: its flag, its environment variable, its help text, its
/// default and its parser. See [`SETTINGS`].
pub struct Setting {
    /// The long flag, without its dashes: `model` for `--model`.
    pub flag: &'static str,
    /// A one-letter flag, if the setting has one.
    pub short: Option<char>,
    /// The environment variable.
    pub env: &'static str,
    /// Further variables read, in order, when `env` is not set.
    pub also: &'static [&'static str],
    /// What the value looks like, for help text: `ID`, `DURATION`.
    pub value_name: &'static str,
    /// What the setting does, in one line.
    pub about: &'static str,
    default: fn() -> String,
    apply: fn(&mut ChatConfig, &str) -> Result<()>,
}

impl Setting {
    /// The default, as a person would write it.
    pub fn default_text(&self) -> String {
        (self.default)()
    }

    /// One line of help: what it does, its variables and its default.
    pub fn help(&self) -> String {
        let mut variables = self.env.to_string();
        for also in self.also {
            variables.push_str(", ");
            variables.push_str(also);
        }
        format!(
            "{} [env: {variables}] [default: {}]",
            self.about,
            self.default_text()
        )
    }

    /// Parses `value` and sets it in `config`. `given_as` names where the value came from
    /// (`--temperature`, `BEDROCK_TEMPERATURE`) in the error.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming `given_as` and saying what is expected. Ranges are checked
    /// later, once, by [`ChatConfig::validate`].
    pub fn apply(&self, config: &mut ChatConfig, value: &str, given_as: &str) -> Result<()> {
        (self.apply)(config, value).map_err(|error| match error {
            Error::Config { message, source } => Error::Config {
                message: format!("{given_as}: {message}"),
                source,
            },
            other => Error::Config {
                message: format!("{given_as}: {other}"),
                source: None,
            },
        })
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("flag", &self.flag)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

fn number<T: FromStr>(value: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.trim().parse().map_err(|e: T::Err| Error::Config {
        message: format!("{value:?} is not a valid number"),
        source: Some(e.into()),
    })
}

fn text(value: &str) -> Option<String> {
    Some(value.to_string()).filter(|v| !v.trim().is_empty())
}

fn session_default() -> SessionSettings {
    SessionSettings::default()
}

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

fn parse_on_off(what: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(crate::Error::invalid_input(format!(
            "{what} must be on or off, not {value:?}"
        ))),
    }
}

fn duration_text(duration: std::time::Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Every setting, in the order a frontend lists them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        flag: "model",
        short: Some('m'),
        env: "BEDROCK_MODEL_ID",
        also: &[],
        value_name: "ID",
        about: "Model or inference profile id",
        default: || session_default().model_id,
        apply: |c, v| {
            c.session.model_id = v.trim().to_string();
            Ok(())
        },
    },
    Setting {
        flag: "region",
        short: None,
        env: "AWS_REGION",
        also: &["AWS_DEFAULT_REGION"],
        value_name: "REGION",
        about: "AWS region",
        default: || "the AWS profile's region".to_string(),
        apply: |c, v| {
            c.connection.region = text(v.trim());
            Ok(())
        },
    },
    Setting {
        flag: "profile",
        short: None,
        env: "AWS_PROFILE",
        also: &[],
        value_name: "NAME",
        about: "AWS profile for settings and credentials",
        default: || "the AWS chain's".to_string(),
        apply: |c, v| {
            c.connection.profile = text(v.trim());
            Ok(())
        },
    },
    Setting {
        flag: "endpoint-url",
        short: None,
        env: "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        also: &["AWS_ENDPOINT_URL"],
        value_name: "URL",
        about: "Bedrock runtime endpoint URL",
        default: || "Bedrock's regional endpoint".to_string(),
        apply: |c, v| {
            c.connection.endpoint_url = text(v.trim());
            Ok(())
        },
    },
    Setting {
        flag: "system",
        short: Some('s'),
        env: "BEDROCK_SYSTEM_PROMPT",
        also: &[],
        value_name: "TEXT",
        about: "System prompt",
        default: || "none".to_string(),
        apply: |c, v| {
            c.session.system_prompt = text(v);
            Ok(())
        },
    },
    Setting {
        flag: "max-tokens",
        short: None,
        env: "BEDROCK_MAX_TOKENS",
        also: &[],
        value_name: "N",
        about: "Most tokens in a reply",
        default: || {
            session_default()
                .inference
                .max_tokens
                .map_or_else(|| "the model's".to_string(), |n| n.to_string())
        },
        apply: |c, v| {
            c.session.inference.max_tokens = Some(number(v)?);
            Ok(())
        },
    },
    Setting {
        flag: "temperature",
        short: None,
        env: "BEDROCK_TEMPERATURE",
        also: &[],
        value_name: "T",
        about: "Randomness, from 0 to 1",
        default: || "the model's".to_string(),
        apply: |c, v| {
            c.session.inference.temperature = Some(number(v)?);
            Ok(())
        },
    },
    Setting {
        flag: "top-p",
        short: None,
        env: "BEDROCK_TOP_P",
        also: &[],
        value_name: "P",
        about: "Nucleus sampling, from 0 to 1",
        default: || "the model's".to_string(),
        apply: |c, v| {
            c.session.inference.top_p = Some(number(v)?);
            Ok(())
        },
    },
    Setting {
        flag: "max-retries",
        short: None,
        env: "BEDROCK_MAX_RETRIES",
        also: &[],
        value_name: "N",
        about: "How many times a throttled or failed request is retried",
        default: || session_default().retry_policy.max_retries.to_string(),
        apply: |c, v| {
            c.session.retry_policy = c.session.retry_policy.clone().max_retries(number(v)?);
            Ok(())
        },
    },
    Setting {
        flag: "retry-base-delay",
        short: None,
        env: "BEDROCK_RETRY_BASE_DELAY",
        also: &[],
        value_name: "DURATION",
        about: "Wait before the first retry, doubling each time (e.g. 2s, 250ms)",
        default: || duration_text(session_default().retry_policy.initial_delay),
        apply: |c, v| {
            c.session.retry_policy = c
                .session
                .retry_policy
                .clone()
                .initial_delay(parse_duration(v)?);
            Ok(())
        },
    },
    Setting {
        flag: "retry-max-delay",
        short: None,
        env: "BEDROCK_RETRY_MAX_DELAY",
        also: &[],
        value_name: "DURATION",
        about: "Longest wait between retries",
        default: || duration_text(session_default().retry_policy.max_delay),
        apply: |c, v| {
            c.session.retry_policy = c.session.retry_policy.clone().max_delay(parse_duration(v)?);
            Ok(())
        },
    },
    Setting {
        flag: "connect-timeout",
        short: None,
        env: "BEDROCK_CONNECT_TIMEOUT",
        also: &[],
        value_name: "DURATION",
        about: "Longest time to open a connection",
        default: || duration_text(ConnectionSettings::default().connect_timeout),
        apply: |c, v| {
            c.connection.connect_timeout = parse_duration(v)?;
            Ok(())
        },
    },
    Setting {
        flag: "read-timeout",
        short: None,
        env: "BEDROCK_READ_TIMEOUT",
        also: &[],
        value_name: "DURATION",
        about: "Longest wait for a reply, or between two parts of a streamed reply",
        default: || duration_text(ConnectionSettings::default().read_timeout),
        apply: |c, v| {
            c.connection.read_timeout = parse_duration(v)?;
            Ok(())
        },
    },
    Setting {
        flag: "context-policy",
        short: None,
        env: "BEDROCK_CONTEXT_POLICY",
        also: &[],
        value_name: "POLICY",
        about: "How much of a long conversation each turn sends: all (everything, until it no \
                longer fits), last:N (the last N exchanges) or tokens:N (the newest exchanges \
                within N input tokens). Older messages stay in the history either way",
        default: || session_default().context_policy.to_string(),
        apply: |c, v| {
            c.session.context_policy = v.parse::<ContextPolicy>()?;
            Ok(())
        },
    },
    Setting {
        flag: "budget",
        short: None,
        env: "BEDROCK_BUDGET_USD",
        also: &[],
        value_name: "USD",
        about: "Spending limit for the session in US dollars",
        default: || "none".to_string(),
        apply: |c, v| {
            c.session.budget = Some(Budget::new(number(v)?, c.budget_mode));
            Ok(())
        },
    },
    Setting {
        flag: "budget-mode",
        short: None,
        env: "BEDROCK_BUDGET_MODE",
        also: &[],
        value_name: "warn|refuse",
        about: "What happens when a turn could go over the budget: warn, or refuse to send it",
        default: || BudgetMode::default().to_string(),
        apply: |c, v| {
            c.budget_mode = v.parse()?;
            if let Some(budget) = &mut c.session.budget {
                *budget = Budget::new(budget.limit_usd, c.budget_mode);
            }
            Ok(())
        },
    },
    Setting {
        flag: "prompt-caching",
        short: None,
        env: "BEDROCK_PROMPT_CACHING",
        also: &[],
        value_name: "on|off",
        about: "Cache the tools, system prompt and conversation so far between turns (cached input costs a tenth)",
        default: || on_off(session_default().prompt_caching).to_string(),
        apply: |c, v| {
            c.session.prompt_caching = parse_on_off("prompt caching", v)?;
            Ok(())
        },
    },
    Setting {
        flag: "prompt-cache-ttl",
        short: None,
        env: "BEDROCK_PROMPT_CACHE_TTL",
        also: &[],
        value_name: "5m|1h",
        about: "How long prompt-cache entries live with --prompt-caching on: 1h suits conversations with long pauses (a write then costs 2x an input token instead of 1.25x)",
        default: || session_default().cache_ttl.to_string(),
        apply: |c, v| {
            c.session.cache_ttl = v.parse()?;
            Ok(())
        },
    },
    Setting {
        flag: "service-tier",
        short: None,
        env: "BEDROCK_SERVICE_TIER",
        also: &[],
        value_name: "TIER",
        about: "Bedrock's service tier: flex (half price, served when there is room), priority (served first, 75% more), default or reserved",
        default: || "default".to_string(),
        apply: |c, v| {
            c.session.service_tier = Some(v.parse()?).filter(|t| *t != ServiceTier::Default);
            Ok(())
        },
    },
    Setting {
        flag: "latency",
        short: None,
        env: "BEDROCK_LATENCY",
        also: &[],
        value_name: "standard|optimized",
        about: "Latency-optimised inference on the models and regions that offer it (priced a quarter higher)",
        default: || "standard".to_string(),
        apply: |c, v| {
            c.session.latency = Some(v.parse()?).filter(|l| *l != Latency::Standard);
            Ok(())
        },
    },
    Setting {
        flag: "exact-token-counts",
        short: None,
        env: "BEDROCK_EXACT_TOKEN_COUNTS",
        also: &[],
        value_name: "on|off",
        about: "Ask Bedrock to count each request's input tokens (CountTokens, free) for the context window and the budget, instead of estimating",
        default: || on_off(session_default().exact_token_counts).to_string(),
        apply: |c, v| {
            c.session.exact_token_counts = parse_on_off("exact token counts", v)?;
            Ok(())
        },
    },
    Setting {
        flag: "cite-documents",
        short: None,
        env: "BEDROCK_CITE_DOCUMENTS",
        also: &[],
        value_name: "on|off",
        about: "Ask the model to cite the attached documents it uses (by page or character); the sources are listed under the reply",
        default: || on_off(session_default().cite_documents).to_string(),
        apply: |c, v| {
            c.session.cite_documents = parse_on_off("document citations", v)?;
            Ok(())
        },
    },
    Setting {
        flag: "thinking-budget",
        short: None,
        env: "BEDROCK_THINKING_BUDGET",
        also: &[],
        value_name: "TOKENS",
        about: "Let the model reason in up to this many tokens before it answers (extended thinking; at least 1024, below --max-tokens; 0 for off)",
        default: || "0".to_string(),
        apply: |c, v| {
            let budget: u32 = number(v)?;
            c.session.thinking_budget = (budget > 0).then_some(budget);
            Ok(())
        },
    },
    Setting {
        flag: "guardrail",
        short: None,
        env: "BEDROCK_GUARDRAIL",
        also: &[],
        value_name: "ID:VERSION",
        about: "An Amazon Bedrock guardrail that checks every message and reply, such as gr-abc123:1 (\"none\" for none)",
        default: || "none".to_string(),
        apply: |c, v| {
            c.session.guardrail = match v.trim() {
                "" | "none" => None,
                text => Some(text.parse()?),
            };
            Ok(())
        },
    },
    Setting {
        flag: "price-table",
        short: None,
        env: "BEDROCK_PRICE_TABLE",
        also: &[],
        value_name: "FILE",
        about: "JSON file of model prices that override the built-in ones, e.g. \
                {\"claude-sonnet-4\": {\"input\": 3.0, \"output\": 15.0, \"cacheRead\": 0.3, \
                \"cacheWrite\": 3.75}} (US dollars per million tokens)",
        default: || "built-in prices".to_string(),
        apply: |c, v| {
            c.session.prices = PriceTable::load(Path::new(v.trim()))?;
            Ok(())
        },
    },
];

impl ChatConfig {
    /// The defaults, ignoring the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the environment and, under it, a `.env` file in the current directory if there is
    /// one.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a `.env` that cannot be read or a value that is malformed or out of
    /// range, naming its variable.
    pub fn from_env() -> Result<Self> {
        Self::from_env_file(Path::new(".env"))
    }

    /// Reads the environment and, under it, the given `.env` file if it exists.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_file(path: &Path) -> Result<Self> {
        let dotenv = read_dotenv(path)?;
        Self::load(|name| std::env::var(name).ok(), &dotenv)
    }

    /// Reads settings through `lookup` (a variable name to its value) instead of the process
    /// environment, with no `.env` file. Useful in tests and for settings kept elsewhere.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::load(lookup, &HashMap::new())
    }

    fn load(
        env: impl Fn(&str) -> Option<String>,
        dotenv: &HashMap<String, String>,
    ) -> Result<Self> {
        let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let from_env = |name: &str| non_empty(env(name));
        let from_dotenv = |name: &str| non_empty(dotenv.get(name).cloned());

        let mut config = ChatConfig::default();
        // The budget mode first, so a budget limit read after it takes its mode.
        let ordered = SETTINGS
            .iter()
            .filter(|s| s.flag == "budget-mode")
            .chain(SETTINGS.iter().filter(|s| s.flag != "budget-mode"));
        for setting in ordered {
            let names = std::iter::once(&setting.env).chain(setting.also);
            let mut found = None;
            for name in names.clone() {
                if let Some(value) = from_env(name) {
                    found = Some((*name, value, false));
                    break;
                }
            }
            if found.is_none() {
                for name in names {
                    if let Some(value) = from_dotenv(name) {
                        found = Some((*name, value, true));
                        break;
                    }
                }
            }
            if let Some((name, value, dotenv)) = found {
                setting.apply(&mut config, &value, name)?;
                if dotenv {
                    config.from_dotenv.push(name);
                }
            }
        }
        // The environment's own credentials or profile always win over a .env file's keys.
        let env_has_credentials =
            from_env("AWS_ACCESS_KEY_ID").is_some() || from_env("AWS_PROFILE").is_some();
        if !env_has_credentials
            && let (Some(key), Some(secret)) = (
                from_dotenv("AWS_ACCESS_KEY_ID"),
                from_dotenv("AWS_SECRET_ACCESS_KEY"),
            )
        {
            config.dotenv_credentials = Some(Credentials::new(
                key,
                secret,
                from_dotenv("AWS_SESSION_TOKEN"),
                None,
                "dotenv",
            ));
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every value, so a mistake is reported before the first request. Each value has
    /// this one check, wherever it was given.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] or [`Error::InvalidInput`] naming the value and what is allowed.
    pub fn validate(&self) -> Result<()> {
        self.session.validate()?;
        self.connection.validate()
    }

    /// Whether the value of `variable` was read from the `.env` file (and not the environment).
    /// A frontend uses this to say so when `.env` sets something it should not set silently,
    /// such as the endpoint URL.
    pub fn is_from_dotenv(&self, variable: &str) -> bool {
        self.from_dotenv.contains(&variable)
    }

    /// A client builder with these connection settings (and the `.env` credentials, if they
    /// apply).
    pub fn client_builder(&self) -> BedrockClientBuilder {
        let builder = BedrockClient::builder().settings(self.connection.clone());
        match &self.dotenv_credentials {
            Some(credentials) => builder.credentials_provider(credentials.clone()),
            None => builder,
        }
    }

    /// Builds the client: [`client_builder`](Self::client_builder), then `build`.
    ///
    /// # Errors
    ///
    /// As [`BedrockClientBuilder::build`].
    pub async fn client(&self) -> Result<BedrockClient> {
        self.client_builder().build().await
    }

    /// A session builder on `client` with these session settings.
    pub fn session_builder(&self, client: impl ModelClient + 'static) -> ChatSessionBuilder {
        ChatSession::builder(client).settings(self.session.clone())
    }

    /// Sets the model or inference profile id. Default is
    /// [`DEFAULT_MODEL_ID`](crate::DEFAULT_MODEL_ID).
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.session.model_id = model_id.into();
        self
    }

    /// Sets the AWS region. Default is the AWS configuration chain's region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.connection.region = Some(region.into());
        self
    }

    /// Sets the AWS profile. Default is the AWS configuration chain's profile.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.connection.profile = Some(profile.into());
        self
    }

    /// Sets the Bedrock runtime endpoint URL. Default is Bedrock's regional endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.connection.endpoint_url = Some(url.into());
        self
    }

    /// Sets the system prompt. Default is none.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.session.system_prompt = Some(prompt.into());
        self
    }

    /// Sets a spending limit. Default is none.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.session.budget = Some(budget);
        self
    }
}

impl fmt::Debug for ChatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatConfig")
            .field("session", &self.session)
            .field("connection", &self.connection)
            .field(
                "dotenv_credentials",
                &self.dotenv_credentials.as_ref().map(|_| "** redacted **"),
            )
            .field("from_dotenv", &self.from_dotenv)
            .finish()
    }
}

fn read_dotenv(path: &Path) -> Result<HashMap<String, String>> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HashMap::new());
        }
        Err(e) => {
            return Err(Error::Config {
                message: format!("cannot read {}", path.display()),
                source: Some(e.into()),
            });
        }
    };
    let mut values = HashMap::new();
    for item in iter {
        let (key, value) = item.map_err(|e| Error::Config {
            message: format!("{} has a line that is not NAME=value", path.display()),
            source: Some(e.into()),
        })?;
        values.insert(key, value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryPolicy;
    use crate::settings::DEFAULT_MODEL_ID;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn dotenv(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_reproduce_the_original_app() {
        let config = ChatConfig::from_lookup(|_| None).unwrap();
        assert_eq!(config.session.model_id, DEFAULT_MODEL_ID);
        assert_eq!(config.session, SessionSettings::default());
        assert_eq!(config.session.retry_policy, RetryPolicy::default());
    }

    #[test]
    fn environment_wins_over_dotenv() {
        let dotenv = dotenv(&[
            ("BEDROCK_MODEL_ID", "from-dotenv"),
            ("BEDROCK_TEMPERATURE", "0.3"),
        ]);
        let config = ChatConfig::load(env(&[("BEDROCK_MODEL_ID", "from-env")]), &dotenv).unwrap();
        assert_eq!(config.session.model_id, "from-env");
        assert_eq!(config.session.inference.temperature, Some(0.3));
        assert!(config.is_from_dotenv("BEDROCK_TEMPERATURE"));
        assert!(!config.is_from_dotenv("BEDROCK_MODEL_ID"));
    }

    #[test]
    fn retry_and_timeout_settings_accept_human_durations() {
        let config = ChatConfig::from_lookup(env(&[
            ("BEDROCK_MAX_RETRIES", "2"),
            ("BEDROCK_RETRY_BASE_DELAY", "250ms"),
            ("BEDROCK_RETRY_MAX_DELAY", "1"),
            ("BEDROCK_READ_TIMEOUT", "2m"),
        ]))
        .unwrap();
        assert_eq!(
            config.session.retry_policy.schedule(),
            vec![Duration::from_millis(250), Duration::from_millis(500)]
        );
        assert_eq!(
            config.session.retry_policy.max_delay,
            Duration::from_secs(1)
        );
        assert_eq!(config.connection.read_timeout, Duration::from_secs(120));
    }

    #[test]
    fn context_policy_and_budget_come_from_the_environment() {
        let config = ChatConfig::from_lookup(env(&[
            ("BEDROCK_CONTEXT_POLICY", "last:4"),
            ("BEDROCK_BUDGET_USD", "2.5"),
            ("BEDROCK_BUDGET_MODE", "refuse"),
        ]))
        .unwrap();
        assert_eq!(
            config.session.context_policy,
            ContextPolicy::LastExchanges(4)
        );
        assert_eq!(config.session.budget, Some(Budget::refuse(2.5)));
        let err = ChatConfig::from_lookup(env(&[("BEDROCK_CONTEXT_POLICY", "most")])).unwrap_err();
        assert!(err.to_string().contains("last:N"), "{err}");
        let err =
            ChatConfig::from_lookup(env(&[("BEDROCK_PRICE_TABLE", "/nonexistent/prices.json")]))
                .unwrap_err();
        assert!(err.to_string().contains("price file"), "{err}");
        let err = ChatConfig::from_lookup(env(&[("BEDROCK_BUDGET_MODE", "maybe")])).unwrap_err();
        assert!(err.to_string().contains("warn or refuse"), "{err}");
    }

    #[test]
    fn the_budget_mode_applies_in_either_order() {
        let mut config = ChatConfig::new();
        let setting = |flag: &str| SETTINGS.iter().find(|s| s.flag == flag).unwrap();
        setting("budget")
            .apply(&mut config, "3", "--budget")
            .unwrap();
        setting("budget-mode")
            .apply(&mut config, "refuse", "--budget-mode")
            .unwrap();
        assert_eq!(config.session.budget, Some(Budget::refuse(3.0)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = ChatConfig::from_lookup(env(&[("BEDROCK_TEMPERATURE", "hot")])).unwrap_err();
        assert!(err.to_string().contains("BEDROCK_TEMPERATURE"), "{err}");
        let err = ChatConfig::from_lookup(env(&[("BEDROCK_TEMPERATURE", "7")])).unwrap_err();
        assert!(err.to_string().contains("between 0 and 1"), "{err}");
        let err =
            ChatConfig::from_lookup(env(&[("BEDROCK_RETRY_BASE_DELAY", "soon")])).unwrap_err();
        assert!(err.to_string().contains("2s"), "{err}");
    }

    #[test]
    fn every_setting_has_a_flag_a_variable_a_default_and_help() {
        let mut flags = std::collections::HashSet::new();
        for setting in SETTINGS {
            assert!(flags.insert(setting.flag), "{} twice", setting.flag);
            assert!(!setting.default_text().is_empty(), "{}", setting.flag);
            assert!(setting.help().contains(setting.env), "{}", setting.flag);
        }
        let help = |flag: &str| SETTINGS.iter().find(|s| s.flag == flag).unwrap().help();
        assert!(help("context-policy").contains("[default: tokens:150000]"));
        assert!(help("retry-base-delay").contains("[default: 2s]"));
        assert!(help("read-timeout").contains("[default: 5m]"));
        assert!(help("max-retries").contains("[default: 5]"));
    }

    #[test]
    fn dotenv_credentials_are_used_only_without_environment_credentials_and_never_printed() {
        let dotenv = dotenv(&[
            ("AWS_ACCESS_KEY_ID", "AKIDSENTINEL"),
            ("AWS_SECRET_ACCESS_KEY", "SECRETSENTINEL"),
        ]);
        let config = ChatConfig::load(env(&[]), &dotenv).unwrap();
        assert!(config.dotenv_credentials.is_some());
        let debug = format!("{config:?}");
        assert!(!debug.contains("SENTINEL"), "{debug}");
        let config = ChatConfig::load(env(&[("AWS_PROFILE", "dev")]), &dotenv).unwrap();
        assert!(config.dotenv_credentials.is_none());
        let config = ChatConfig::load(env(&[("AWS_ACCESS_KEY_ID", "AKIDENV")]), &dotenv).unwrap();
        assert!(config.dotenv_credentials.is_none());
    }
}
