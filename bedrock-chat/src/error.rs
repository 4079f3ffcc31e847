//! The crate's one error type.
//!
//! Every failure, from a rejected input to a throttled request to a stream that broke halfway, is an
//! [`Error`]. Its `Display` text is written for a person: it says what happened and what to do. Its
//! [`source`](std::error::Error::source) chain keeps the underlying AWS SDK error for logs and
//! debugging. Frontends decide what to do with [`Error::is_retryable`] and
//! [`Error::request_id`] instead of matching variants.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::stop_reason::StopReason;

/// A boxed error, the type of every wrapped cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result<T, bedrock_chat::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What Bedrock said about a failed request: its message and the request id to quote to AWS support.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceDetails {
    /// Bedrock's own message, verbatim.
    pub message: String,
    /// The `x-amzn-requestid` of the failed request, when Bedrock sent one.
    pub request_id: Option<String>,
    /// How long Bedrock asked the client to wait (a `Retry-After` header), when it did.
    pub retry_after: Option<Duration>,
}

impl ServiceDetails {
    /// Details with Bedrock's message and an optional request id.
    pub fn new(message: impl Into<String>, request_id: Option<String>) -> Self {
        ServiceDetails {
            message: message.into(),
            request_id,
            retry_after: None,
        }
    }

    /// Sets the wait Bedrock asked for. Default is none.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

impl fmt::Display for ServiceDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str("no message from Bedrock")
        } else {
            f.write_str(&self.message)
        }
    }
}

/// Everything that can go wrong while talking to Claude on Bedrock.
///
/// The variants are grouped by cause: Bedrock being busy or failing (worth retrying), the request
/// needing a change (not worth retrying), a stream breaking after output had reached the caller,
/// set-up problems, and input rejected before any request was made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- Bedrock is busy or failing: worth retrying -------------------------------------------
    /// Bedrock throttled the request (`ThrottlingException`, HTTP 429).
    #[error(
        "Bedrock is throttling requests ({details}); wait a little and try again, or ask for a higher quota in Service Quotas"
    )]
    Throttled {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The model is not ready to serve requests yet (`ModelNotReadyException`).
    #[error("the model is not ready to serve requests yet ({details}); try again in a moment")]
    ModelNotReady {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// Bedrock is temporarily unavailable (`ServiceUnavailableException`, HTTP 503).
    #[error("Bedrock is temporarily unavailable ({details}); try again in a moment")]
    ServiceUnavailable {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// Bedrock failed internally (`InternalServerException`, HTTP 500).
    #[error("Bedrock had an internal error ({details}); try again")]
    InternalServer {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The model took longer than Bedrock allows (`ModelTimeoutException`, HTTP 408).
    #[error(
        "the model took too long to answer ({details}); try again, or ask for a shorter answer"
    )]
    ModelTimeout {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The response stream failed on Bedrock's side (`modelStreamErrorException`).
    #[error("Bedrock's response stream failed ({details}); try again")]
    ModelStreamError {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// No response arrived in time: connecting, waiting for the answer, or between two parts of a
    /// streamed answer.
    #[error(
        "timed out waiting for Bedrock; check the network, or raise the read timeout for long answers"
    )]
    Timeout {
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The connection failed, dropped, or carried a response that could not be read.
    #[error("could not reach Bedrock or read its response; check the network and the endpoint")]
    Transport {
        /// The SDK or I/O error.
        #[source]
        source: BoxError,
    },
    /// An answer came, but not one of Bedrock's: an HTML error page from a proxy or load
    /// balancer, or a body that is not Bedrock's JSON. The HTTP status says who failed.
    #[error("{}", describe_unexpected(*status, content_type.as_deref()))]
    UnexpectedResponse {
        /// The HTTP status code.
        status: u16,
        /// The response's `Content-Type`, if it had one.
        content_type: Option<String>,
        /// The SDK's parse error.
        #[source]
        source: BoxError,
    },

    // --- the request must change: not worth retrying ------------------------------------------
    /// Bedrock rejected the request as invalid (`ValidationException`, HTTP 400).
    #[error("Bedrock rejected the request: {details}")]
    InvalidRequest {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The model can only be called through a cross-region inference profile.
    #[error(
        "model `{model_id}` cannot be called by its bare id; {} ({details})",
        profile_advice(model_id, profiles)
    )]
    InferenceProfileRequired {
        /// The bare model id that was used.
        model_id: Box<str>,
        /// The profiles of the caller's region that call it, when the listing could be read
        /// (the `models` feature); empty otherwise.
        profiles: Vec<String>,
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The caller may not use this model (`AccessDeniedException`, HTTP 403).
    #[error(
        "access denied to model `{model_id}` in region {region} ({details}); enable access to this \
         model in the Bedrock console (Model access) for {region}, and check that your IAM identity \
         allows bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream"
    )]
    AccessDenied {
        /// The model id that was used.
        model_id: Box<str>,
        /// The region the request went to.
        region: Box<str>,
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The model id is unknown or retired in this region (`ResourceNotFoundException`, HTTP 404).
    #[error(
        "model `{model_id}` was not found in region {region} ({details}); check the model id and \
         that the model is offered in this region"
    )]
    ModelNotFound {
        /// The model id that was used.
        model_id: Box<str>,
        /// The region the request went to.
        region: Box<str>,
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// An account quota is exhausted (`ServiceQuotaExceededException`).
    #[error(
        "a Bedrock service quota is exhausted ({details}); request an increase in Service Quotas"
    )]
    QuotaExceeded {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// The conversation no longer fits the model's context window: Bedrock refused it as too
    /// long, or the model stopped with `model_context_window_exceeded`, and trimming under the
    /// session's [`ContextPolicy`](crate::ContextPolicy) could not make it fit.
    #[error(
        "the conversation no longer fits the model's context window ({details}); start a new \
         conversation (/clear in the REPL), or use a context policy that trims old messages \
         (tokens:N or last:N; the REPL's --context-policy)"
    )]
    ContextWindowExceeded {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error, when Bedrock refused the request.
        #[source]
        source: Option<BoxError>,
    },
    /// The next turn could cost more than the session's budget allows.
    #[error(
        "the next turn could cost up to {}, and {} of the {} budget is spent; raise the budget or \
         start a new session",
        crate::usd::Usd(*next_turn_usd),
        crate::usd::Usd(*spent_usd),
        crate::usd::Usd(*limit_usd)
    )]
    BudgetExceeded {
        /// Spent so far in this session, in US dollars.
        spent_usd: f64,
        /// The most the next turn could cost.
        next_turn_usd: f64,
        /// The budget.
        limit_usd: f64,
    },
    /// The model failed to process the request (`ModelErrorException`, HTTP 424).
    #[error("the model failed to process the request ({details})")]
    ModelFailed {
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// Bedrock answered with an error this crate does not know.
    #[error("Bedrock returned an error{}: {details}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Service {
        /// The error code, when Bedrock sent one.
        code: Option<String>,
        /// Bedrock's message and request id.
        details: ServiceDetails,
        /// The SDK error.
        #[source]
        source: BoxError,
    },

    // --- the stream broke after output reached the caller -------------------------------------
    /// A streamed reply failed after part of it had been delivered. The conversation is unchanged:
    /// send the message again (or `retry`) to get a whole reply.
    #[error("the reply was cut off after {} characters: {source}", partial_text.chars().count())]
    StreamInterrupted {
        /// The text that had been delivered before the failure.
        partial_text: String,
        /// What broke the stream.
        #[source]
        source: Box<Error>,
    },
    /// Bedrock finished the reply without any text, so there is nothing to add to the conversation.
    #[error(
        "the model returned an empty reply (stop reason: {stop_reason}); rephrase the message and try again"
    )]
    EmptyReply {
        /// Why the model stopped.
        stop_reason: StopReason,
    },
    /// The model was still calling tools after the most rounds a turn may take
    /// ([`ChatSessionBuilder::max_tool_rounds`](crate::ChatSessionBuilder::max_tool_rounds)).
    /// The turn is not kept: the history is as before it.
    #[error(
        "the model was still calling tools after {rounds} rounds, the most a turn may take; \
         rephrase the message, or allow more rounds"
    )]
    ToolRoundsExceeded {
        /// The limit that was reached.
        rounds: u32,
    },
    /// The model's reply to [`ChatSession::send_structured`](crate::ChatSession::send_structured)
    /// is not a value of the type asked for (a model without constrained decoding strayed from
    /// the schema, or the type checks more than the schema says). The turn is kept in the
    /// history; the reply's text is in [`raw_reply`](Error::raw_reply).
    #[error(
        "the model's reply is not a valid `{type_name}`: {reason}; ask again, or loosen the type"
    )]
    StructuredReply {
        /// The Rust type asked for.
        type_name: Box<str>,
        /// What did not parse.
        reason: String,
        /// The reply as it came.
        raw: String,
    },
    /// A knowledge base could not be searched before the turn (`Retrieve`); nothing was sent to
    /// the model.
    #[error("knowledge base {knowledge_base_id}: {message}")]
    KnowledgeBase {
        /// The knowledge base's id.
        knowledge_base_id: Box<str>,
        /// What went wrong and what to do.
        message: String,
        /// Whether searching again later may work (throttling, a service failure, a timeout).
        retryable: bool,
        /// The SDK error.
        #[source]
        source: Option<BoxError>,
    },

    // --- set-up --------------------------------------------------------------------------------
    /// No usable AWS credentials were found.
    #[error(
        "no AWS credentials found; set AWS_BEARER_TOKEN_BEDROCK to a Bedrock API key (the \
         fastest way), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, set AWS_PROFILE to a \
         profile in ~/.aws/config, or run `aws sso login`"
    )]
    Credentials {
        /// The credential provider's error.
        #[source]
        source: BoxError,
    },
    /// The configuration is incomplete or invalid.
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    // --- input rejected before any request ------------------------------------------------------
    /// The input was rejected before anything was sent to Bedrock.
    #[error("{reason}")]
    InvalidInput {
        /// What is wrong with the input.
        reason: String,
    },
    /// A saved conversation could not be read or written.
    #[error("conversation file {}: {reason}", path.display())]
    ConversationFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
        /// The I/O or parse error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

/// What to use instead of a bare model id: the profiles the region has, or the usual prefixes.
fn profile_advice(model_id: &str, profiles: &[String]) -> String {
    match profiles {
        [] => format!(
            "use its inference profile id instead, such as `us.{model_id}`, `eu.{model_id}` or \
             `global.{model_id}`"
        ),
        [only] => format!("use its inference profile `{only}` instead"),
        many => format!(
            "use one of its inference profiles instead: {}",
            many.iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn describe_unexpected(status: u16, content_type: Option<&str>) -> String {
    let content_type = content_type.map(|t| format!(" ({t})")).unwrap_or_default();
    let advice = match status {
        200..=299 => {
            "its body could not be read as Bedrock's; try again, and check the endpoint URL if it persists"
        }
        500..=599 => "not Bedrock's error; a proxy or gateway in between may be failing; try again",
        _ => "not Bedrock's error; check the endpoint URL and any proxy in between",
    };
    format!("the endpoint answered HTTP {status}{content_type}, {advice}")
}

impl Error {
    /// True when the same request may succeed if sent again later: throttling, a model that is
    /// not ready, an unavailable or failing service, model and client timeouts, and connection
    /// failures. False for everything the caller has to change first.
    ///
    /// For [`Error::StreamInterrupted`] this tells whether the cause was transient; the crate never
    /// retries a stream that has already delivered text by itself, but resending the turn is safe
    /// because the conversation was left unchanged.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled { .. }
            | Error::ModelNotReady { .. }
            | Error::ServiceUnavailable { .. }
            | Error::InternalServer { .. }
            | Error::ModelTimeout { .. }
            | Error::ModelStreamError { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. } => true,
            // A gateway's 5xx, or a 200 whose body broke on the way, may pass; a 4xx page will not.
            Error::UnexpectedResponse { status, .. } => !(400..500).contains(status),
            Error::StreamInterrupted { source, .. } => source.is_retryable(),
            Error::KnowledgeBase { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// True for throttling, so a frontend can say "throttled" rather than "failed".
    pub fn is_throttling(&self) -> bool {
        match self {
            Error::Throttled { .. } => true,
            Error::StreamInterrupted { source, .. } => source.is_throttling(),
            _ => false,
        }
    }

    /// True for client-side timeouts and Bedrock's model timeout.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::ModelTimeout { .. } => true,
            Error::StreamInterrupted { source, .. } => source.is_timeout(),
            _ => false,
        }
    }

    /// The request id Bedrock gave the failed request, to quote to AWS support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::StreamInterrupted { source, .. } => source.request_id(),
            _ => self.service_details()?.request_id.as_deref(),
        }
    }

    /// Bedrock's own error message, when the error came from Bedrock.
    pub fn service_message(&self) -> Option<&str> {
        match self {
            Error::StreamInterrupted { source, .. } => source.service_message(),
            _ => Some(self.service_details()?.message.as_str()),
        }
    }

    /// True when the conversation did not fit the model's context window.
    pub fn is_context_overflow(&self) -> bool {
        match self {
            Error::ContextWindowExceeded { .. } => true,
            Error::StreamInterrupted { source, .. } => source.is_context_overflow(),
            _ => false,
        }
    }

    /// The reply a structured turn got but could not parse ([`Error::StructuredReply`]).
    pub fn raw_reply(&self) -> Option<&str> {
        match self {
            Error::StructuredReply { raw, .. } => Some(raw),
            _ => None,
        }
    }

    /// The text a broken stream had delivered before it failed.
    pub fn partial_text(&self) -> Option<&str> {
        match self {
            Error::StreamInterrupted { partial_text, .. } => Some(partial_text),
            _ => None,
        }
    }

    /// The wait Bedrock asked for before retrying (a `Retry-After` header), if it sent one. The
    /// retry loop waits at least this long.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::StreamInterrupted { source, .. } => source.retry_after(),
            _ => self.service_details()?.retry_after,
        }
    }

    fn service_details(&self) -> Option<&ServiceDetails> {
        match self {
            Error::Throttled { details, .. }
            | Error::ModelNotReady { details, .. }
            | Error::ServiceUnavailable { details, .. }
            | Error::InternalServer { details, .. }
            | Error::ModelTimeout { details, .. }
            | Error::ModelStreamError { details, .. }
            | Error::InvalidRequest { details, .. }
            | Error::InferenceProfileRequired { details, .. }
            | Error::AccessDenied { details, .. }
            | Error::ModelNotFound { details, .. }
            | Error::QuotaExceeded { details, .. }
            | Error::ModelFailed { details, .. }
            | Error::ContextWindowExceeded { details, .. }
            | Error::Service { details, .. } => Some(details),
            _ => None,
        }
    }

    /// An [`Error::InvalidInput`] with the given reason.
    ///
    /// `#[cold]`, as are the library's other error paths: the compiler then lays out each check's
    /// failure branch away from the code that passes, and a turn's path through the library
    /// stays in fewer cache lines (each line it has to fetch costs more than its instructions).
    #[cold]
    pub(crate) fn invalid_input(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            reason: reason.into(),
        }
    }

    /// An [`Error::Config`] without an underlying cause.
    #[cold]
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
            source: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(msg: &str) -> BoxError {
        msg.to_string().into()
    }

    #[test]
    fn retryable_kinds_are_exactly_the_transient_ones() {
        let d = || ServiceDetails::new("m", Some("rid".into()));
        assert!(
            Error::Throttled {
                details: d(),
                source: boxed("x")
            }
            .is_retryable()
        );
        assert!(Error::Transport { source: boxed("x") }.is_retryable());
        assert!(
            !Error::InvalidRequest {
                details: d(),
                source: boxed("x")
            }
            .is_retryable()
        );
        assert!(
            !Error::QuotaExceeded {
                details: d(),
                source: boxed("x")
            }
            .is_retryable()
        );
        assert!(!Error::invalid_input("empty").is_retryable());
    }

    #[test]
    fn stream_interrupted_delegates_to_its_cause() {
        let err = Error::StreamInterrupted {
            partial_text: "Hel".into(),
            source: Box::new(Error::Throttled {
                details: ServiceDetails::new("slow down", Some("abc".into())),
                source: boxed("x"),
            }),
        };
        assert!(err.is_retryable());
        assert!(err.is_throttling());
        assert_eq!(err.request_id(), Some("abc"));
        assert_eq!(err.partial_text(), Some("Hel"));
        assert!(err.to_string().contains("cut off after 3 characters"));
    }

    #[test]
    fn access_denied_says_how_to_enable_model_access() {
        let err = Error::AccessDenied {
            model_id: "global.anthropic.claude-sonnet-4-6".into(),
            region: "eu-west-1".into(),
            details: ServiceDetails::new("You don't have access", None),
            source: boxed("x"),
        };
        let text = err.to_string();
        assert!(text.contains("Model access"), "{text}");
        assert!(text.contains("eu-west-1"), "{text}");
    }
}
