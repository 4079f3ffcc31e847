//! `BedrockClient`: the [`ModelClient`] for Amazon Bedrock's Converse and ConverseStream APIs.

pub(crate) mod convert;
mod embeddings;
mod errors;
mod reused_home;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_bedrockruntime::config::StalledStreamProtectionConfig;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID;
use futures::stream;

use crate::client::ModelClient;
use crate::error::{Error, Result};
use crate::event_stream::EventStream;
use crate::request::ChatRequest;
use crate::response::ChatResponse;
use crate::settings::{ConnectionSettings, validate_region};
pub use embeddings::{DEFAULT_EMBEDDING_MODEL, TitanEmbedder};
use errors::{CallContext, from_sdk_error};

/// A [`ModelClient`] that talks to Amazon Bedrock through the AWS SDK.
///
/// Cloning is cheap (one reference count) and clones share one connection pool, so one client
/// can serve many sessions at once.
///
/// The SDK's own retries are switched off: a [`ChatSession`](crate::ChatSession)'s
/// [`RetryPolicy`](crate::RetryPolicy) is the only retry layer.
#[derive(Clone)]
pub struct BedrockClient {
    /// All of it behind one reference count, as a `reqwest::Client` is: every session holds a
    /// clone, and with a count per field (the SDK client, the region, the endpoint, the
    /// credentials, the homes) each session made and dropped was five atomic operations on
    /// counts every other session shares, which a server's threads pass back and forth.
    shared: Arc<Shared>,
}

/// What every clone of a client shares.
struct Shared {
    sdk: aws_sdk_bedrockruntime::Client,
    region: Arc<str>,
    /// The SDK's read timeout, which it applies only to the response head; a stream's events
    /// get the same limit on every pause (see [`EventStream::with_idle_timeout`]).
    read_timeout: Option<Duration>,
    /// The endpoint URL the user chose through the builder, if any: failing to reach it is a
    /// setting to fix, not a fault to retry.
    endpoint: Option<Arc<str>>,
    /// The credential chain, when the client was built from a configuration (the SDK client
    /// does not expose its own), for [`check_credentials`](Self::check_credentials).
    credentials: Option<SharedCredentialsProvider>,
    /// Where the SDK's request futures run, shared by clones; see `reused_home`.
    homes: RequestHomes,
    /// The configuration the client was built from, for the other services' clients.
    sdk_config: Option<SdkConfig>,
}

/// The reused homes of each SDK operation's request futures.
#[derive(Default)]
struct RequestHomes {
    converse: reused_home::Homes,
    converse_stream: reused_home::Homes,
}

impl BedrockClient {
    /// Starts building a client from the standard AWS configuration chain.
    pub fn builder() -> BedrockClientBuilder {
        BedrockClientBuilder::default()
    }

    /// A client from the standard AWS configuration chain: environment variables (`AWS_REGION`,
    /// `AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, ...), the shared
    /// config and credentials files, SSO, and container or instance roles.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the chain gives no region, or a malformed one.
    pub async fn from_env() -> Result<Self> {
        Self::builder().build().await
    }

    /// A client from an `SdkConfig` the caller loaded. Its retries are switched off; its timeouts
    /// are kept.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the configuration has no region, or a malformed one.
    pub fn from_sdk_config(config: &SdkConfig) -> Result<Self> {
        let conf = aws_sdk_bedrockruntime::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .build();
        Self::from_sdk_conf(
            conf,
            None,
            config.credentials_provider(),
            Some(config.clone()),
        )
    }

    /// A client wrapping the caller's own SDK client. Its configuration is kept, except that
    /// retries are switched off.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the client has no region, or a malformed one.
    pub fn from_sdk_client(client: &aws_sdk_bedrockruntime::Client) -> Result<Self> {
        let conf = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        Self::from_sdk_conf(conf, None, None, None)
    }

    /// The client for an SDK configuration; `endpoint` is the endpoint URL the user chose, and
    /// `credentials` the chain for [`check_credentials`](Self::check_credentials).
    fn from_sdk_conf(
        conf: aws_sdk_bedrockruntime::Config,
        endpoint: Option<Arc<str>>,
        credentials: Option<SharedCredentialsProvider>,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Self> {
        let region = conf.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::config(
                "no AWS region; set AWS_REGION, choose a region (for the REPL: --region), or set \
                 `region` in your AWS profile",
            )
        })?;
        validate_region(&region)?;
        // The SDK's signer clones the signing region on every request; a region it was given as
        // a `&'static str` clones without allocating.
        let conf = match static_region(&region) {
            Some(name) => conf.to_builder().region(Region::from_static(name)).build(),
            None => conf,
        };
        let read_timeout = conf.timeout_config().and_then(|t| t.read_timeout());
        Ok(BedrockClient {
            shared: Arc::new(Shared {
                sdk: aws_sdk_bedrockruntime::Client::from_conf(conf),
                region: region.into(),
                read_timeout,
                endpoint,
                credentials,
                homes: RequestHomes::default(),
                sdk_config,
            }),
        })
    }

    /// The AWS region requests go to.
    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// Asks the credential chain for credentials now, without calling Bedrock, so a frontend can
    /// report missing credentials before the user has written a first message (the REPL does, in
    /// the background, as it starts).
    ///
    /// This may reach the network: on a machine without credentials in the environment or in the
    /// AWS files, the chain asks the container or instance metadata service, as the first request
    /// would. A client made with [`from_sdk_client`](Self::from_sdk_client) cannot reach its
    /// chain, and one that uses a Bedrock API key needs no credentials: both always pass.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] with the chain's reason when no credentials can be had.
    pub async fn check_credentials(&self) -> Result<()> {
        let Some(provider) = &self.shared.credentials else {
            // Wrapped from the caller's own SDK client, whose chain cannot be reached: the first
            // request will tell.
            return Ok(());
        };
        provider
            .provide_credentials()
            .await
            .map(drop)
            .map_err(|error| Error::Credentials {
                source: Box::new(error),
            })
    }

    fn context<'a>(&'a self, request: &'a ChatRequest) -> CallContext<'a> {
        CallContext {
            model_id: request.model_id(),
            region: &self.shared.region,
            request_id: None,
            endpoint: self.shared.endpoint.as_deref(),
        }
    }
}

/// An SDK fluent builder (`converse()` or `converse_stream()`) with a request's parts. Every
/// setter moves the builder (about 1 KB), so the parts a request does not have (a system
/// prompt, tools, a guardrail, extra model fields: most requests have none) are not set at all.
macro_rules! with_parts {
    ($builder:expr, $model_id:expr, $parts:expr, $guardrail:expr) => {{
        let parts = $parts;
        let mut builder = $builder
            .model_id($model_id)
            .set_messages(Some(parts.messages))
            .set_inference_config(parts.inference);
        if parts.system.is_some() {
            builder = builder.set_system(parts.system);
        }
        if parts.tool_config.is_some() {
            builder = builder.set_tool_config(parts.tool_config);
        }
        if $guardrail.is_some() {
            builder = builder.set_guardrail_config($guardrail);
        }
        if parts.additional_fields.is_some() {
            builder = builder.set_additional_model_request_fields(parts.additional_fields);
        }
        if parts.output_config.is_some() {
            builder = builder.set_output_config(parts.output_config);
        }
        if parts.service_tier.is_some() {
            builder = builder.set_service_tier(parts.service_tier);
        }
        if parts.performance.is_some() {
            builder = builder.set_performance_config(parts.performance);
        }
        builder
    }};
}

impl BedrockClient {
    /// The SDK's Converse call for `request`, ready to send.
    fn converse_call(
        &self,
        request: &ChatRequest,
    ) -> Result<aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder> {
        let parts = convert::to_sdk(request)?;
        let guardrail = request
            .guardrail()
            .map(convert::guardrail_to_sdk)
            .transpose()?;
        Ok(with_parts!(
            self.shared.sdk.converse(),
            request.model_id(),
            parts,
            guardrail
        ))
    }

    /// The SDK's ConverseStream call for `request`, ready to send.
    fn converse_stream_call(
        &self,
        request: &ChatRequest,
    ) -> Result<
        aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder,
    > {
        let parts = convert::to_sdk(request)?;
        let guardrail = request
            .guardrail()
            .map(convert::guardrail_stream_to_sdk)
            .transpose()?;
        Ok(with_parts!(
            self.shared.sdk.converse_stream(),
            request.model_id(),
            parts,
            guardrail
        ))
    }

    /// [`ModelClient::converse`] without the trait's boxed future: a session calls this when its
    /// client is a `BedrockClient` (see [`ModelClient::as_any`]). The SDK's request future runs
    /// in a reused home either way (see `reused_home`).
    pub(crate) async fn converse_direct(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let call = self.converse_call(request)?;
        let output = self.shared.homes.converse.run(|| call.send()).await;
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                return Err(Box::pin(self.advised(from_sdk_error(e, self.context(request)))).await);
            }
        };
        Ok(convert::response_from_sdk(output))
    }

    /// [`ModelClient::converse_stream`] without the trait's boxed future; see
    /// [`converse_direct`](Self::converse_direct).
    pub(crate) async fn converse_stream_direct(
        &self,
        request: &ChatRequest,
    ) -> Result<EventStream> {
        let call = self.converse_stream_call(request)?;
        let output = self.shared.homes.converse_stream.run(|| call.send()).await;
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                return Err(Box::pin(self.advised(from_sdk_error(e, self.context(request)))).await);
            }
        };
        Ok(self.events(output, request))
    }

    /// The reply stream of an opened ConverseStream call, one event at a time.
    fn events(
        &self,
        output: aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput,
        request: &ChatRequest,
    ) -> EventStream {
        let request_id = output.request_id().map(str::to_string);
        let state = StreamState {
            receiver: Some(output.stream),
            model_id: request.model_id().to_string(),
            region: self.shared.region.clone(),
            request_id: request_id.clone(),
            endpoint: self.shared.endpoint.clone(),
            pending: std::collections::VecDeque::new(),
        };
        // One SDK event at a time: each event is handed on as soon as its frame is decoded.
        // `unfold` moves its state in and out for every event, so the state is boxed.
        let events = stream::unfold(Box::new(state), |mut state| async move {
            loop {
                if let Some(event) = state.pending.pop_front() {
                    return Some((Ok(event), state));
                }
                let receiver = state.receiver.as_mut()?;
                match receiver.recv().await {
                    Ok(Some(event)) => {
                        if let Some(trace) = convert::guardrail_trace_event(&event) {
                            state.pending.push_back(trace);
                        }
                        match convert::event_from_sdk(event) {
                            // Most SDK events make exactly one of ours: handed on directly.
                            Some(event) if state.pending.is_empty() => {
                                return Some((Ok(event), state));
                            }
                            Some(event) => state.pending.push_back(event),
                            None => {}
                        }
                    }
                    Ok(None) => return None,
                    Err(err) => {
                        // An error ends the stream; the receiver is dropped with the connection.
                        state.receiver = None;
                        let ctx = CallContext {
                            model_id: &state.model_id,
                            region: &state.region,
                            request_id: state.request_id.as_deref(),
                            endpoint: state.endpoint.as_deref(),
                        };
                        let error = from_sdk_error(err, ctx);
                        return Some((Err(error), state));
                    }
                }
            }
        });
        let events = EventStream::new(events).with_request_id(request_id);
        match self.shared.read_timeout {
            Some(limit) => events.with_idle_timeout(limit),
            None => events,
        }
    }
}

#[async_trait]
impl ModelClient for BedrockClient {
    async fn converse(&self, request: &ChatRequest) -> Result<ChatResponse> {
        self.converse_direct(request).await
    }

    async fn converse_stream(&self, request: &ChatRequest) -> Result<EventStream> {
        self.converse_stream_direct(request).await
    }

    async fn count_tokens(&self, request: &ChatRequest) -> Result<Option<u64>> {
        self.count_input_tokens(request).await.map(Some)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl BedrockClient {
    /// Bedrock's count of the input tokens `request` would be billed (`CountTokens`), without
    /// running the model; free of charge. The count is asked of the foundation model behind an
    /// inference profile (`us.anthropic.x` is counted as `anthropic.x`), as CountTokens takes
    /// model ids only.
    ///
    /// # Errors
    ///
    /// As a turn's: [`Error::InvalidRequest`] for a model that cannot count, throttling,
    /// access and transport errors.
    pub async fn count_input_tokens(&self, request: &ChatRequest) -> Result<u64> {
        use aws_sdk_bedrockruntime::types as sdk;
        let parts = convert::to_sdk(request)?;
        let converse = sdk::ConverseTokensRequest::builder()
            .set_messages(Some(parts.messages))
            .set_system(parts.system)
            .set_tool_config(parts.tool_config)
            .set_additional_model_request_fields(parts.additional_fields)
            .build();
        let model_id = crate::pricing::strip_profile(request.model_id());
        let output = self
            .shared
            .sdk
            .count_tokens()
            .model_id(model_id)
            .input(sdk::CountTokensInput::Converse(converse))
            .send()
            .await
            .map_err(|e| from_sdk_error(e, self.context(request)))?;
        Ok(u64::try_from(output.input_tokens).unwrap_or(0))
    }

    /// `error`, with the profiles that would work when it is a bare id's that needs one and the
    /// region's listing can be read (a cold path: one listing per such error).
    #[cold]
    async fn advised(&self, error: Error) -> Error {
        #[cfg(feature = "models")]
        if let Error::InferenceProfileRequired {
            model_id,
            profiles,
            details,
            source,
        } = error
        {
            let mut profiles = profiles;
            if let Some(config) = self.sdk_config() {
                match crate::models::ModelCatalog::from_sdk_config(config)
                    .list()
                    .await
                {
                    Ok(listing) => {
                        profiles = listing
                            .profiles_for(&model_id)
                            .into_iter()
                            .map(str::to_string)
                            .collect();
                    }
                    Err(listing_error) => {
                        tracing::debug!(%listing_error, "could not list the profiles of a model");
                    }
                }
            }
            return Error::InferenceProfileRequired {
                model_id,
                profiles,
                details,
                source,
            };
        }
        error
    }

    /// The models and inference profiles of the client's region, listed with the same
    /// configuration (region, credentials, endpoint); the standard chain's for a client made
    /// with [`from_sdk_client`](Self::from_sdk_client).
    #[cfg(feature = "models")]
    pub async fn model_catalog(&self) -> crate::models::ModelCatalog {
        match self.sdk_config() {
            Some(config) => crate::models::ModelCatalog::from_sdk_config(config),
            None => crate::models::ModelCatalog::from_env().await,
        }
    }

    /// The AWS configuration the client was built from, for the other Bedrock services a chat
    /// uses (knowledge bases, the model listing): the same region, credentials and endpoint.
    /// `None` for a client made with [`from_sdk_client`](Self::from_sdk_client).
    pub fn sdk_config(&self) -> Option<&SdkConfig> {
        self.shared.sdk_config.as_ref()
    }
}

type Receiver = aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver<
    ConverseStreamOutput,
    aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
>;

struct StreamState {
    receiver: Option<Receiver>,
    model_id: String,
    region: Arc<str>,
    request_id: Option<String>,
    endpoint: Option<Arc<str>>,
    /// Events decoded from one SDK event and not yet handed on.
    pending: std::collections::VecDeque<crate::event_stream::StreamEvent>,
}

/// The public AWS regions, so that a client in one of them can hold its name as a `&'static str`.
/// A region not listed here works the same, at the cost of one small allocation per request.
static AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// `region` as a `&'static str`, when it is a public AWS region.
fn static_region(region: &str) -> Option<&'static str> {
    AWS_REGIONS.iter().copied().find(|&known| known == region)
}

impl fmt::Debug for BedrockClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The SDK client's Debug output is long and holds nothing a caller needs; credentials
        // are never part of it, but keeping it out makes that easy to see.
        f.debug_struct("BedrockClient")
            .field("region", &self.shared.region)
            .field("read_timeout", &self.shared.read_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`BedrockClient`] on the standard AWS configuration chain. Made by
/// [`BedrockClient::builder`], or by [`ChatConfig::client_builder`](crate::ChatConfig::client_builder)
/// with settings from the environment.
///
/// Every setter writes into one [`ConnectionSettings`]; values are checked in
/// [`build`](Self::build).
#[must_use]
#[derive(Default)]
pub struct BedrockClientBuilder {
    settings: ConnectionSettings,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    bearer_token: Option<String>,
    related_endpoint: Option<String>,
}

/// The environment variable the AWS SDK reads a Bedrock API key from.
pub const BEARER_TOKEN_VARIABLE: &str = "AWS_BEARER_TOKEN_BEDROCK";

impl BedrockClientBuilder {
    /// Replaces every connection setting. Default is [`ConnectionSettings::default`].
    pub fn settings(mut self, settings: ConnectionSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets the AWS region, such as `us-east-1`. Default is the chain's (`AWS_REGION`, then the
    /// profile).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.settings.region = Some(region.into());
        self
    }

    /// Sets the AWS profile to take settings and credentials from. Default is the chain's
    /// (`AWS_PROFILE`, then `default`).
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.settings.profile = Some(profile.into());
        self
    }

    /// Sets the Bedrock runtime endpoint, such as a VPC endpoint or a local test server. Default
    /// is `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` if set, else Bedrock's regional endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.settings.endpoint_url = Some(url.into());
        self
    }

    /// Sets the endpoint of the other Bedrock services a chat may use through this client's
    /// configuration: the agent runtime (a `KnowledgeBase`'s searches, with the `knowledge-bases` feature)
    /// and the control plane (the model listing), for a server that answers for all of them (a
    /// local fake, a proxy). Default is each service's own endpoint, or its
    /// `AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME` / `AWS_ENDPOINT_URL_BEDROCK` variable.
    pub fn related_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.related_endpoint = Some(url.into());
        self
    }

    /// Sets how long opening a connection may take. Default is 10 seconds
    /// ([`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT)).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Sets how long each read may wait: until a whole reply arrives, and between two parts of a
    /// streamed reply. It never limits the length of a whole streamed reply. Default is 300
    /// seconds ([`DEFAULT_READ_TIMEOUT`](crate::DEFAULT_READ_TIMEOUT)).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.settings.read_timeout = timeout;
        self
    }

    /// Sets where credentials come from. Default is the chain's (environment, profile, SSO,
    /// container or instance role).
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.credentials =
            Some(aws_credential_types::provider::SharedCredentialsProvider::new(provider));
        self
    }

    /// Authenticates with a Bedrock API key (`Authorization: Bearer …`) instead of signing
    /// requests with AWS credentials. Default is the `AWS_BEARER_TOKEN_BEDROCK` environment
    /// variable when set (the AWS SDK reads it), else AWS credentials. The key never appears in
    /// `Debug` output, logs or errors.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Loads the AWS configuration and builds the client.
    ///
    /// Credentials are resolved at the first request, not here; a missing region or a malformed
    /// endpoint URL fails here.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a setting out of range (see [`ConnectionSettings::validate`]) or no
    /// region anywhere in the chain.
    pub async fn build(self) -> Result<BedrockClient> {
        self.settings.validate()?;
        let settings = self.settings;
        let endpoint: Option<Arc<str>> = settings.endpoint_url.as_deref().map(Arc::from);
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = settings.region {
            loader = loader.region(Region::new(region));
        }
        if let Some(profile) = settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(credentials) = self.credentials {
            loader = loader.credentials_provider(credentials);
        }
        let sdk_config = loader.load().await;
        // The endpoint is the runtime's alone: a VPC endpoint of bedrock-runtime does not serve
        // the agent runtime (knowledge bases) or the control plane (model listings), which keep
        // their own (or `related_endpoint_url`'s).
        let mut conf = aws_sdk_bedrockruntime::config::Builder::from(&sdk_config);
        if let Some(url) = settings.endpoint_url {
            conf = conf.endpoint_url(url);
        }
        let conf = conf
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.connect_timeout)
                    .read_timeout(settings.read_timeout)
                    .build(),
            )
            // The SDK's read timeout covers the wait for the response head only. Stalled-stream
            // protection measures throughput, so a stream that sends a small frame now and then
            // passes it however long its pauses are; the per-pause limit is
            // `EventStream::with_idle_timeout`, set from the same read timeout.
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .grace_period(settings.read_timeout)
                    .build(),
            );
        let uses_bearer = self.bearer_token.is_some()
            || std::env::var_os(BEARER_TOKEN_VARIABLE).is_some_and(|v| !v.is_empty());
        let conf = match self.bearer_token {
            Some(token) => conf
                .bearer_token(aws_sdk_bedrockruntime::config::Token::new(token, None))
                .auth_scheme_preference([HTTP_BEARER_AUTH_SCHEME_ID]),
            None => conf,
        };
        // With an API key no AWS credentials are needed, so there are none to check.
        let credentials = if uses_bearer {
            None
        } else {
            sdk_config.credentials_provider()
        };
        let sdk_config = match self.related_endpoint {
            Some(url) => sdk_config.into_builder().endpoint_url(url).build(),
            None => sdk_config,
        };
        BedrockClient::from_sdk_conf(conf.build(), endpoint, credentials, Some(sdk_config))
    }
}

impl fmt::Debug for BedrockClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BedrockClientBuilder")
            .field("settings", &self.settings)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "** redacted **"),
            )
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_debug_redacts_credentials() {
        let builder =
            BedrockClient::builder().credentials_provider(aws_credential_types::Credentials::new(
                "AKIDSENTINEL",
                "SECRETSENTINEL",
                None,
                None,
                "t",
            ));
        let debug = format!("{builder:?}");
        assert!(!debug.contains("SENTINEL"), "{debug}");
    }

    fn client_in(region: &str) -> BedrockClient {
        let config = SdkConfig::builder()
            .region(Region::new(region.to_string()))
            .behavior_version(BehaviorVersion::latest())
            .build();
        BedrockClient::from_sdk_config(&config).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_public_region_is_held_without_allocating_and_any_other_is_kept_as_given() {
        assert_eq!(static_region("eu-west-3"), Some("eu-west-3"));
        assert_eq!(static_region("xx-nowhere-9"), None);
        let sdk_region = |client: &BedrockClient| {
            let region = client
                .shared
                .sdk
                .config()
                .region()
                .map(|r| r.as_ref().as_ptr());
            region.unwrap_or_else(|| panic!("the SDK client has no region"))
        };
        // The SDK's own region is the listed name itself, not a copy of the caller's string.
        let public = client_in("us-west-2");
        assert_eq!(public.region(), "us-west-2");
        let listed = static_region("us-west-2").unwrap_or_else(|| unreachable!());
        assert_eq!(sdk_region(&public), listed.as_ptr());
        let other = client_in("xx-nowhere-9");
        assert_eq!(other.region(), "xx-nowhere-9");
        assert_eq!(
            other
                .shared
                .sdk
                .config()
                .region()
                .map(|r| r.as_ref().to_string()),
            Some("xx-nowhere-9".to_string())
        );
    }
}
