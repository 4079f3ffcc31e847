//! Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, which the
//! `openai` SDKs raise as their own exceptions. The status, the kind (as `code`) and
//! `Retry-After` are the server's one mapping ([`ApiError`]); only the body's shape differs.

use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// A failed `/v1` request.
#[derive(Debug)]
pub struct OpenAiError {
    api: ApiError,
    /// The request field at fault, when one is.
    param: Option<&'static str>,
}

/// An error in OpenAI's shape.
#[derive(Serialize, ToSchema)]
#[schema(as = OpenAiErrorBody)]
pub(crate) struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OpenAiErrorDetail)]
pub(crate) struct Detail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'static str>,
    code: &'static str,
}

impl OpenAiError {
    /// 400 for `param`.
    pub(super) fn invalid(message: impl Into<String>, param: &'static str) -> Self {
        OpenAiError {
            api: ApiError::bad_request(message),
            param: Some(param),
        }
    }

    /// `error` about `param`.
    pub(super) fn about(api: ApiError, param: &'static str) -> Self {
        OpenAiError {
            api,
            param: Some(param),
        }
    }

    /// The server's own error.
    pub(super) fn api(&self) -> &ApiError {
        &self.api
    }

    /// OpenAI's error type for the status, which its clients map to exception classes.
    fn error_type(&self) -> &'static str {
        match self.api.status().as_u16() {
            400 | 413 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            _ => "api_error",
        }
    }

    /// The body, also sent as the last chunk of a stream that failed.
    pub(super) fn body(&self) -> String {
        serde_json::to_string(&Body {
            error: Detail {
                message: &self.api.message,
                kind: self.error_type(),
                param: self.param,
                code: self.api.kind.as_str(),
            },
        })
        .unwrap_or_default()
    }
}

impl<E: Into<ApiError>> From<E> for OpenAiError {
    fn from(error: E) -> Self {
        OpenAiError {
            api: error.into(),
            param: None,
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (
            self.api.status(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        crate::error::set_retry_after(&mut response, self.api.retry_after);
        response
    }
}
