//! Every Bedrock error, through the real SDK, becomes the right `Error`.

use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use bedrock_chat::testing::{FakeError, FakeReply};
use bedrock_chat::{BedrockClient, ChatSession, Error, RetryPolicy};

use crate::support::Harness;

/// A fake error, a check that it became the right variant, and whether it is retryable.
type Case = (FakeError, fn(&Error) -> bool, bool);

fn cases() -> Vec<Case> {
    vec![
        (FakeError::Throttling, |e| matches!(e, Error::Throttled { .. }), true),
        (FakeError::ModelNotReady, |e| matches!(e, Error::ModelNotReady { .. }), true),
        (FakeError::ServiceUnavailable, |e| matches!(e, Error::ServiceUnavailable { .. }), true),
        (FakeError::InternalServer, |e| matches!(e, Error::InternalServer { .. }), true),
        (FakeError::ModelTimeout, |e| matches!(e, Error::ModelTimeout { .. }), true),
        (FakeError::ModelError, |e| matches!(e, Error::ModelFailed { .. }), false),
        (
            FakeError::Validation("The content field in the Message object at messages.1 is empty.".into()),
            |e| matches!(e, Error::InvalidRequest { .. }),
            false,
        ),
        (
            FakeError::Validation(
                "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.".into(),
            ),
            |e| matches!(e, Error::InferenceProfileRequired { .. }),
            false,
        ),
        (FakeError::AccessDenied, |e| matches!(e, Error::AccessDenied { .. }), false),
        (FakeError::ResourceNotFound, |e| matches!(e, Error::ModelNotFound { .. }), false),
        (FakeError::ServiceQuotaExceeded, |e| matches!(e, Error::QuotaExceeded { .. }), false),
    ]
}

#[tokio::test]
async fn every_error_response_maps_to_its_kind_for_both_calls() {
    for streaming in [false, true] {
        for (fake_error, is_kind, retryable) in cases() {
            let h = Harness::start().await;
            h.fake.push(FakeReply::error(fake_error.clone()));
            let mut session = h.session_without_retries().await;
            let error = if streaming {
                session.send_streaming("hi").await.err().unwrap()
            } else {
                session.send("hi").await.unwrap_err()
            };
            let what = format!("{fake_error:?} (streaming: {streaming})");
            assert!(is_kind(&error), "{what} became {error:?}");
            assert_eq!(error.is_retryable(), retryable, "{what}");
            assert!(error.request_id().is_some(), "{what} lost the request id");
            assert_eq!(
                error.service_message(),
                Some(fake_error.message().as_str()),
                "{what}"
            );
            assert!(
                std::error::Error::source(&error).is_some(),
                "{what} lost its source"
            );
            assert!(session.history().is_empty());
        }
    }
}

#[tokio::test]
async fn access_denied_names_the_model_and_region_and_says_to_enable_access() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::error(FakeError::AccessDenied));
    let mut session = h.session_without_retries().await;
    let text = session.send("hi").await.unwrap_err().to_string();
    assert!(
        text.contains("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        "{text}"
    );
    assert!(text.contains("us-east-1"), "{text}");
    assert!(text.contains("Model access"), "{text}");
}

#[tokio::test]
async fn a_dropped_connection_is_a_retryable_transport_error() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::drop_connection());
    let mut session = h.session_without_retries().await;
    let error = session.send("hi").await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_garbled_response_body_is_reported_with_its_status_and_retried() {
    let h = Harness::start().await;
    h.fake.push(
        FakeReply::text("whole").fault_after(0, bedrock_chat::testing::StreamFault::CorruptFrame),
    );
    let mut session = h.session_without_retries().await;
    let error = session.send("hi").await.unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedResponse { status: 200, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_reply_slower_than_the_read_timeout_is_a_timeout() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("late").delay(Duration::from_secs(5)));
    let mut session = h
        .session_with_read_timeout(Duration::from_millis(200))
        .await;
    let error = session.send("hi").await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn nothing_listening_at_a_chosen_endpoint_is_named_at_once() {
    let client = BedrockClient::builder()
        .region("us-east-1")
        .endpoint_url("http://127.0.0.1:9") // the discard port: nothing listens there
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .build()
        .await
        .unwrap();
    let mut session = ChatSession::builder(client)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let error = session.send("hi").await.unwrap_err();
    // An endpoint the user set that refuses connections is a setting to fix, not a fault that
    // may pass: reported at once, naming it.
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains("http://127.0.0.1:9") && text.contains("connection refused"),
        "{text}"
    );
}

#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no providers in chain provided credentials",
        )))
    }
}

#[tokio::test]
async fn missing_credentials_fail_at_once_with_how_to_provide_them() {
    let h = Harness::start().await;
    let client = BedrockClient::builder()
        .region("us-east-1")
        .endpoint_url(h.fake.endpoint_url())
        .credentials_provider(NoCredentials)
        .build()
        .await
        .unwrap();
    let mut session = ChatSession::builder(client).build().unwrap(); // default retries
    let error = session.send("hi").await.unwrap_err();
    assert!(matches!(error, Error::Credentials { .. }), "{error:?}");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("AWS_ACCESS_KEY_ID"), "{error}");
    assert_eq!(h.fake.request_count(), 0);
}

#[tokio::test]
async fn credentials_can_be_checked_before_the_first_message_without_calling_bedrock() {
    let h = Harness::start().await;
    let missing = BedrockClient::builder()
        .region("us-east-1")
        .endpoint_url(h.fake.endpoint_url())
        .credentials_provider(NoCredentials)
        .build()
        .await
        .unwrap();
    let error = missing.check_credentials().await.unwrap_err();
    assert!(matches!(error, Error::Credentials { .. }), "{error:?}");
    assert!(error.to_string().contains("AWS_PROFILE"), "{error}");

    let present = h.fake.client().await.unwrap();
    present.check_credentials().await.unwrap();
    assert_eq!(h.fake.request_count(), 0, "the check called Bedrock");
}

#[tokio::test]
async fn a_client_without_a_region_is_refused_at_build_time() {
    let sdk = aws_sdk_config_without_region();
    let error = BedrockClient::from_sdk_config(&sdk).unwrap_err();
    assert!(error.to_string().contains("AWS_REGION"), "{error}");
}

fn aws_sdk_config_without_region() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

#[tokio::test]
async fn bad_endpoint_urls_and_regions_are_refused_before_any_request() {
    let error = BedrockClient::builder()
        .region("us-east-1")
        .endpoint_url("not a url")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    let error = BedrockClient::builder()
        .region("Moon Base 1")
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not an AWS region"), "{error}");
}

#[tokio::test]
async fn a_bedrock_api_key_authenticates_with_a_bearer_token_that_is_never_shown() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::text("Hi."));
    let builder = BedrockClient::builder()
        .region("us-east-1")
        .endpoint_url(h.fake.endpoint_url())
        .credentials_provider(NoCredentials)
        .bearer_token("BEDROCKAPIKEYSENTINEL");
    assert!(!format!("{builder:?}").contains("SENTINEL"), "{builder:?}");
    let client = builder.build().await.unwrap();
    // No AWS credentials are needed (the provider above has none), so none are checked.
    client.check_credentials().await.unwrap();
    let mut session = ChatSession::builder(client).build().unwrap();
    assert!(!format!("{session:?}").contains("SENTINEL"));
    session.send("hi").await.unwrap();
    let request = &h.fake.requests()[0];
    assert_eq!(request.authorization_scheme.as_deref(), Some("Bearer"));
    assert!(!request.signed, "an API key request is not SigV4-signed");
}
