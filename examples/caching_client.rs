//! A custom `ModelClient`: answer repeated questions from a cache, delegate the rest to Bedrock.
//!
//! The original chatbot planned caching for frequently asked questions. Because `ChatSession`
//! talks to any `ModelClient`, a cache is a wrapper around `BedrockClient`, and the session does
//! not change. The cache key is the whole request (model, system prompt, conversation and
//! settings), so a cached answer is only reused for exactly the same context.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run: `cargo run -p bedrock-chat-examples --example caching_client`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bedrock_chat::{ChatConfig, ChatRequest, ChatResponse, EventStream, ModelClient, StreamEvent};

/// Answers a request it has seen before from memory.
struct CachingClient<C> {
    inner: C,
    cache: Mutex<HashMap<String, ChatResponse>>,
    hits: Mutex<u32>,
}

impl<C> CachingClient<C> {
    fn new(inner: C) -> Self {
        CachingClient {
            inner,
            cache: Mutex::default(),
            hits: Mutex::default(),
        }
    }

    fn key(request: &ChatRequest) -> String {
        serde_json::to_string(request).unwrap_or_default()
    }

    fn cached(&self, request: &ChatRequest) -> Option<ChatResponse> {
        let found = self.cache.lock().ok()?.get(&Self::key(request)).cloned();
        if found.is_some()
            && let Ok(mut hits) = self.hits.lock()
        {
            *hits += 1;
        }
        found
    }
}

#[async_trait]
impl<C: ModelClient> ModelClient for CachingClient<C> {
    async fn converse(&self, request: &ChatRequest) -> bedrock_chat::Result<ChatResponse> {
        if let Some(response) = self.cached(request) {
            return Ok(response);
        }
        let response = self.inner.converse(request).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(Self::key(request), response.clone());
        }
        Ok(response)
    }

    async fn converse_stream(&self, request: &ChatRequest) -> bedrock_chat::Result<EventStream> {
        // A cached answer is replayed as a stream; new answers stream from Bedrock uncached.
        if let Some(response) = self.cached(request) {
            let events = vec![
                Ok(StreamEvent::TextDelta(response.text())),
                Ok(StreamEvent::MessageStop(response.stop_reason().clone())),
                Ok(StreamEvent::Metadata {
                    usage: Default::default(), // a cached answer costs nothing
                    latency: None,
                }),
            ];
            return Ok(EventStream::new(futures::stream::iter(events)));
        }
        self.inner.converse_stream(request).await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ChatConfig::from_env()?;
    let bedrock = config.client().await?;
    let client = Arc::new(CachingClient::new(bedrock));

    // Three users ask the same frequently asked question, each in a new conversation.
    for user in 1..=3 {
        let mut session = config
            .session_builder(client.clone())
            .system_prompt(
                "You answer questions about our opening hours: 9 to 5, Monday to Friday.",
            )
            .build()?;
        let reply = session.send("When are you open?").await?;
        println!("user {user}: {}", reply.text());
    }
    let hits = client.hits.lock().map(|h| *h).unwrap_or(0);
    println!("answered {hits} of 3 from the cache");
    Ok(())
}
