//! Test doubles for code built on `bedrock-chat` (enabled by the `testing` feature).
//!
//! - [`ScriptedClient`]: a [`ModelClient`](crate::ModelClient) that answers from a script with no
//!   network at all, for unit tests of your own code.
//! - [`FakeBedrock`]: a fake Bedrock runtime on 127.0.0.1 that speaks the real wire format, for
//!   tests that go through the real AWS SDK and [`BedrockClient`](crate::BedrockClient). Point any
//!   program at it with `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` and test credentials.
//!
//! ```
//! use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply};
//! use bedrock_chat::{ChatSession, RetryPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeBedrock::start().await?;
//! fake.push(FakeReply::error(FakeError::Throttling))
//!     .push(FakeReply::text("Paris."));
//! let mut session = ChatSession::builder(fake.client().await?)
//!     .retry_policy(RetryPolicy::default().initial_delay(std::time::Duration::from_millis(1)))
//!     .build()?;
//! assert_eq!(session.send("Capital of France?").await?.text(), "Paris.");
//! assert_eq!(fake.request_count(), 2); // one throttled, one answered
//! # Ok(())
//! # }
//! ```
//!
//! The fake is a small hyper server rather than a `wiremock` one: a wiremock response is one
//! finished body, so it cannot pause between event-stream frames, break a body half-way or drop a
//! connection, which are the faults these tests exist for. The crate's own tests still use
//! wiremock, to replay responses recorded from real Bedrock from a server this crate did not
//! write (`tests/integration/recorded.rs`), so the client and the fake are both checked against
//! the real wire format and not only against each other.

mod fake_bedrock;
mod fake_catalog;
mod fake_knowledge;
#[cfg(all(feature = "redis", unix))]
#[cfg(feature = "mcp")]
mod mcp_servers;
mod redis_server;
mod script;
mod scripted;
mod store_contract;
mod wire;

pub use fake_bedrock::{FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FakeBedrock, isolated_aws_env};
pub use fake_catalog::FAKE_APPLICATION_PROFILE_ARN;
pub use fake_knowledge::{FakePassage, fake_embedding};
#[cfg(all(feature = "redis", unix))]
#[cfg(feature = "mcp")]
pub use mcp_servers::{HttpServer, McpTestServers};
pub use redis_server::{RedisCluster, RedisServer, RedisTlsServer};
pub use script::{FakeError, FakeReply, Operation, RecordedRequest, StreamFault};
pub use scripted::{Scripted, ScriptedClient};
pub use store_contract::{
    limits_contract, reply_cache_contract, sample_conversation, store_contract,
};

/// A valid 1×1 PNG, the smallest image Bedrock takes, for tests of attachments.
pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];
