//! Tests of the `bedrock-chat` binary and its REPL loop against the library's fake Bedrock.
//!
//! Run with `cargo test -p bedrock-chat-cli`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod deploy;
mod grounding;
mod hostile;
mod interactive;
mod pipe;
mod serve;
mod terminal;
