//! The operator's MCP tools in a visitor's turn: counted against the reply's and the visitor's
//! limits, so a conversation cannot turn the server into a tool-calling machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bedrock_chat::{McpTool, Rate, Tool, ToolError, ToolOutput, ToolSpec};

use crate::admission::Visitor;
use crate::state::AppState;

/// The tools of one turn of `visitor`, sharing one count of the turn's calls.
pub(crate) fn for_turn(state: &AppState, visitor: &Visitor) -> Vec<Arc<dyn Tool>> {
    let Some(tools) = &state.config().tools else {
        return Vec::new();
    };
    let calls = Arc::new(AtomicU32::new(0));
    tools
        .offered()
        .into_iter()
        .map(|tool| {
            Arc::new(Counted {
                tool,
                state: state.clone(),
                visitor: visitor.clone(),
                calls: Arc::clone(&calls),
            }) as Arc<dyn Tool>
        })
        .collect()
}

/// A tool whose calls are counted before they run.
struct Counted {
    tool: McpTool,
    state: AppState,
    visitor: Visitor,
    calls: Arc<AtomicU32>,
}

#[async_trait]
impl Tool for Counted {
    fn spec(&self) -> ToolSpec {
        self.tool.spec()
    }

    async fn call(&self, input: serde_json::Value) -> Result<ToolOutput, ToolError> {
        let limits = &self.state.config().limits;
        let made = self.calls.fetch_add(1, Ordering::AcqRel) + 1;
        if made > limits.tool_calls_per_turn {
            return Err(ToolError::new(format!(
                "this reply has made the {} tool calls it may; answer with what you have",
                limits.tool_calls_per_turn
            )));
        }
        if limits.tool_calls_per_minute != u32::MAX {
            let keys = [
                Some(format!("tools:{}", self.visitor.address)),
                self.visitor.id.as_ref().map(|id| format!("tools:{id}")),
            ];
            let rates: Vec<Rate<'_>> = keys
                .iter()
                .flatten()
                .map(|key| Rate {
                    key,
                    limit: limits.tool_calls_per_minute,
                    period: Duration::from_secs(60),
                })
                .collect();
            match self.state.store().take_rate(&rates).await {
                Ok(None) => {}
                Ok(Some((_, wait))) => {
                    crate::telemetry::refused(crate::error::ErrorKind::RateLimited);
                    return Err(ToolError::new(format!(
                        "too many tool calls from this visitor in the last minute; tell them to \
                         try again in {} s",
                        wait.as_secs().max(1)
                    )));
                }
                Err(error) => {
                    return Err(ToolError::new(format!(
                        "the tool could not be called now ({error})"
                    )));
                }
            }
        }
        self.tool.call(input).await
    }
}
