//! Turning AWS SDK errors into the crate's [`Error`], in one place.
//!
//! The SDK error is kept as the source of every error made here, so nothing it said is lost.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::event_stream::RawMessage;

use crate::error::{Error, ServiceDetails};

/// What the failed call was about, for messages that name the model and the region.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallContext<'a> {
    pub(crate) model_id: &'a str,
    pub(crate) region: &'a str,
    /// The request id of the call, when the error itself does not carry one (stream errors).
    pub(crate) request_id: Option<&'a str>,
    /// The endpoint URL the user chose, if they chose one (not Bedrock's regional endpoint).
    pub(crate) endpoint: Option<&'a str>,
}

/// The Bedrock error code of an SDK operation error, such as `ThrottlingException`.
///
/// Errors inside an event stream carry their type in a frame header (`throttlingException`) and
/// no code in their metadata, so the variant is matched first and the metadata is the fallback.
pub(crate) trait ServiceCode: ProvideErrorMetadata {
    fn service_code(&self) -> Option<&str>;
}

impl ServiceCode for ConverseError {
    fn service_code(&self) -> Option<&str> {
        Some(match self {
            ConverseError::AccessDeniedException(_) => "AccessDeniedException",
            ConverseError::InternalServerException(_) => "InternalServerException",
            ConverseError::ModelErrorException(_) => "ModelErrorException",
            ConverseError::ModelNotReadyException(_) => "ModelNotReadyException",
            ConverseError::ModelTimeoutException(_) => "ModelTimeoutException",
            ConverseError::ResourceNotFoundException(_) => "ResourceNotFoundException",
            ConverseError::ServiceUnavailableException(_) => "ServiceUnavailableException",
            ConverseError::ThrottlingException(_) => "ThrottlingException",
            ConverseError::ValidationException(_) => "ValidationException",
            other => return other.code(),
        })
    }
}

impl ServiceCode for ConverseStreamError {
    fn service_code(&self) -> Option<&str> {
        Some(match self {
            ConverseStreamError::AccessDeniedException(_) => "AccessDeniedException",
            ConverseStreamError::InternalServerException(_) => "InternalServerException",
            ConverseStreamError::ModelErrorException(_) => "ModelErrorException",
            ConverseStreamError::ModelNotReadyException(_) => "ModelNotReadyException",
            ConverseStreamError::ModelStreamErrorException(_) => "ModelStreamErrorException",
            ConverseStreamError::ModelTimeoutException(_) => "ModelTimeoutException",
            ConverseStreamError::ResourceNotFoundException(_) => "ResourceNotFoundException",
            ConverseStreamError::ServiceUnavailableException(_) => "ServiceUnavailableException",
            ConverseStreamError::ThrottlingException(_) => "ThrottlingException",
            ConverseStreamError::ValidationException(_) => "ValidationException",
            other => return other.code(),
        })
    }
}

impl ServiceCode for aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError {
    fn service_code(&self) -> Option<&str> {
        use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError as E;
        Some(match self {
            E::AccessDeniedException(_) => "AccessDeniedException",
            E::InternalServerException(_) => "InternalServerException",
            E::ModelErrorException(_) => "ModelErrorException",
            E::ModelNotReadyException(_) => "ModelNotReadyException",
            E::ModelTimeoutException(_) => "ModelTimeoutException",
            E::ResourceNotFoundException(_) => "ResourceNotFoundException",
            E::ServiceQuotaExceededException(_) => "ServiceQuotaExceededException",
            E::ServiceUnavailableException(_) => "ServiceUnavailableException",
            E::ThrottlingException(_) => "ThrottlingException",
            E::ValidationException(_) => "ValidationException",
            other => return other.code(),
        })
    }
}

impl ServiceCode for aws_sdk_bedrockruntime::operation::count_tokens::CountTokensError {
    fn service_code(&self) -> Option<&str> {
        use aws_sdk_bedrockruntime::operation::count_tokens::CountTokensError as E;
        Some(match self {
            E::AccessDeniedException(_) => "AccessDeniedException",
            E::InternalServerException(_) => "InternalServerException",
            E::ResourceNotFoundException(_) => "ResourceNotFoundException",
            E::ServiceUnavailableException(_) => "ServiceUnavailableException",
            E::ThrottlingException(_) => "ThrottlingException",
            E::ValidationException(_) => "ValidationException",
            other => return other.code(),
        })
    }
}

impl ServiceCode for ConverseStreamOutputError {
    fn service_code(&self) -> Option<&str> {
        Some(match self {
            ConverseStreamOutputError::InternalServerException(_) => "InternalServerException",
            ConverseStreamOutputError::ModelStreamErrorException(_) => "ModelStreamErrorException",
            ConverseStreamOutputError::ServiceUnavailableException(_) => {
                "ServiceUnavailableException"
            }
            ConverseStreamOutputError::ThrottlingException(_) => "ThrottlingException",
            ConverseStreamOutputError::ValidationException(_) => "ValidationException",
            other => return other.code(),
        })
    }
}

/// The raw response of a failed call, as far as error mapping needs it.
pub(crate) trait RawResponse {
    /// The `Retry-After` header, in seconds, if there is one.
    fn retry_after(&self) -> Option<Duration>;
    /// The HTTP status and content type, when the failure came over HTTP.
    fn status_and_type(&self) -> Option<(u16, Option<String>)>;
}

impl RawResponse for HttpResponse {
    fn status_and_type(&self) -> Option<(u16, Option<String>)> {
        let content_type = self
            .headers()
            .get("content-type")
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_string());
        Some((self.status().as_u16(), content_type))
    }

    fn retry_after(&self) -> Option<Duration> {
        let value = self.headers().get("retry-after")?;
        let seconds: f64 = value.trim().parse().ok()?;
        (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(3600.0)))
    }
}

/// Errors inside an event stream arrive as frames, which carry no `Retry-After`.
impl RawResponse for RawMessage {
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    fn status_and_type(&self) -> Option<(u16, Option<String>)> {
        None
    }
}

/// Maps any SDK error of the Converse family to an [`Error`].
#[cold]
pub(crate) fn from_sdk_error<E, R>(err: SdkError<E, R>, ctx: CallContext<'_>) -> Error
where
    E: ServiceCode + RequestId + StdError + Send + Sync + 'static,
    R: RawResponse + Debug + Send + Sync + 'static,
{
    // Missing credentials surface as a dispatch failure, which would otherwise be classified as
    // a transient connection problem and retried for a minute before the user learns the cause.
    if has_cause::<CredentialsError>(&err) {
        return Error::Credentials {
            source: Box::new(err),
        };
    }
    match &err {
        // A response the SDK could not parse (a truncated or garbled body) has neither a code nor
        // a message: it is a transport problem, not something Bedrock said.
        SdkError::ServiceError(service)
            if service.err().service_code().is_none() && service.err().message().is_none() =>
        {
            unexpected_response(service.raw().status_and_type(), err)
        }
        SdkError::ResponseError(response) => {
            unexpected_response(response.raw().status_and_type(), err)
        }
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.service_code().map(str::to_string);
            let details = ServiceDetails::new(
                inner.message().unwrap_or_default(),
                inner.request_id().or(ctx.request_id).map(str::to_string),
            )
            .with_retry_after(service.raw().retry_after());
            from_code(code, details, ctx, Box::new(err))
        }
        SdkError::TimeoutError(_) => Error::Timeout {
            source: Box::new(err),
        },
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Error::Timeout {
            source: Box::new(err),
        },
        SdkError::ConstructionFailure(_) => Error::Config {
            message: "the request could not be built; check the region and the endpoint URL"
                .to_string(),
            source: Some(Box::new(err)),
        },
        // An endpoint the user set that refuses connections or does not resolve is a mistake in
        // the setting, not a passing fault: say so at once, naming it, instead of retrying for a
        // minute. (Bedrock's own regional endpoints are retried: there a failure may pass.)
        SdkError::DispatchFailure(_)
            if ctx.endpoint.is_some()
                && (is_connection_refusal(&err) || is_name_resolution_failure(&err)) =>
        {
            let cause = if is_connection_refusal(&err) {
                "connection refused"
            } else {
                "its host name does not resolve"
            };
            Error::Config {
                message: format!(
                    "cannot reach the Bedrock endpoint {} ({cause}); check the endpoint URL \
                     (--endpoint-url, AWS_ENDPOINT_URL_BEDROCK_RUNTIME) and that the server is running",
                    ctx.endpoint.unwrap_or_default()
                ),
                source: Some(Box::new(err)),
            }
        }
        // A host name that does not resolve is almost always a region that does not exist (or
        // a mistyped endpoint): retrying for a minute would only delay saying so.
        SdkError::DispatchFailure(_) if is_name_resolution_failure(&err) => Error::Config {
            message: format!(
                "cannot find the Bedrock endpoint for region {}: check the region name (such as \
                 us-east-1), the endpoint URL, and your network's DNS",
                ctx.region
            ),
            source: Some(Box::new(err)),
        },
        // Connection failures, dropped connections and garbled or truncated responses.
        _ => Error::Transport {
            source: Box::new(err),
        },
    }
}

/// A response that was not Bedrock's: named by its status when it came over HTTP, else (a frame
/// inside a stream) a transport problem.
fn unexpected_response(
    status: Option<(u16, Option<String>)>,
    err: impl StdError + Send + Sync + 'static,
) -> Error {
    match status {
        Some((status, content_type)) => Error::UnexpectedResponse {
            status,
            content_type,
            source: Box::new(err),
        },
        None => Error::Transport {
            source: Box::new(err),
        },
    }
}

/// Maps a Bedrock error code (as the SDK reports it) to an [`Error`].
pub(crate) fn from_code(
    code: Option<String>,
    details: ServiceDetails,
    ctx: CallContext<'_>,
    source: crate::error::BoxError,
) -> Error {
    let model_id: Box<str> = ctx.model_id.into();
    let region: Box<str> = ctx.region.into();
    match code.as_deref().unwrap_or_default() {
        "ThrottlingException" => Error::Throttled { details, source },
        "ModelNotReadyException" => Error::ModelNotReady { details, source },
        "ServiceUnavailableException" => Error::ServiceUnavailable { details, source },
        "InternalServerException" => Error::InternalServer { details, source },
        "ModelTimeoutException" => Error::ModelTimeout { details, source },
        "ModelStreamErrorException" => Error::ModelStreamError { details, source },
        "ModelErrorException" => Error::ModelFailed { details, source },
        "AccessDeniedException" => Error::AccessDenied {
            model_id,
            region,
            details,
            source,
        },
        "ResourceNotFoundException" => Error::ModelNotFound {
            model_id,
            region,
            details,
            source,
        },
        "ServiceQuotaExceededException" => Error::QuotaExceeded { details, source },
        "ValidationException" => {
            let message = details.message.to_ascii_lowercase();
            if is_context_overflow_message(&message) {
                Error::ContextWindowExceeded {
                    details,
                    source: Some(source),
                }
            } else if message.contains("on-demand throughput")
                || message.contains("inference profile")
            {
                Error::InferenceProfileRequired {
                    model_id,
                    profiles: Vec::new(),
                    details,
                    source,
                }
            } else if message.contains("model identifier is invalid") {
                // Bedrock answers an unknown model id with a 400, not a 404.
                Error::ModelNotFound {
                    model_id,
                    region,
                    details,
                    source,
                }
            } else {
                Error::InvalidRequest { details, source }
            }
        }
        _ => Error::Service {
            code,
            details,
            source,
        },
    }
}

/// Bedrock's ways of saying the input is too long for the model (lower-cased).
fn is_context_overflow_message(message: &str) -> bool {
    [
        "too long",
        "context window",
        "context length",
        "context limit",
        "exceed context",
        "too many tokens",
        "too many input tokens",
    ]
    .iter()
    .any(|pattern| message.contains(pattern))
}

/// True when the error chain says a host name could not be resolved.
fn is_name_resolution_failure(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        current = e.source();
    }
    false
}

/// True when the connection was refused (nothing listens at the address).
fn is_connection_refusal(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        if e.to_string()
            .to_ascii_lowercase()
            .contains("connection refused")
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// True when an error of type `T` is anywhere in the source chain of `err`.
fn has_cause<T: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: CallContext<'static> = CallContext {
        model_id: "global.anthropic.claude-sonnet-4-6",
        region: "us-west-2",
        request_id: None,
        endpoint: None,
    };

    fn map(code: &str, message: &str) -> Error {
        from_code(
            Some(code.to_string()),
            ServiceDetails::new(message, Some("req-1".into())),
            CTX,
            "sdk error".into(),
        )
    }

    type Case = (&'static str, fn(&Error) -> bool, bool);

    #[test]
    fn each_bedrock_code_maps_to_its_kind() {
        let cases: &[Case] = &[
            (
                "ThrottlingException",
                |e| matches!(e, Error::Throttled { .. }),
                true,
            ),
            (
                "ModelNotReadyException",
                |e| matches!(e, Error::ModelNotReady { .. }),
                true,
            ),
            (
                "ServiceUnavailableException",
                |e| matches!(e, Error::ServiceUnavailable { .. }),
                true,
            ),
            (
                "InternalServerException",
                |e| matches!(e, Error::InternalServer { .. }),
                true,
            ),
            (
                "ModelTimeoutException",
                |e| matches!(e, Error::ModelTimeout { .. }),
                true,
            ),
            (
                "ModelStreamErrorException",
                |e| matches!(e, Error::ModelStreamError { .. }),
                true,
            ),
            (
                "ModelErrorException",
                |e| matches!(e, Error::ModelFailed { .. }),
                false,
            ),
            (
                "ValidationException",
                |e| matches!(e, Error::InvalidRequest { .. }),
                false,
            ),
            (
                "AccessDeniedException",
                |e| matches!(e, Error::AccessDenied { .. }),
                false,
            ),
            (
                "ResourceNotFoundException",
                |e| matches!(e, Error::ModelNotFound { .. }),
                false,
            ),
            (
                "ServiceQuotaExceededException",
                |e| matches!(e, Error::QuotaExceeded { .. }),
                false,
            ),
            (
                "SomethingNewException",
                |e| matches!(e, Error::Service { .. }),
                false,
            ),
        ];
        for (code, is_kind, retryable) in cases {
            let err = map(code, "msg");
            assert!(is_kind(&err), "{code} mapped to {err:?}");
            assert_eq!(err.is_retryable(), *retryable, "{code}");
            assert_eq!(err.request_id(), Some("req-1"), "{code}");
            assert!(err.source().is_some(), "{code} lost its source");
        }
    }

    #[test]
    fn bare_model_ids_are_told_to_use_an_inference_profile() {
        let err = map(
            "ValidationException",
            "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
        );
        assert!(
            matches!(err, Error::InferenceProfileRequired { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("`global."), "{err}");
    }

    #[test]
    fn too_long_inputs_are_context_overflows() {
        for message in [
            "Input is too long for requested model.",
            "prompt is too long: 210432 tokens > 200000 maximum",
            "The model returned the following errors: input length and `max_tokens` exceed context limit: 197000 + 8192 > 200000",
        ] {
            let err = map("ValidationException", message);
            assert!(err.is_context_overflow(), "{message}: {err:?}");
            assert!(err.to_string().contains("/clear"), "{err}");
        }
        assert!(!map("ValidationException", "messages.1 is empty").is_context_overflow());
    }

    #[test]
    fn invalid_model_identifiers_are_model_not_found() {
        let err = map(
            "ValidationException",
            "The provided model identifier is invalid.",
        );
        assert!(matches!(err, Error::ModelNotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("us-west-2"), "{err}");
    }

    #[test]
    fn unresolvable_hosts_are_recognised_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("io error")]
        struct Outer(#[source] std::io::Error);
        let dns = Outer(std::io::Error::other(
            "dns error: failed to lookup address information: Name or service not known",
        ));
        assert!(is_name_resolution_failure(&dns));
        assert!(!is_name_resolution_failure(&Outer(std::io::Error::other(
            "connection refused"
        ))));
    }

    #[test]
    fn credentials_errors_are_found_anywhere_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] CredentialsError);
        let inner = CredentialsError::not_loaded("no providers in chain provided credentials");
        assert!(has_cause::<CredentialsError>(&Outer(inner)));
        assert!(!has_cause::<CredentialsError>(&std::fmt::Error));
    }
}
