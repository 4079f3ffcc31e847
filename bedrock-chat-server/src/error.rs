//! The one mapping from what can go wrong to an HTTP status and a JSON body
//! `{"error": {"message", "kind", "retryable", "request_id", "status"}}`, the same object as
//! the `error` event of a stream, with `Retry-After` set here and nowhere else.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bedrock_chat::{Error, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// A failed request, as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short, stable name for the kind of failure (`throttled`, `not_found`, ...).
    pub kind: &'static str,
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
    /// An error with no request id and no wait.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            retryable: status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
            request_id: None,
            retry_after: None,
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 404, for anything this client may not see.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such conversation; it may have expired or been deleted",
        )
    }

    /// 429 with a wait.
    pub fn too_many(kind: &'static str, message: impl Into<String>, wait: Duration) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, kind, message);
        error.retry_after = Some(wait);
        error
    }

    /// What the client is told: the `error` member of a JSON body, and the data of a stream's
    /// `error` event.
    pub fn detail(&self) -> ErrorDetail<'_> {
        ErrorDetail {
            message: &self.message,
            kind: self.kind,
            retryable: self.retryable,
            request_id: self.request_id.as_deref(),
            status: self.status.as_u16(),
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
    /// A short, stable name for the kind of failure (`rate_limited`, `daily_budget`,
    /// `at_capacity`, `busy`, `not_found`, `throttled`, ...).
    pub kind: &'static str,
    /// Whether sending the same request again later may work.
    pub retryable: bool,
    /// Bedrock's request id, when Bedrock answered.
    pub request_id: Option<&'a str>,
    /// The HTTP status, repeated (a stream's `error` event has no status of its own).
    pub status: u16,
}

impl From<&Error> for ApiError {
    fn from(error: &Error) -> Self {
        let (status, kind) = match error {
            Error::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
            Error::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            Error::ContextWindowExceeded { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "context_window_exceeded")
            }
            Error::BudgetExceeded { .. } => (StatusCode::PAYMENT_REQUIRED, "budget_exceeded"),
            Error::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            Error::QuotaExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
            Error::Timeout { .. } | Error::ModelTimeout { .. } => {
                (StatusCode::GATEWAY_TIMEOUT, "timeout")
            }
            Error::ServiceUnavailable { .. } | Error::ModelNotReady { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Error::AccessDenied { .. } => (StatusCode::BAD_GATEWAY, "access_denied"),
            Error::Credentials { .. } => (StatusCode::BAD_GATEWAY, "credentials"),
            Error::ModelNotFound { .. } | Error::InferenceProfileRequired { .. } => {
                (StatusCode::BAD_GATEWAY, "model_not_found")
            }
            Error::Config { .. } => (StatusCode::BAD_GATEWAY, "configuration"),
            Error::EmptyReply { .. } => (StatusCode::BAD_GATEWAY, "empty_reply"),
            Error::ToolRoundsExceeded { .. } => (StatusCode::BAD_GATEWAY, "tool_rounds_exceeded"),
            Error::StreamInterrupted { source, .. } => {
                let inner = ApiError::from(source.as_ref());
                return ApiError {
                    kind: "stream_interrupted",
                    message: error.to_string(),
                    ..inner
                };
            }
            _ => (StatusCode::BAD_GATEWAY, "bedrock_failed"),
        };
        ApiError {
            status,
            kind,
            message: error.to_string(),
            retryable: error.is_retryable(),
            request_id: error.request_id().map(str::to_string),
            retry_after: error.retry_after().or_else(|| {
                // Throttled after every retry: suggest a pause anyway, as clients honour it.
                (status == StatusCode::TOO_MANY_REQUESTS).then_some(Duration::from_secs(5))
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
        let (status, kind) = match &error {
            StoreError::NotFound => return ApiError::not_found(),
            StoreError::Conflict => (StatusCode::CONFLICT, "conflict"),
            StoreError::Busy => (StatusCode::CONFLICT, "busy"),
            StoreError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            StoreError::Full { .. } => {
                let mut api = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_full",
                    error.to_string(),
                );
                api.retry_after = Some(Duration::from_secs(60));
                return api;
            }
            _ => {
                // The store's own words name where it is (a host, a port, a socket path):
                // they go to the log, never to a client.
                tracing::warn!(%error, "the conversation store failed");
                let mut api = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the conversation store did not answer; try again shortly",
                );
                api.retry_after = Some(Duration::from_secs(2));
                return api;
            }
        };
        let mut api = ApiError::new(status, kind, error.to_string());
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
            self.status,
            Json(ErrorBody {
                error: self.detail(),
            }),
        )
            .into_response();
        set_retry_after(&mut response, self.retry_after);
        response
    }
}
