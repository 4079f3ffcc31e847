//! The one mapping from what can go wrong to an HTTP status and a JSON body
//! `{"error": {"message", "kind", "retryable", "request_id", "status"}}`, the same object as
//! the `error` event of a stream, with `Retry-After` set here and nowhere else.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bedrock_chat::{Error, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// Every kind of failure the API reports, each with one HTTP status.
///
/// The kind is the stable, machine-readable half of an error (`error.kind` in the browser
/// API and in a stream's `error` event, `error.code` on `/v1`); the status follows from it,
/// so two routes can never answer the same refusal differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 400: a field of the request is wrong (empty message, bad setting, ...).
    InvalidInput,
    /// 400: Bedrock refused the request as malformed.
    InvalidRequest,
    /// 400: the body is not JSON.
    InvalidJson,
    /// 422: the body is JSON of the wrong shape.
    InvalidBody,
    /// 422: an attached file is not base64, not a format Bedrock takes, or over its limits.
    InvalidAttachment,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 413: the body, or the conversation, is too large to keep.
    TooLarge,
    /// 413: the conversation no longer fits the model's context window.
    ContextWindowExceeded,
    /// 401: the server needs its access token, or an API key.
    Unauthorized,
    /// 403: a write from another site.
    CrossSite,
    /// 404: no such conversation, or not this visitor's.
    NotFound,
    /// 404: no such route.
    NoRoute,
    /// 404: `/v1` was asked for a model this server does not offer.
    ModelNotFound,
    /// 409: the conversation changed under this request.
    Conflict,
    /// 409: the conversation is already writing a reply.
    Busy,
    /// 409: an empty conversation has nothing to undo.
    NothingToUndo,
    /// 421: the server does not answer to this host name.
    UnknownHost,
    /// 429: too many messages or conversations in too short a time.
    RateLimited,
    /// 429: a daily spending limit (the visitor's, the address's, the key's or the server's)
    /// is reached until midnight UTC.
    DailyBudget,
    /// 429: the session's own budget is spent.
    BudgetExceeded,
    /// 429: Bedrock throttled the request after every retry.
    Throttled,
    /// 429: the AWS account's Bedrock quota is used up.
    QuotaExceeded,
    /// 500: a failure of the server's own.
    Internal,
    /// 502: Bedrock refused the server's credentials' permissions.
    AccessDenied,
    /// 502: the server has no working AWS credentials.
    Credentials,
    /// 502: the configured model does not exist or cannot be called on demand.
    ModelUnavailable,
    /// 502: the server's Bedrock configuration is wrong.
    Configuration,
    /// 502: Bedrock answered with nothing.
    EmptyReply,
    /// 502: the model kept asking for tools beyond the allowed rounds.
    ToolRoundsExceeded,
    /// 502: a streamed reply broke off part-way.
    StreamInterrupted,
    /// 502: Bedrock failed in another way.
    BedrockFailed,
    /// 503: as many replies are being written as the server, the address or the visitor may
    /// have at once.
    AtCapacity,
    /// 503: the server is shutting down.
    Shutdown,
    /// 503: Bedrock is unavailable or the model is not ready.
    Unavailable,
    /// 503: the conversation store is full.
    StoreFull,
    /// 503: the conversation store did not answer.
    StoreUnavailable,
    /// 504: Bedrock did not answer in time.
    Timeout,
}

impl ErrorKind {
    /// Every kind, in the order of their statuses.
    pub const ALL: [ErrorKind; 37] = [
        ErrorKind::InvalidInput,
        ErrorKind::InvalidRequest,
        ErrorKind::InvalidJson,
        ErrorKind::Unauthorized,
        ErrorKind::CrossSite,
        ErrorKind::NotFound,
        ErrorKind::NoRoute,
        ErrorKind::ModelNotFound,
        ErrorKind::Conflict,
        ErrorKind::Busy,
        ErrorKind::NothingToUndo,
        ErrorKind::TooLarge,
        ErrorKind::ContextWindowExceeded,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::UnknownHost,
        ErrorKind::InvalidBody,
        ErrorKind::InvalidAttachment,
        ErrorKind::RateLimited,
        ErrorKind::DailyBudget,
        ErrorKind::BudgetExceeded,
        ErrorKind::Throttled,
        ErrorKind::QuotaExceeded,
        ErrorKind::Internal,
        ErrorKind::AccessDenied,
        ErrorKind::Credentials,
        ErrorKind::ModelUnavailable,
        ErrorKind::Configuration,
        ErrorKind::EmptyReply,
        ErrorKind::ToolRoundsExceeded,
        ErrorKind::StreamInterrupted,
        ErrorKind::BedrockFailed,
        ErrorKind::AtCapacity,
        ErrorKind::Shutdown,
        ErrorKind::Unavailable,
        ErrorKind::StoreFull,
        ErrorKind::StoreUnavailable,
        ErrorKind::Timeout,
    ];

    /// The one HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        use ErrorKind::*;
        match self {
            InvalidInput | InvalidRequest | InvalidJson => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            CrossSite => StatusCode::FORBIDDEN,
            NotFound | NoRoute | ModelNotFound => StatusCode::NOT_FOUND,
            Conflict | Busy | NothingToUndo => StatusCode::CONFLICT,
            TooLarge | ContextWindowExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UnknownHost => StatusCode::MISDIRECTED_REQUEST,
            InvalidBody | InvalidAttachment => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited | DailyBudget | BudgetExceeded | Throttled | QuotaExceeded => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            AccessDenied | Credentials | ModelUnavailable | Configuration | EmptyReply
            | ToolRoundsExceeded | StreamInterrupted | BedrockFailed => StatusCode::BAD_GATEWAY,
            AtCapacity | Shutdown | Unavailable | StoreFull | StoreUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The kind's name on the wire (`rate_limited`, `daily_budget`, ...).
    pub fn as_str(self) -> &'static str {
        use ErrorKind::*;
        match self {
            InvalidInput => "invalid_input",
            InvalidRequest => "invalid_request",
            InvalidJson => "invalid_json",
            InvalidBody => "invalid_body",
            InvalidAttachment => "invalid_attachment",
            UnsupportedMediaType => "unsupported_media_type",
            TooLarge => "too_large",
            ContextWindowExceeded => "context_window_exceeded",
            Unauthorized => "unauthorized",
            CrossSite => "cross_site",
            NotFound => "not_found",
            NoRoute => "no_route",
            ModelNotFound => "model_not_found",
            Conflict => "conflict",
            Busy => "busy",
            NothingToUndo => "nothing_to_undo",
            UnknownHost => "unknown_host",
            RateLimited => "rate_limited",
            DailyBudget => "daily_budget",
            BudgetExceeded => "budget_exceeded",
            Throttled => "throttled",
            QuotaExceeded => "quota_exceeded",
            Internal => "internal",
            AccessDenied => "access_denied",
            Credentials => "credentials",
            ModelUnavailable => "model_unavailable",
            Configuration => "configuration",
            EmptyReply => "empty_reply",
            ToolRoundsExceeded => "tool_rounds_exceeded",
            StreamInterrupted => "stream_interrupted",
            BedrockFailed => "bedrock_failed",
            AtCapacity => "at_capacity",
            Shutdown => "shutdown",
            Unavailable => "unavailable",
            StoreFull => "store_full",
            StoreUnavailable => "store_unavailable",
            Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request, as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    /// What kind of failure, which decides the HTTP status.
    pub kind: ErrorKind,
    /// What happened and what to do, for a person.
    pub message: String,
    /// Whether sending the same request again later may work.
    pub retryable: bool,
    /// Bedrock's request id, when Bedrock answered.
    pub request_id: Option<String>,
    /// How long to wait before trying again, when known.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with no request id and no wait; retryable when its status says so (429, 5xx).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let status = kind.status();
        ApiError {
            kind,
            message: message.into(),
            retryable: status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
            request_id: None,
            retry_after: None,
        }
    }

    /// The HTTP status, which the kind decides.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// 404, for anything this client may not see.
    pub fn not_found() -> Self {
        Self::new(
            ErrorKind::NotFound,
            "no such conversation; it may have expired or been deleted",
        )
    }

    /// A refusal that names how long to wait.
    pub fn waiting(kind: ErrorKind, message: impl Into<String>, wait: Duration) -> Self {
        let mut error = Self::new(kind, message);
        error.retry_after = Some(wait);
        error
    }

    /// A body that axum could not read as JSON, with the kind its reason deserves.
    pub fn unreadable_body(rejection: &JsonRejection, example: &str) -> Self {
        let kind = match rejection.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorKind::InvalidBody,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
            _ => ErrorKind::InvalidJson,
        };
        Self::new(
            kind,
            format!(
                "the body must be JSON like {example} with Content-Type: application/json ({})",
                rejection.body_text()
            ),
        )
    }

    /// What the client is told: the `error` member of a JSON body, and the data of a stream's
    /// `error` event.
    pub fn detail(&self) -> ErrorDetail<'_> {
        ErrorDetail {
            message: &self.message,
            kind: self.kind,
            retryable: self.retryable,
            request_id: self.request_id.as_deref(),
            status: self.status().as_u16(),
        }
    }
}

/// The body of every error of the browser API: `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong.
    pub error: ErrorDetail<'a>,
}

/// What went wrong, for a person and for a program.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// What happened and what to do, for a person.
    pub message: &'a str,
    /// A short, stable name for the kind of failure.
    pub kind: ErrorKind,
    /// Whether sending the same request again later may work.
    pub retryable: bool,
    /// Bedrock's request id, when Bedrock answered.
    pub request_id: Option<&'a str>,
    /// The HTTP status, repeated (a stream's `error` event has no status of its own).
    pub status: u16,
}

impl From<&Error> for ApiError {
    fn from(error: &Error) -> Self {
        if let Error::KnowledgeBase { retryable, .. } = error {
            // Its detail (the knowledge base, the region, the role, the filter) is the
            // operator's, for the log; a visitor learns only that the search failed.
            tracing::warn!(%error, "knowledge base search failed");
            return ApiError {
                kind: ErrorKind::BedrockFailed,
                message: if *retryable {
                    "the documents this chat answers from could not be searched just now; try \
                     again in a moment"
                        .to_string()
                } else {
                    "the documents this chat answers from could not be searched; the operator \
                     has been told"
                        .to_string()
                },
                retryable: *retryable,
                request_id: None,
                retry_after: retryable.then_some(Duration::from_secs(5)),
            };
        }
        let kind = match error {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            Error::ContextWindowExceeded { .. } => ErrorKind::ContextWindowExceeded,
            Error::BudgetExceeded { .. } => ErrorKind::BudgetExceeded,
            Error::Throttled { .. } => ErrorKind::Throttled,
            Error::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            Error::Timeout { .. } | Error::ModelTimeout { .. } => ErrorKind::Timeout,
            Error::ServiceUnavailable { .. } | Error::ModelNotReady { .. } => {
                ErrorKind::Unavailable
            }
            Error::AccessDenied { .. } => ErrorKind::AccessDenied,
            Error::Credentials { .. } => ErrorKind::Credentials,
            Error::ModelNotFound { .. } | Error::InferenceProfileRequired { .. } => {
                ErrorKind::ModelUnavailable
            }
            Error::Config { .. } => ErrorKind::Configuration,
            Error::EmptyReply { .. } => ErrorKind::EmptyReply,
            Error::ToolRoundsExceeded { .. } => ErrorKind::ToolRoundsExceeded,
            // Whether to try again, and when, is the cause's to say.
            Error::StreamInterrupted { .. } => ErrorKind::StreamInterrupted,
            _ => ErrorKind::BedrockFailed,
        };
        ApiError {
            kind,
            message: error.to_string(),
            retryable: error.is_retryable(),
            request_id: error.request_id().map(str::to_string),
            retry_after: error.retry_after().or_else(|| {
                // Throttled after every retry: suggest a pause anyway, as clients honour it.
                (kind.status() == StatusCode::TOO_MANY_REQUESTS).then_some(Duration::from_secs(5))
            }),
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::from(&error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let kind = match &error {
            StoreError::NotFound => return ApiError::not_found(),
            StoreError::Conflict => ErrorKind::Conflict,
            StoreError::Busy => ErrorKind::Busy,
            StoreError::TooLarge { .. } => ErrorKind::TooLarge,
            StoreError::Full { .. } => {
                return ApiError::waiting(
                    ErrorKind::StoreFull,
                    error.to_string(),
                    Duration::from_secs(60),
                );
            }
            _ => {
                // The store's own words name where it is (a host, a port, a socket path):
                // they go to the log, never to a client.
                tracing::warn!(%error, "the conversation store failed");
                return ApiError::waiting(
                    ErrorKind::StoreUnavailable,
                    "the conversation store did not answer; try again shortly",
                    Duration::from_secs(2),
                );
            }
        };
        let mut api = ApiError::new(kind, error.to_string());
        api.retryable = error.is_retryable();
        api
    }
}

/// `Retry-After` in whole seconds (at least 1), for any error response of the server's.
pub(crate) fn set_retry_after(response: &mut Response, wait: Option<Duration>) {
    if let Some(wait) = wait
        && let Ok(value) = HeaderValue::from_str(&wait.as_secs_f64().ceil().max(1.0).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            Json(ErrorBody {
                error: self.detail(),
            }),
        )
            .into_response();
        set_retry_after(&mut response, self.retry_after);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_named_as_serialized_in_status_order() {
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|kind| kind.as_str()).collect();
        for kind in ErrorKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
        assert!(
            ErrorKind::ALL
                .windows(2)
                .all(|pair| pair[0].status() <= pair[1].status())
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
