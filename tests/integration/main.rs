//! Integration tests: `bedrock-chat` through the real AWS SDK against `FakeBedrock` on 127.0.0.1.
//!
//! Run with `cargo test -p bedrock-chat-tests`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod attachments;
mod caching;
mod cancellation;
mod concurrency;
mod converse;
mod errors;
mod faults;
mod guardrails;
mod history;
mod hostile;
mod knowledge_bases;
mod layers;
mod live;
mod long_conversations;
mod mcp;
mod mock;
mod models;
mod recorded;
mod recorded_tools;
mod retries;
mod store;
mod streaming;
mod structured;
mod thinking;
mod token_counts;
mod tools;
