//! Multi-turn conversations with Claude on Amazon Bedrock: streamed replies, retries under a
//! policy you control, and errors that say what to do.
//!
//! A [`ChatSession`] holds a conversation and sends it, as context, on every turn: by default the
//! newest exchanges within 150,000 input tokens (the [`ContextPolicy`]), the full history kept.
//! It talks through a [`ModelClient`]: [`BedrockClient`] for Amazon Bedrock's Converse and
//! ConverseStream APIs (on the official AWS SDK, which signs requests and decodes event
//! streams), or any backend of your own. Failures that may pass (throttling, an unavailable
//! service, timeouts, dropped connections) are retried under a [`RetryPolicy`]; everything else
//! comes back at once as an [`Error`] whose message tells a person what to do.
//!
//! ```no_run
//! use bedrock_chat::{ChatConfig, StreamEvent};
//! use futures::StreamExt;
//! use std::io::Write;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), bedrock_chat::Error> {
//!     // Settings from the environment and `.env`; credentials from the AWS chain.
//!     let config = ChatConfig::from_env()?;
//!     let client = config.client().await?;
//!     let mut session = config
//!         .session_builder(client)
//!         .system_prompt("You are a concise assistant.")
//!         .on_retry(|notice| eprintln!("{notice}"))
//!         .build()?;
//!
//!     // A whole reply.
//!     let reply = session.send("Name three rivers in France.").await?;
//!     println!("{}", reply.text());
//!
//!     // A streamed reply; the first exchange is context for this one.
//!     let mut stream = session.send_streaming("Which is the longest?").await?;
//!     while let Some(event) = stream.next().await {
//!         if let StreamEvent::TextDelta(text) = event? {
//!             print!("{text}");
//!             std::io::stdout().flush().ok();
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Errors
//!
//! Every failure is an [`Error`]. Ask it rather than matching it: [`Error::is_retryable`] says
//! whether sending again later may work, [`Error::request_id`] gives the id to quote to AWS
//! support, and its `Display` text is ready to show a user ("access denied to model ... enable
//! access to this model in the Bedrock console"). The AWS SDK's error is kept as the
//! [`source`](std::error::Error::source).
//!
//! A turn that fails, or is cancelled by dropping its future or stream, leaves the session's
//! history exactly as it was, so the next request is always a valid conversation.
//!
//! # Retries
//!
//! The default [`RetryPolicy`] is the original chatbot's: 5 retries, after 2, 4, 8, 16 and 32
//! seconds. Only transient failures are retried; a streamed reply is retried only until its
//! first text reaches you, never after (you would see text twice). The AWS SDK's own retries are
//! switched off so the two layers never multiply. See the [`RetryPolicy`] docs.
//!
//! # Long conversations
//!
//! A [`ContextPolicy`] decides how much of a long conversation each turn sends (by default the
//! newest exchanges within 150,000 input tokens; the full history is always kept). When Bedrock
//! says the input is too long, the session sends less once and tells you with a [`Notice`].
//! [`ChatSession::usage`] and [`ChatSession::cost`] give tokens and US dollars per turn and in
//! total, from a [`PriceTable`]; a [`Budget`] warns or refuses before a turn could go over it.
//!
//! # Tools, attachments and the rest
//!
//! - **Tools**: a [`FunctionTool`] is a typed async function (its input schema from
//!   `schemars`), or implement [`Tool`]; register them with [`ChatSessionBuilder::tool`] and a
//!   turn runs the whole loop: the model's calls run at once, their results go back together,
//!   until the model answers, within [`ChatSessionBuilder::max_tool_rounds`]. A failing,
//!   panicking, slow or unknown tool becomes an error result the model reads. Streamed turns
//!   yield [`StreamEvent::ToolCall`] and [`StreamEvent::ToolResult`].
//! - **Images and documents**: [`Attachment::from_path`] and [`ChatSession::send_with`], with
//!   Bedrock's limits checked before sending.
//! - **Prompt caching**: [`ChatSessionBuilder::prompt_caching`] places [`CachePoints`] where
//!   they pay off; cache reads and writes are counted and priced.
//! - **Guardrails**: [`ChatSessionBuilder::guardrail`] with a [`GuardrailConfig`]; an
//!   intervention comes back with its [`GuardrailTrace`].
//! - **Bedrock API keys**: `AWS_BEARER_TOKEN_BEDROCK` or [`BedrockClientBuilder::bearer_token`].
//! - **Extended thinking**: [`ChatSessionBuilder::thinking_budget`]; reasoning streams as
//!   [`StreamEvent::ReasoningDelta`] and stays in the history with its signature.
//! - **Structured output**: [`ChatSession::send_structured`] gives a reply as a Rust value
//!   (Converse's `outputConfig`, or a forced tool call on older models).
//! - **Knowledge bases and citations**: a [`Retriever`] (`KnowledgeBase`, feature
//!   `knowledge-bases`) grounds each question; replies carry [`Citation`]s and
//!   [`ChatResponse::sources`].
//! - **Exact token counts, models and tiers**: [`ChatSessionBuilder::exact_token_counts`]
//!   (`CountTokens`); `BedrockClient::model_catalog` (feature `models`); [`ServiceTier`],
//!   [`Latency`] and [`CacheTtl`], reported in [`TokenUsage`] and priced.
//!
//! ```
//! use bedrock_chat::FunctionTool;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct City {
//!     /// The city's name.
//!     name: String,
//! }
//!
//! let weather = FunctionTool::new("get_weather", "Today's weather in a city", |c: City| async move {
//!     Ok::<_, String>(format!("Sunny in {}", c.name))
//! })?;
//! # Ok::<(), bedrock_chat::Error>(())
//! ```
//!
//! # Testing
//!
//! With the `testing` feature, `testing::FakeBedrock` is a fake Bedrock on 127.0.0.1 that
//! speaks the real wire format and injects throttling, errors and broken streams, and
//! `testing::ScriptedClient` is a scripted [`ModelClient`].
//!
//! # Layout
//!
//! Modules are private and everything public is re-exported here. They import downward only
//! (the workspace's `layers` test finds any module that imports one that imports it back):
//!
//! - the bottom, plain data: `stop_reason` ([`StopReason`], which errors and replies both name),
//!   `message` (who said what, tool calls and results, reasoning),
//!   `attachment` ([`Attachment`]), `citation` ([`Citation`], [`SearchResult`], [`Sources`]),
//!   `structured` ([`OutputSchema`]), `tier` ([`ServiceTier`], [`Latency`], [`CacheTtl`]),
//!   `tool_spec` ([`ToolSpec`], [`ToolConfig`]), `guardrail`
//!   ([`GuardrailConfig`]), `request` ([`ChatRequest`], [`InferenceConfig`] and the checks
//!   Bedrock would make), `response`, `event_stream` ([`EventStream`], [`StreamEvent`]), `usd`
//!   ([`Usd`]), `error` ([`Error`]);
//! - policies: `retry` ([`RetryPolicy`]), `context` ([`ContextPolicy`], the token estimate and
//!   exchange boundaries), `caching` ([`CachePoints`]), `pricing` ([`PriceTable`]), `budget`
//!   ([`Budget`]), `tools` ([`Tool`], [`FunctionTool`] and the toolbox that runs a round);
//! - `settings`: [`SessionSettings`] and [`ConnectionSettings`], each setting's default and check;
//! - `client` ([`ModelClient`]), `retrieval` ([`Retriever`]), `embedder` ([`Embedder`]),
//!   `models` (the region's listing, over the control plane's SDK) and `bedrock`
//!   ([`BedrockClient`], and in `bedrock/errors.rs` the one mapping of AWS SDK errors);
//!   `knowledge_base` (the agent runtime's `Retrieve`) above it;
//! - `session` ([`ChatSession`]: the turn engine, streamed turns, the builder, saved
//!   conversations, usage);
//! - `store` ([`ConversationStore`], [`MemoryStore`]): where a server keeps conversations, and
//!   the counts its limits share between instances (spending reserved, rates, reply slots);
//! - `reply_cache` ([`ReplyCache`], [`CachedClient`]): answers to frequently asked questions,
//!   a [`ModelClient`] in front of another, its entries kept in a store;
//! - `config` on top: [`ChatConfig`] reads every setting from flags, the environment and `.env`
//!   (the [`SETTINGS`] table) and produces both builders.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod attachment;
mod bedrock;
mod budget;
mod caching;
mod citation;
mod client;
mod config;
mod context;
mod embedder;
mod error;
mod event_stream;
mod guardrail;
#[cfg(feature = "knowledge-bases")]
mod knowledge_base;
#[cfg(feature = "mcp")]
mod mcp;
mod message;
#[cfg(feature = "models")]
mod models;
mod pricing;
mod reply_cache;
mod request;
mod response;
mod retrieval;
mod retry;
mod session;
mod settings;
mod stop_reason;
mod store;
mod structured;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod tier;
#[cfg(any(feature = "redis", feature = "mcp"))]
mod tls;
mod tool_spec;
mod tools;
mod usd;

pub use attachment::{
    Attachment, DocumentFormat, ImageFormat, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_PER_MESSAGE,
    MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, MAX_IMAGES_PER_MESSAGE, document_name,
};
pub use bedrock::{
    BEARER_TOKEN_VARIABLE, BedrockClient, BedrockClientBuilder, DEFAULT_EMBEDDING_MODEL,
    TitanEmbedder,
};
pub use budget::{Budget, BudgetMode};
pub use caching::{CachePoints, MAX_CACHE_POINTS, min_cacheable_tokens};
pub use citation::{Citation, CitationLocation, CitedText, SearchResult, Source, Sources};
pub use client::ModelClient;
pub use config::{ChatConfig, SETTINGS, Setting};
pub use context::{ContextPolicy, DEFAULT_CONTEXT_TOKENS};
pub use embedder::{Embedder, cosine};
pub use error::{BoxError, Error, Result, ServiceDetails};
pub use event_stream::{EventStream, StreamEvent};
pub use guardrail::{
    GuardrailConfig, GuardrailFinding, GuardrailTrace, GuardrailTraceMode, StreamProcessingMode,
};
#[cfg(feature = "knowledge-bases")]
#[cfg_attr(docsrs, doc(cfg(feature = "knowledge-bases")))]
pub use knowledge_base::{
    DEFAULT_KNOWLEDGE_BASE_RESULTS, KnowledgeBase, RetrievalFilter, SearchType,
};
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub use mcp::{
    INHERITED_VARIABLES, MAX_RESULT_BYTES, McpConfig, McpServerConfig, McpTool, McpTools,
    McpTransport, ServerStatus, ServerSummary,
};
pub use message::{
    ContentBlock, Message, Reasoning, Role, ToolResult, ToolResultContent, ToolResultStatus,
    ToolUse,
};
#[cfg(feature = "models")]
#[cfg_attr(docsrs, doc(cfg(feature = "models")))]
pub use models::{ModelCatalog, ModelListing, OfferedModel, model_label};
pub use pricing::{ModelPrice, PRICES_AS_OF, PriceTable};
pub use reply_cache::{
    CacheLookup, CachedClient, CachedReply, DEFAULT_MAX_QUESTIONS, DEFAULT_MIN_ASKERS,
    DEFAULT_REPLY_TTL, DEFAULT_SIMILARITY_THRESHOLD, MAX_CACHED_REPLY_BYTES, ReplyCache,
};
pub use request::{ChatRequest, CheckedRequest, InferenceConfig, MAX_MESSAGE_BYTES};
pub use response::{ChatResponse, TokenUsage};
pub use retrieval::Retriever;
pub use retry::{RetryNotice, RetryObserver, RetryPolicy};
pub use session::{
    CONVERSATION_FORMAT_VERSION, ChatSession, ChatSessionBuilder, ChatStream,
    MAX_CONVERSATION_FILE_BYTES, MAX_TITLE_CHARS, Notice, NoticeObserver, SavedConversation,
    SessionCost, SessionUsage, TokenCount, TurnUsage, converse_once, converse_stream_once,
    estimate_usage,
};
pub use settings::{
    ConnectionSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_TOKENS, DEFAULT_MODEL_ID,
    DEFAULT_READ_TIMEOUT, SessionSettings, parse_duration,
};
pub use stop_reason::StopReason;
pub use store::{
    CachedQuestion, Cap, ConversationStore, ConversationSummary, DEFAULT_MAX_CONVERSATION_BYTES,
    DEFAULT_MAX_CONVERSATIONS, DEFAULT_MAX_PER_OWNER, DEFAULT_TTL, LONGEST_TTL, Lease, MemoryStore,
    MemoryStoreBuilder, Rate, Slots, StoreError, StoredConversation, title_of,
    until_next_spending_day,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{DEFAULT_KEY_PREFIX, RedisStore, RedisStoreBuilder};
pub use structured::{MAX_SCHEMA_BYTES, OutputSchema, StructuredMode};
pub use tier::{CacheTtl, Latency, ServiceTier};
pub use tool_spec::{MAX_TOOL_NAME_LEN, ToolChoice, ToolConfig, ToolSpec};
pub use tools::{
    DEFAULT_MAX_TOOL_ROUNDS, DEFAULT_TOOL_TIMEOUT, FunctionTool, Tool, ToolError, ToolOutput,
};
pub use usd::Usd;

/// A `tracing` filter that keeps the AWS SDK's request-signing internals out of logs: `false` for
/// events that may carry credentials.
///
/// At `trace` level the SDK's SigV4 signer logs the canonical request, and its orchestrator logs
/// each request with its headers; both include the session token of temporary credentials, and
/// the SDK's environment reader logs the Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`). This
/// crate never logs credentials itself, but if you turn on trace logging for everything, add this
/// filter (the REPL always does):
///
/// ```
/// use tracing_subscriber::{EnvFilter, filter::{FilterExt, filter_fn}, prelude::*};
///
/// let filter = EnvFilter::new("trace").and(filter_fn(bedrock_chat::secret_safe_log_filter));
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().with_filter(filter));
/// # drop(subscriber);
/// ```
pub fn secret_safe_log_filter(metadata: &tracing::Metadata<'_>) -> bool {
    let target = metadata.target();
    // aws_runtime's environment reader logs each service variable it reads with its value,
    // AWS_BEARER_TOKEN_BEDROCK (an API key) among them.
    if target.starts_with("aws_sigv4") || target.starts_with("aws_runtime::env_config") {
        return false;
    }
    !(*metadata.level() == tracing::Level::TRACE && target.starts_with("aws_smithy_runtime"))
}

// The README's Rust examples compile (run by `cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

// Compile-time checks that the types users share between tasks are thread-safe.
const _: () = {
    const fn assert_send<T: Send>() {}
    const fn assert_sync<T: Sync>() {}
    assert_send::<ChatSession>();
    assert_sync::<ChatSession>();
    assert_send::<BedrockClient>();
    assert_sync::<BedrockClient>();
    assert_send::<Error>();
    assert_sync::<Error>();
    assert_send::<EventStream>();
    assert_send::<ChatStream<'static>>();
    assert_send::<ChatConfig>();
    assert_sync::<ChatConfig>();
    assert_send::<RetryPolicy>();
    assert_sync::<RetryPolicy>();
};
