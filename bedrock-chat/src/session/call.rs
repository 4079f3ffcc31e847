//! One request to the model, as the turn engine makes it: straight to the library's own
//! [`BedrockClient`] when that is the session's client, through the [`ModelClient`] trait
//! otherwise.
//!
//! Whether the client is a `BedrockClient` is asked once, when a session is built
//! ([`SessionClient`]); the stateless calls ask on each call ([`Route::of`]). Through the trait,
//! every request is a boxed future and a dynamic call around the client's own work; called
//! directly, neither (callgrind: a streamed turn 1,688k instructions before, 1,674k after,
//! against the bare SDK's 1,632k). The SDK's own request future (about 8 KB) still runs in the
//! client's reused heap home, not inside the turn's future: inline, it makes a turn's future too
//! deeply nested for rustc's default query depth, and an application awaiting a turn a few
//! functions down (the REPL, the benchmarks) would fail to compile until it raised
//! `recursion_limit`.

use std::sync::Arc;

use crate::bedrock::BedrockClient;
use crate::client::ModelClient;
use crate::error::Result;
use crate::event_stream::EventStream;
use crate::request::ChatRequest;
use crate::response::ChatResponse;

/// A session's client, as the session keeps it: the library's own `BedrockClient` as itself, any
/// other behind the trait. Found once, when the session is built: asking on every request was a
/// dynamic call and a type check each time, and keeping the `BedrockClient` as itself spares
/// each session an allocation (the `Arc` that would wrap it) and a second reference count.
#[derive(Clone)]
pub(super) enum SessionClient {
    Bedrock(BedrockClient),
    Other(Arc<dyn ModelClient>),
}

impl SessionClient {
    /// `client` as a session keeps it: a `BedrockClient` (also one behind an `Arc`) as a clone
    /// of itself, any other client moved into an `Arc`.
    pub(super) fn new(client: impl ModelClient + 'static) -> Self {
        match bedrock(&client) {
            Some(bedrock) => SessionClient::Bedrock(bedrock.clone()),
            None => SessionClient::Other(Arc::new(client)),
        }
    }

    /// Where this client's requests go.
    pub(super) fn route(&self) -> Route<'_> {
        match self {
            SessionClient::Bedrock(bedrock) => Route::Bedrock(bedrock),
            SessionClient::Other(client) => Route::Other(client.as_ref()),
        }
    }
}

/// Where a request goes: straight to the library's Bedrock client, or through the trait.
#[derive(Clone, Copy)]
pub(super) enum Route<'a> {
    Bedrock(&'a BedrockClient),
    Other(&'a dyn ModelClient),
}

impl<'a> Route<'a> {
    /// The route for `client`, found by asking it (a dynamic call) whether it is a
    /// `BedrockClient`. A session asks once, when it is built (see [`SessionClient`]).
    pub(super) fn of(client: &'a dyn ModelClient) -> Self {
        match bedrock(client) {
            Some(bedrock) => Route::Bedrock(bedrock),
            None => Route::Other(client),
        }
    }

    /// Sends the request and waits for the whole reply.
    pub(super) async fn converse(self, request: &ChatRequest) -> Result<ChatResponse> {
        match self {
            Route::Bedrock(bedrock) => bedrock.converse_direct(request).await,
            Route::Other(client) => client.converse(request).await,
        }
    }

    /// Sends the request and returns the reply as a stream of events.
    pub(super) async fn converse_stream(self, request: &ChatRequest) -> Result<EventStream> {
        match self {
            Route::Bedrock(bedrock) => bedrock.converse_stream_direct(request).await,
            Route::Other(client) => client.converse_stream(request).await,
        }
    }

    /// The exact input-token count of the request, if the client can count.
    pub(super) async fn count_tokens(self, request: &ChatRequest) -> Result<Option<u64>> {
        match self {
            Route::Bedrock(bedrock) => bedrock.count_input_tokens(request).await.map(Some),
            Route::Other(client) => client.count_tokens(request).await,
        }
    }
}

/// The client as the library's Bedrock client, if it is one (also behind an `Arc`).
pub(super) fn bedrock(client: &dyn ModelClient) -> Option<&BedrockClient> {
    client.as_any()?.downcast_ref()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn bedrock_client() -> BedrockClient {
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        BedrockClient::from_sdk_config(&config).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_bedrock_client_is_called_directly_also_behind_an_arc() {
        let client = bedrock_client();
        assert!(bedrock(&client).is_some());
        assert!(bedrock(&Arc::new(client.clone())).is_some());
        let shared: Arc<dyn ModelClient> = Arc::new(client);
        assert!(bedrock(&shared).is_some());
    }

    #[cfg(feature = "testing")]
    #[test]
    fn any_other_client_goes_through_the_trait() {
        let scripted = crate::testing::ScriptedClient::new();
        assert!(bedrock(&scripted).is_none());
    }

    #[cfg(feature = "testing")]
    #[test]
    fn a_session_finds_its_route_once_when_built() {
        let direct = crate::ChatSession::builder(bedrock_client())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(direct.route(), Route::Bedrock(_)));
        let other = crate::ChatSession::builder(crate::testing::ScriptedClient::new())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(other.route(), Route::Other(_)));
    }
}
