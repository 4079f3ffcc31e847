//! The settings of a chat, each declared once with its default and its check: what a session
//! needs ([`SessionSettings`]) and what a connection to Bedrock needs ([`ConnectionSettings`]).
//!
//! [`ChatSessionBuilder`](crate::ChatSessionBuilder) and
//! [`BedrockClientBuilder`](crate::BedrockClientBuilder) write into these; [`ChatConfig`](crate::ChatConfig)
//! combines both and reads them from the environment. Nothing here knows where a value came from.

use std::time::Duration;

use crate::budget::Budget;
use crate::context::ContextPolicy;
use crate::error::{Error, Result};
use crate::guardrail::GuardrailConfig;
use crate::pricing::PriceTable;
use crate::request::{InferenceConfig, check_model_id};
use crate::retry::RetryPolicy;
use crate::structured::StructuredMode;
use crate::tier::{CacheTtl, Latency, ServiceTier};

/// The model a session uses unless told otherwise: Claude Sonnet 4.6 through its global
/// cross-region inference profile, which can be called from every commercial region where
/// Bedrock offers it. Newer Claude models cannot be called by their bare id
/// (`anthropic.claude-sonnet-4-6`) on demand; use a `us.`, `eu.`, `apac.` or `global.` profile.
pub const DEFAULT_MODEL_ID: &str = "global.anthropic.claude-sonnet-4-6";

/// The reply length limit a session uses unless told otherwise.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// How long a connection may take to open, unless set otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for each read of a response, unless set otherwise: the time until a whole
/// (non-streamed) reply arrives, and the longest pause inside a streamed one. Long answers take
/// minutes, so this is generous; it is not a limit on a whole streamed reply.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// What a session needs: the model, the system prompt, inference settings, and the policies for
/// retries, context and spending.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SessionSettings {
    /// The model or inference profile id. Default is [`DEFAULT_MODEL_ID`].
    pub model_id: String,
    /// The system prompt. Default is none.
    pub system_prompt: Option<String>,
    /// The inference settings. Default is a max-tokens of [`DEFAULT_MAX_TOKENS`] and the
    /// model's own defaults otherwise.
    pub inference: InferenceConfig,
    /// The retry policy. Default is [`RetryPolicy::default`]: 5 retries after 2, 4, 8, 16 and
    /// 32 seconds.
    pub retry_policy: RetryPolicy,
    /// How much of a long conversation each turn sends. Default is [`ContextPolicy::default`].
    pub context_policy: ContextPolicy,
    /// The prices cost is computed with. Default is [`PriceTable::builtin`].
    pub prices: PriceTable,
    /// A spending limit. Default is none.
    pub budget: Option<Budget>,
    /// Whether requests carry prompt-cache points (see [`CachePoints`](crate::CachePoints)).
    /// Default is off.
    pub prompt_caching: bool,
    /// A guardrail that checks every request and reply. Default is none.
    pub guardrail: Option<GuardrailConfig>,
    /// Extended thinking: how many tokens the model may reason in before it answers. Default
    /// is none (off).
    pub thinking_budget: Option<u32>,
    /// The service tier requests ask for. Default is none (Bedrock's default tier).
    pub service_tier: Option<ServiceTier>,
    /// The latency profile requests ask for. Default is none (standard).
    pub latency: Option<Latency>,
    /// How long prompt-cache entries live, when prompt caching is on. Default is five minutes.
    pub cache_ttl: CacheTtl,
    /// How [`ChatSession::send_structured`](crate::ChatSession::send_structured) asks for a
    /// reply of a schema. Default is [`StructuredMode::Auto`].
    pub structured_mode: StructuredMode,
    /// Whether the context policy and the budget use Bedrock's exact count of a request's input
    /// tokens (`CountTokens`, one more call before each turn) rather than the estimate from
    /// earlier turns. The estimate stays the fallback when the count fails or the model has none.
    /// Default is off.
    pub exact_token_counts: bool,
    /// Whether every document a request carries asks the model to cite it (pages or characters,
    /// as [`Citation`](crate::Citation)s), as [`Attachment::with_citations`](crate::Attachment::with_citations)
    /// asks for one: all of a request's documents or none, as Claude requires. Default is off.
    pub cite_documents: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            model_id: DEFAULT_MODEL_ID.to_string(),
            system_prompt: None,
            inference: InferenceConfig::new().max_tokens(DEFAULT_MAX_TOKENS),
            retry_policy: RetryPolicy::default(),
            context_policy: ContextPolicy::default(),
            prices: PriceTable::builtin(),
            budget: None,
            prompt_caching: false,
            guardrail: None,
            thinking_budget: None,
            service_tier: None,
            latency: None,
            cache_ttl: CacheTtl::default(),
            structured_mode: StructuredMode::default(),
            exact_token_counts: false,
            cite_documents: false,
        }
    }
}

impl SessionSettings {
    /// Checks every value, so a mistake is reported before the first request.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] or [`Error::InvalidInput`] naming the value and what is allowed.
    pub fn validate(&self) -> Result<()> {
        check_model_id(&self.model_id)?;
        if let Some(prompt) = &self.system_prompt {
            crate::message::check_control_characters("the system prompt", prompt)?;
        }
        if let Some(budget) = &self.budget {
            budget.validate()?;
        }
        if let Some(guardrail) = &self.guardrail {
            guardrail.validate()?;
        }
        self.inference.validate()?;
        crate::request::check_thinking(self.thinking_budget, &self.inference)?;
        self.retry_policy.validate()
    }

    /// The system prompt, with a blank one counted as none (Bedrock refuses blank text).
    pub(crate) fn normalise(&mut self) {
        if self
            .system_prompt
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            self.system_prompt = None;
        }
    }
}

/// What a connection to Bedrock needs. What is left unset is taken from the standard AWS
/// configuration chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionSettings {
    /// The AWS region, such as `us-east-1`. Default is the chain's (`AWS_REGION`, then the
    /// profile).
    pub region: Option<String>,
    /// The AWS profile to take settings and credentials from. Default is the chain's
    /// (`AWS_PROFILE`, then `default`).
    pub profile: Option<String>,
    /// The Bedrock runtime endpoint, such as a VPC endpoint or a local test server. Default is
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` if set, else Bedrock's regional endpoint.
    pub endpoint_url: Option<String>,
    /// How long opening a connection may take. Default is [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// How long each read may wait: until a whole reply arrives, and between two parts of a
    /// streamed reply. Default is [`DEFAULT_READ_TIMEOUT`].
    pub read_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            region: None,
            profile: None,
            endpoint_url: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

impl ConnectionSettings {
    /// Checks every value, so a typo fails at once instead of as a connection error.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a malformed region, an endpoint URL that is not an http(s) URL with
    /// a host, or a zero timeout.
    pub fn validate(&self) -> Result<()> {
        if let Some(region) = &self.region {
            validate_region(region)?;
        }
        if let Some(url) = &self.endpoint_url {
            validate_endpoint_url(url)?;
        }
        for (name, timeout) in [
            ("connect timeout", self.connect_timeout),
            ("read timeout", self.read_timeout),
        ] {
            if timeout.is_zero() {
                return Err(Error::config(format!(
                    "the {name} must be longer than 0; use e.g. 10s"
                )));
            }
        }
        Ok(())
    }
}

/// Parses a duration: `2s`, `250ms`, `1m30s`, or a bare number of seconds.
///
/// # Errors
///
/// [`Error::Config`] saying what forms are accepted.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds >= 0.0 {
            // `from_secs_f64` would panic past about 584 billion years.
            return Duration::try_from_secs_f64(seconds).map_err(|_| {
                Error::config(format!(
                    "{text} seconds is longer than any wait can be; use e.g. 24h or 30s"
                ))
            });
        }
        return Err(Error::config(format!(
            "{text} is not a duration; use a number of seconds of at least 0, or e.g. 2s, 250ms, 1m30s"
        )));
    }
    humantime::parse_duration(text).map_err(|e| Error::Config {
        message: format!("{text:?} is not a duration; use e.g. 2s, 250ms or 1m30s"),
        source: Some(e.into()),
    })
}

/// Checks that `region` looks like an AWS region name (`us-east-1`, `us-gov-west-1`), so a typo
/// fails at once instead of as a connection error to a host that does not exist.
pub(crate) fn validate_region(region: &str) -> Result<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if well_formed {
        Ok(())
    } else {
        Err(Error::config(format!(
            "{region:?} is not an AWS region; use a region name such as us-east-1 or eu-west-1"
        )))
    }
}

/// Checks that `url` is an absolute http(s) URL with a host.
pub(crate) fn validate_endpoint_url(url: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::config(format!(
            "the endpoint URL {url:?} {why}; use a URL such as https://bedrock-runtime.us-east-1.amazonaws.com"
        ))
    };
    let parsed = url::Url::parse(url).map_err(|_| bad("is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("does not start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_checked() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
            "il-central-1",
        ] {
            assert!(validate_region(ok).is_ok(), "{ok}");
        }
        for bad in ["", "useast1", "US-EAST-1", "us-east", "moon", "us-east-1 "] {
            assert!(validate_region(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn endpoint_urls_are_checked() {
        assert!(validate_endpoint_url("http://127.0.0.1:9000").is_ok());
        assert!(validate_endpoint_url("https://bedrock-runtime.us-east-1.amazonaws.com").is_ok());
        let err = validate_endpoint_url("not a url").unwrap_err();
        assert!(err.to_string().contains("is not a URL"), "{err}");
        assert!(validate_endpoint_url("ftp://host").is_err());
    }

    #[test]
    fn durations_accept_human_forms() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .to_string()
                .contains("2s")
        );
        assert!(parse_duration("-1").is_err());
        // Past what a `Duration` holds: an error saying so, not a panic.
        for huge in ["1e30", "1e300"] {
            let error = parse_duration(huge).unwrap_err().to_string();
            assert!(error.contains("longer than any wait"), "{error}");
        }
    }

    #[test]
    fn defaults_reproduce_the_original_app() {
        let settings = SessionSettings::default();
        assert_eq!(settings.model_id, DEFAULT_MODEL_ID);
        assert_eq!(settings.inference.max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert_eq!(settings.retry_policy, RetryPolicy::default());
        assert!(settings.validate().is_ok());
        assert!(ConnectionSettings::default().validate().is_ok());
    }
}
