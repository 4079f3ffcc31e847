//! Configuration: explicit values, then environment variables, then a `.env` file, then defaults.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use aws_credential_types::Credentials;

use crate::context::ContextPolicy;
use crate::error::{Error, Result};
use crate::pricing::PriceTable;
use crate::request::InferenceConfig;
use crate::retry::RetryPolicy;
use crate::session::Budget;

/// The model a session uses unless told otherwise: Claude Sonnet 4.6 through its global
/// cross-region inference profile, which can be called from every commercial region where
/// Bedrock offers it. Newer Claude models cannot be called by their bare id
/// (`anthropic.claude-sonnet-4-6`) on demand; use a `us.`, `eu.`, `apac.` or `global.` profile.
pub const DEFAULT_MODEL_ID: &str = "global.anthropic.claude-sonnet-4-6";

/// The reply length limit a session uses unless told otherwise.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Where a chat gets its settings: explicit values (the setters), then environment variables,
/// then a `.env` file, then defaults.
///
/// | setting | variable | default |
/// |---|---|---|
/// | model id | `BEDROCK_MODEL_ID` | [`DEFAULT_MODEL_ID`] |
/// | region | `AWS_REGION`, `AWS_DEFAULT_REGION` | the AWS config chain (profile), else none |
/// | profile | `AWS_PROFILE` | the AWS config chain's default |
/// | endpoint URL | `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL` | Bedrock's regional endpoint |
/// | system prompt | `BEDROCK_SYSTEM_PROMPT` | none |
/// | max tokens | `BEDROCK_MAX_TOKENS` | [`DEFAULT_MAX_TOKENS`] |
/// | temperature | `BEDROCK_TEMPERATURE` | the model's (1.0) |
/// | top-p | `BEDROCK_TOP_P` | the model's |
/// | retries | `BEDROCK_MAX_RETRIES` | 5 |
/// | first retry delay | `BEDROCK_RETRY_BASE_DELAY` (`2s`, `250ms`) | 2 s |
/// | longest retry delay | `BEDROCK_RETRY_MAX_DELAY` | 60 s |
/// | context policy | `BEDROCK_CONTEXT_POLICY` (`all`, `last:N`, `tokens:N`) | `tokens:150000` |
/// | price file | `BEDROCK_PRICE_TABLE` (JSON, see [`PriceTable::load`]) | built-in prices |
/// | budget in US dollars | `BEDROCK_BUDGET_USD` | none |
/// | budget mode | `BEDROCK_BUDGET_MODE` (`warn`, `refuse`) | `warn` |
///
/// AWS credentials come from the standard AWS chain (environment, profile, SSO, instance role).
/// Like the original app, which loaded `.env` into its environment, a `.env` file may also hold
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; they are used only when
/// the environment sets neither keys nor a profile.
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
/// assert_eq!(config.model_id, "eu.anthropic.claude-sonnet-4-6");
/// assert_eq!(config.region.as_deref(), Some("eu-west-1"));
/// # Ok::<(), bedrock_chat::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
#[non_exhaustive]
pub struct ChatConfig {
    /// The model or inference profile id.
    pub model_id: String,
    /// The AWS region; `None` leaves it to the AWS configuration chain.
    pub region: Option<String>,
    /// The AWS profile; `None` leaves it to the AWS configuration chain.
    pub profile: Option<String>,
    /// The Bedrock runtime endpoint URL; `None` for Bedrock's regional endpoint.
    pub endpoint_url: Option<String>,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// The inference settings.
    pub inference: InferenceConfig,
    /// The retry policy.
    pub retry_policy: RetryPolicy,
    /// How much of a long conversation each turn sends.
    pub context_policy: ContextPolicy,
    /// The prices cost is computed with.
    pub prices: PriceTable,
    /// A spending limit, if any.
    pub budget: Option<Budget>,
    dotenv_credentials: Option<Credentials>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            model_id: DEFAULT_MODEL_ID.to_string(),
            region: None,
            profile: None,
            endpoint_url: None,
            system_prompt: None,
            inference: InferenceConfig::new().max_tokens(DEFAULT_MAX_TOKENS),
            retry_policy: RetryPolicy::default(),
            context_policy: ContextPolicy::default(),
            prices: PriceTable::builtin(),
            budget: None,
            dotenv_credentials: None,
        }
    }
}

impl ChatConfig {
    /// The defaults, ignoring the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the environment and, under it, a `.env` file in the current directory if there is
    /// one.
    pub fn from_env() -> Result<Self> {
        Self::from_env_file(Path::new(".env"))
    }

    /// Reads the environment and, under it, the given `.env` file if it exists.
    pub fn from_env_file(path: &Path) -> Result<Self> {
        let dotenv = read_dotenv(path)?;
        Self::load(|name| std::env::var(name).ok(), &dotenv)
    }

    /// Reads settings through `lookup` (a variable name to its value) instead of the process
    /// environment, with no `.env` file. Useful in tests and for settings kept elsewhere.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::load(lookup, &HashMap::new())
    }

    fn load(
        env: impl Fn(&str) -> Option<String>,
        dotenv: &HashMap<String, String>,
    ) -> Result<Self> {
        let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let from_env = |name: &str| non_empty(env(name));
        let get = |name: &str| from_env(name).or_else(|| non_empty(dotenv.get(name).cloned()));
        let first = |names: &[&str]| names.iter().find_map(|n| get(n));

        let mut config = ChatConfig::default();
        if let Some(model_id) = get("BEDROCK_MODEL_ID") {
            config.model_id = model_id;
        }
        config.region = first(&["AWS_REGION", "AWS_DEFAULT_REGION"]);
        config.profile = get("AWS_PROFILE");
        config.endpoint_url = first(&["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"]);
        config.system_prompt = get("BEDROCK_SYSTEM_PROMPT");
        if let Some(v) = get("BEDROCK_MAX_TOKENS") {
            config.inference.max_tokens = Some(parse_number("BEDROCK_MAX_TOKENS", &v)?);
        }
        if let Some(v) = get("BEDROCK_TEMPERATURE") {
            config.inference.temperature = Some(parse_number("BEDROCK_TEMPERATURE", &v)?);
        }
        if let Some(v) = get("BEDROCK_TOP_P") {
            config.inference.top_p = Some(parse_number("BEDROCK_TOP_P", &v)?);
        }
        if let Some(v) = get("BEDROCK_MAX_RETRIES") {
            config.retry_policy = config
                .retry_policy
                .max_retries(parse_number("BEDROCK_MAX_RETRIES", &v)?);
        }
        if let Some(v) = get("BEDROCK_RETRY_BASE_DELAY") {
            config.retry_policy = config
                .retry_policy
                .initial_delay(parse_duration("BEDROCK_RETRY_BASE_DELAY", &v)?);
        }
        if let Some(v) = get("BEDROCK_RETRY_MAX_DELAY") {
            config.retry_policy = config
                .retry_policy
                .max_delay(parse_duration("BEDROCK_RETRY_MAX_DELAY", &v)?);
        }
        if let Some(v) = get("BEDROCK_CONTEXT_POLICY") {
            config.context_policy = v.parse().map_err(|e: Error| Error::Config {
                message: format!("BEDROCK_CONTEXT_POLICY: {e}"),
                source: None,
            })?;
        }
        if let Some(path) = get("BEDROCK_PRICE_TABLE") {
            config.prices = PriceTable::load(Path::new(&path))?;
        }
        if let Some(v) = get("BEDROCK_BUDGET_USD") {
            let limit: f64 = parse_number("BEDROCK_BUDGET_USD", &v)?;
            config.budget = Some(match get("BEDROCK_BUDGET_MODE").as_deref().map(str::trim) {
                None | Some("warn") => Budget::warn(limit),
                Some("refuse") => Budget::refuse(limit),
                Some(other) => {
                    return Err(Error::config(format!(
                        "BEDROCK_BUDGET_MODE={other:?} is not warn or refuse"
                    )));
                }
            });
        }
        // The environment's own credentials or profile always win over a .env file's keys.
        let env_has_credentials =
            from_env("AWS_ACCESS_KEY_ID").is_some() || from_env("AWS_PROFILE").is_some();
        if !env_has_credentials {
            let dotenv_value = |name: &str| non_empty(dotenv.get(name).cloned());
            if let (Some(key), Some(secret)) = (
                dotenv_value("AWS_ACCESS_KEY_ID"),
                dotenv_value("AWS_SECRET_ACCESS_KEY"),
            ) {
                config.dotenv_credentials = Some(Credentials::new(
                    key,
                    secret,
                    dotenv_value("AWS_SESSION_TOKEN"),
                    None,
                    "dotenv",
                ));
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every value, so a mistake is reported before the first request.
    pub fn validate(&self) -> Result<()> {
        if self.model_id.trim().is_empty() {
            return Err(Error::config("the model id is empty; set BEDROCK_MODEL_ID"));
        }
        if let Some(region) = &self.region {
            crate::bedrock::validate_region(region)?;
        }
        if let Some(url) = &self.endpoint_url {
            crate::bedrock::validate_endpoint_url(url)?;
        }
        if let Some(budget) = &self.budget {
            budget.validate()?;
        }
        self.inference.validate()?;
        self.retry_policy.validate()
    }

    /// Sets the model or inference profile id. Default is [`DEFAULT_MODEL_ID`].
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = model_id.into();
        self
    }

    /// Sets the AWS region. Default is the AWS configuration chain's region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the AWS profile. Default is the AWS configuration chain's profile.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Sets the Bedrock runtime endpoint URL. Default is Bedrock's regional endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sets the system prompt. Default is none.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// Sets the inference settings. Default is a max-tokens of [`DEFAULT_MAX_TOKENS`].
    pub fn inference(mut self, inference: InferenceConfig) -> Self {
        self.inference = inference;
        self
    }

    /// Sets the retry policy. Default is [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Sets the context-window policy. Default is [`ContextPolicy::default`].
    pub fn context_policy(mut self, policy: ContextPolicy) -> Self {
        self.context_policy = policy;
        self
    }

    /// Sets the prices. Default is [`PriceTable::builtin`].
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Sets a spending limit. Default is none.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Credentials found in the `.env` file, used when the environment has none.
    pub(crate) fn dotenv_credentials(&self) -> Option<&Credentials> {
        self.dotenv_credentials.as_ref()
    }
}

impl fmt::Debug for ChatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatConfig")
            .field("model_id", &self.model_id)
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("endpoint_url", &self.endpoint_url)
            .field("system_prompt", &self.system_prompt)
            .field("inference", &self.inference)
            .field("retry_policy", &self.retry_policy)
            .field("context_policy", &self.context_policy)
            .field("budget", &self.budget)
            .field(
                "dotenv_credentials",
                &self.dotenv_credentials.as_ref().map(|_| "** redacted **"),
            )
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

fn parse_number<T: FromStr>(name: &str, value: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.trim().parse().map_err(|e: T::Err| Error::Config {
        message: format!("{name}={value:?} is not a valid number"),
        source: Some(e.into()),
    })
}

/// Parses `2s`, `250ms`, `1m 30s`, or a bare number of seconds.
pub(crate) fn parse_duration(name: &str, value: &str) -> Result<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Ok(Duration::from_secs_f64(seconds));
    }
    humantime::parse_duration(value).map_err(|e| Error::Config {
        message: format!("{name}={value:?} is not a duration such as 2s or 250ms"),
        source: Some(e.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_reproduce_the_original_app() {
        let config = ChatConfig::from_lookup(|_| None).unwrap();
        assert_eq!(config.model_id, DEFAULT_MODEL_ID);
        assert_eq!(config.inference.max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert_eq!(config.retry_policy, RetryPolicy::default());
    }

    #[test]
    fn environment_wins_over_dotenv() {
        let dotenv: HashMap<String, String> = [
            ("BEDROCK_MODEL_ID", "from-dotenv"),
            ("BEDROCK_TEMPERATURE", "0.3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = ChatConfig::load(env(&[("BEDROCK_MODEL_ID", "from-env")]), &dotenv).unwrap();
        assert_eq!(config.model_id, "from-env");
        assert_eq!(config.inference.temperature, Some(0.3));
    }

    #[test]
    fn retry_settings_accept_human_durations() {
        let config = ChatConfig::from_lookup(env(&[
            ("BEDROCK_MAX_RETRIES", "2"),
            ("BEDROCK_RETRY_BASE_DELAY", "250ms"),
            ("BEDROCK_RETRY_MAX_DELAY", "1"),
        ]))
        .unwrap();
        assert_eq!(
            config.retry_policy.schedule(),
            vec![Duration::from_millis(250), Duration::from_millis(500)]
        );
        assert_eq!(config.retry_policy.max_delay, Duration::from_secs(1));
    }

    #[test]
    fn context_policy_and_budget_come_from_the_environment() {
        let config = ChatConfig::from_lookup(env(&[
            ("BEDROCK_CONTEXT_POLICY", "last:4"),
            ("BEDROCK_BUDGET_USD", "2.5"),
            ("BEDROCK_BUDGET_MODE", "refuse"),
        ]))
        .unwrap();
        assert_eq!(config.context_policy, ContextPolicy::LastExchanges(4));
        assert_eq!(config.budget, Some(Budget::refuse(2.5)));
        let err = ChatConfig::from_lookup(env(&[("BEDROCK_CONTEXT_POLICY", "most")])).unwrap_err();
        assert!(err.to_string().contains("last:N"), "{err}");
        let err =
            ChatConfig::from_lookup(env(&[("BEDROCK_PRICE_TABLE", "/nonexistent/prices.json")]))
                .unwrap_err();
        assert!(err.to_string().contains("price file"), "{err}");
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
    fn dotenv_credentials_are_used_only_without_environment_credentials_and_never_printed() {
        let dotenv: HashMap<String, String> = [
            ("AWS_ACCESS_KEY_ID", "AKIDSENTINEL"),
            ("AWS_SECRET_ACCESS_KEY", "SECRETSENTINEL"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = ChatConfig::load(env(&[]), &dotenv).unwrap();
        assert!(config.dotenv_credentials().is_some());
        let debug = format!("{config:?}");
        assert!(!debug.contains("SENTINEL"), "{debug}");
        let config = ChatConfig::load(env(&[("AWS_PROFILE", "dev")]), &dotenv).unwrap();
        assert!(config.dotenv_credentials().is_none());
    }
}
