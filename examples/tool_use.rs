//! Letting Claude call your functions: a calculator and a clock as typed tools, run to an answer.
//!
//! Shows: `FunctionTool::new` (input types with `serde::Deserialize` and `schemars::JsonSchema`),
//! `ChatSessionBuilder::tool`, and a streamed turn that runs the whole tool loop, printing
//! "calling add…" as each call begins and the result as it comes back.
//!
//! Needs: AWS credentials, a region, and access to the model (see `one_question`).
//!
//! Run: `cargo run -p bedrock-chat-examples --example tool_use -- "What is 1234 * 5678, and what time is it?"`

use std::io::Write;

use bedrock_chat::{ChatConfig, FunctionTool, StreamEvent};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;

/// Two numbers and what to do with them.
#[derive(Deserialize, JsonSchema)]
struct Calculation {
    /// The first number.
    a: f64,
    /// The second number.
    b: f64,
    /// One of "add", "subtract", "multiply", "divide".
    operation: String,
}

/// The clock takes no input.
#[derive(Deserialize, JsonSchema)]
struct Nothing {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What is 1234 * 5678, and what time is it?".to_string());

    let calculator = FunctionTool::new(
        "calculator",
        "Exact arithmetic on two numbers",
        |c: Calculation| async move {
            match c.operation.as_str() {
                "add" => Ok(c.a + c.b),
                "subtract" => Ok(c.a - c.b),
                "multiply" => Ok(c.a * c.b),
                "divide" if c.b != 0.0 => Ok(c.a / c.b),
                "divide" => Err("cannot divide by zero".to_string()),
                other => Err(format!("unknown operation {other:?}")),
            }
        },
    )?;
    let clock = FunctionTool::new(
        "clock",
        "The current time, in seconds since 1970 (UTC)",
        |_: Nothing| async move {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map(|d| d.as_secs()).map_err(|e| e.to_string())
        },
    )?;

    let config = ChatConfig::from_env()?;
    let client = config.client().await?;
    let mut session = config
        .session_builder(client)
        .tool(calculator)
        .tool(clock)
        .build()?;

    let mut stream = session.send_streaming(prompt).await?;
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta(text) => {
                write!(stdout, "{text}")?;
                stdout.flush()?;
            }
            StreamEvent::ToolUseStart { name, .. } => eprintln!("\n[calling {name}…]"),
            StreamEvent::ToolCall(call) => eprintln!("[{} {}]", call.name, call.input),
            StreamEvent::ToolResult(result) => eprintln!("[→ {}]", result.text()),
            _ => {}
        }
    }
    drop(stream);
    println!();
    eprintln!(
        "({} messages in the history for this one question: the tool rounds are kept)",
        session.history().len()
    );
    Ok(())
}
