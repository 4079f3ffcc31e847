//! The `bedrock-chat` REPL, as a library so that its loop can be tested without a terminal.
//!
//! The binary (`src/main.rs`) only parses arguments and calls [`app::run`]. All chat logic lives
//! in the `bedrock-chat` crate; this crate does arguments, terminal input and output.
#![deny(missing_docs)]

pub mod app;
pub mod args;
pub mod commands;
pub mod demo;
pub mod dotenv;
pub mod input;
mod interrupts;
pub mod mcp;
mod models;
pub mod output;
pub mod repl;
pub mod serve;
pub mod signals;
mod sources;
pub mod status;
pub mod terminal;
mod turn_view;
pub mod type_ahead;
