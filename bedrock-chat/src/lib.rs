//! Conversations with Claude on Amazon Bedrock.
#![deny(missing_docs)]

mod bedrock;
mod client;
mod config;
mod error;
mod message;
mod request;
mod response;
mod retry;
mod session;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use bedrock::{BedrockClient, BedrockClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
pub use client::ModelClient;
pub use config::{ChatConfig, DEFAULT_MAX_TOKENS, DEFAULT_MODEL_ID};
pub use error::{BoxError, Error, Result, ServiceDetails};
pub use message::{ContentBlock, Message, Role};
pub use request::{ChatRequest, InferenceConfig, MAX_MESSAGE_BYTES};
pub use response::{ChatResponse, StopReason, TokenUsage};
pub use retry::{RetryNotice, RetryObserver, RetryPolicy};
pub use session::{
    CONVERSATION_FORMAT_VERSION, ChatSession, ChatSessionBuilder, ChatStream, SavedConversation, SessionUsage};
pub use stream::{EventStream, StreamEvent};
