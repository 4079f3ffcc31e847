//! The pluggable backend: anything that can answer a conversation.

use async_trait::async_trait;

use crate::error::Result;
use crate::event_stream::EventStream;
use crate::request::ChatRequest;
use crate::response::ChatResponse;

/// A backend that answers a conversation: [`BedrockClient`](crate::BedrockClient) in production,
/// `testing::ScriptedClient` (the `testing` feature) in tests, or a wrapper of your own (a cache, a
/// router, a rate limiter).
///
/// The trait is object safe: a [`ChatSession`](crate::ChatSession) holds an
/// `Arc<dyn ModelClient>`, so the backend can be chosen at run time. Implementations make one
/// attempt per call; retrying is the session's job, under its
/// [`RetryPolicy`](crate::RetryPolicy), so that there is exactly one retry layer.
///
/// With the `mockall` crate, `mockall::mock!` can mock it for unit tests.
#[async_trait]
pub trait ModelClient: Send + Sync {
    /// Sends the request and waits for the whole reply.
    async fn converse(&self, request: &ChatRequest) -> Result<ChatResponse>;

    /// Sends the request and returns the reply as a stream of events.
    ///
    /// An error before the stream starts is returned here; an error after it started is the
    /// stream's last item.
    async fn converse_stream(&self, request: &ChatRequest) -> Result<EventStream>;

    /// The exact number of input tokens `request` would be billed, without running the model
    /// (Bedrock's `CountTokens`); `Ok(None)` from a backend that cannot count, which is the
    /// default. A session with [`exact_token_counts`](crate::ChatSessionBuilder::exact_token_counts)
    /// on asks this before each turn and falls back to its estimate on `None` or an error.
    async fn count_tokens(&self, request: &ChatRequest) -> Result<Option<u64>> {
        let _ = request;
        Ok(None)
    }

    /// The client itself as `Any`, when it is one a session can call without the boxed future
    /// of this trait's methods (the library's own `BedrockClient`); `None` otherwise, which is
    /// right for every other implementation. Not part of the stable API.
    #[doc(hidden)]
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

#[async_trait]
impl<T: ModelClient + ?Sized> ModelClient for std::sync::Arc<T> {
    async fn converse(&self, request: &ChatRequest) -> Result<ChatResponse> {
        (**self).converse(request).await
    }

    async fn converse_stream(&self, request: &ChatRequest) -> Result<EventStream> {
        (**self).converse_stream(request).await
    }

    async fn count_tokens(&self, request: &ChatRequest) -> Result<Option<u64>> {
        (**self).count_tokens(request).await
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }
}
