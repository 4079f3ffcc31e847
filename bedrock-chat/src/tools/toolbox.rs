//! The tools of a session, and running one round of the model's calls.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use super::Tool;
use crate::error::{Error, Result};
use crate::message::{INVALID_INPUT_KEY, Message, ToolResult, ToolUse};
use crate::tool_spec::{ToolChoice, ToolConfig, ToolSpec};

/// The default time a tool call may take before its result is an error.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The default number of tool rounds (model calls tools, tools answer) in one turn.
pub const DEFAULT_MAX_TOOL_ROUNDS: u32 = 8;

/// The registered tools of a session, with their specs read once.
#[derive(Clone, Default)]
pub(crate) struct Toolbox {
    tools: Vec<(ToolSpec, Arc<dyn Tool>)>,
    pub(crate) choice: ToolChoice,
    pub(crate) timeout: Option<Duration>,
}

impl Toolbox {
    /// Adds a tool, refusing one whose spec Bedrock would reject or whose name is taken.
    pub(crate) fn register(&mut self, tool: Arc<dyn Tool>) -> Result<()> {
        let spec = tool.spec();
        spec.validate()?;
        if self.tools.iter().any(|(s, _)| s.name == spec.name) {
            return Err(Error::invalid_input(format!(
                "a tool named {:?} is already registered",
                spec.name
            )));
        }
        self.tools.push((spec, tool));
        Ok(())
    }

    /// No tools, with `choice` and a call timeout (default [`DEFAULT_TOOL_TIMEOUT`]).
    pub(crate) fn new(choice: ToolChoice, timeout: Option<Duration>) -> Self {
        Toolbox {
            tools: Vec::new(),
            choice,
            timeout,
        }
    }

    pub(crate) fn specs(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.iter().map(|(spec, _)| spec)
    }

    /// Checks the tool choice against the registered tools.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.tools.is_empty() {
            return match self.choice {
                ToolChoice::Auto => Ok(()),
                _ => Err(Error::invalid_input(
                    "a tool choice other than auto needs at least one registered tool",
                )),
            };
        }
        ToolConfig::new(self.specs().cloned().collect(), self.choice.clone()).validate()
    }

    /// The `toolConfig` of a request in round `round` (0 first) of a turn that sends `messages`.
    ///
    /// A forced choice (any, or a named tool) applies to the first round only: forced again
    /// after the tool answered, the model could never finish its turn. Without tools, a
    /// conversation that holds tool blocks (from a loaded file, say) still needs a `toolConfig`;
    /// it then names the tools the conversation used, which are no longer available. Looking for
    /// them is a pass over the whole conversation, so it is made only when `may_hold_tool_blocks`
    /// says the conversation can hold any.
    pub(crate) fn config(
        &self,
        round: u32,
        messages: &[Message],
        may_hold_tool_blocks: bool,
    ) -> Option<ToolConfig> {
        if !self.tools.is_empty() {
            let choice = if round == 0 {
                self.choice.clone()
            } else {
                ToolChoice::Auto
            };
            return Some(ToolConfig::new(self.specs().cloned().collect(), choice));
        }
        if !may_hold_tool_blocks {
            return None;
        }
        let mut used: Vec<&str> = messages
            .iter()
            .flat_map(Message::tool_uses)
            .map(|call| call.name.as_str())
            .collect();
        used.sort_unstable();
        used.dedup();
        (!used.is_empty()).then(|| {
            let tools = used
                .into_iter()
                .map(|name| {
                    ToolSpec::new(
                        name,
                        "A tool this conversation used earlier; it is not available now.",
                        serde_json::json!({"type": "object"}),
                    )
                })
                .collect();
            ToolConfig::new(tools, ToolChoice::Auto)
        })
    }

    /// Runs every call of one round at once and returns one result per call, in the calls'
    /// order. Nothing a tool does becomes an error of the turn: an unknown name, input that does
    /// not fit, a failure, a panic or a timeout is a failed result the model can act on.
    pub(crate) async fn run(&self, calls: &[ToolUse]) -> Vec<ToolResult> {
        futures::future::join_all(calls.iter().map(|call| self.run_one(call))).await
    }

    async fn run_one(&self, call: &ToolUse) -> ToolResult {
        let Some((_, tool)) = self.tools.iter().find(|(spec, _)| spec.name == call.name) else {
            let known: Vec<&str> = self.specs().map(|s| s.name.as_str()).collect();
            return ToolResult::error(
                &call.id,
                format!(
                    "there is no tool named {:?}; the tools are: {}",
                    call.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        };
        if let Some(text) = call.input.get(INVALID_INPUT_KEY).and_then(|t| t.as_str()) {
            return ToolResult::error(
                &call.id,
                format!(
                    "the input is not a JSON object: {text:?}; send the input again as an object"
                ),
            );
        }
        let running = AssertUnwindSafe(tool.call(call.input.clone())).catch_unwind();
        let timeout = self.timeout.unwrap_or(DEFAULT_TOOL_TIMEOUT);
        match tokio::time::timeout(timeout, running).await {
            Ok(Ok(Ok(output))) => ToolResult::success_parts(&call.id, output.0),
            Ok(Ok(Err(error))) => ToolResult::error(&call.id, error.message()),
            Ok(Err(_panic)) => {
                tracing::error!(tool = %call.name, "tool panicked");
                ToolResult::error(
                    &call.id,
                    format!("the tool {:?} failed unexpectedly (it panicked)", call.name),
                )
            }
            Err(_elapsed) => ToolResult::error(
                &call.id,
                format!(
                    "the tool {:?} did not finish within {} s and was stopped",
                    call.name,
                    timeout.as_secs_f64()
                ),
            ),
        }
    }
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toolbox")
            .field(
                "tools",
                &self.specs().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            )
            .field("choice", &self.choice)
            .field("timeout", &self.timeout)
            .finish()
    }
}
