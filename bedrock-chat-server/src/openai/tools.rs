//! Tool calls in the OpenAI chat-completions shape, to and from the library's: `tools` and
//! `tool_choice` in a request, `tool_calls` on assistant messages, `tool` role messages, and
//! `tool_calls` in replies and stream deltas.
//!
//! The gateway never runs a tool: as with OpenAI, the client gets the calls, runs its tools, and
//! sends the results back as `tool` messages in its next request.

use bedrock_chat::{
    ContentBlock, Message, ToolChoice, ToolConfig, ToolResult, ToolResultContent, ToolSpec,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// A tool in a request: `{"type": "function", "function": {"name", "description",
/// "parameters"}}`.
#[derive(Deserialize, ToSchema)]
pub(super) struct InTool {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: InFunction,
}

#[derive(Deserialize, ToSchema)]
struct InFunction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

/// A call on an assistant message the client sends back.
#[derive(Deserialize, ToSchema)]
pub(super) struct InToolCall {
    id: String,
    function: InCall,
}

#[derive(Deserialize, ToSchema)]
struct InCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// The `toolConfig` for a request's `tools` and `tool_choice`, or `None` when it has no tools
/// (or `tool_choice` is `none` and the conversation holds no tool blocks, which would need one).
///
/// # Errors
///
/// What is wrong, for a 400 naming `tools` or `tool_choice`.
pub(super) fn tool_config(
    tools: Option<Vec<InTool>>,
    choice: Option<&Value>,
    messages: &[Message],
) -> Result<Option<ToolConfig>, (String, &'static str)> {
    let has_tool_blocks = messages.iter().any(Message::has_tool_blocks);
    let mut specs = Vec::new();
    for (index, tool) in tools.unwrap_or_default().into_iter().enumerate() {
        if tool.kind.as_deref().is_some_and(|k| k != "function") {
            return Err((format!("tools[{index}].type must be \"function\""), "tools"));
        }
        let InFunction {
            name,
            description,
            parameters,
        } = tool.function;
        // OpenAI's description is optional and its parameters may be left out; Bedrock needs
        // both, so the name stands in for one and an empty object for the other.
        let description = description
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| name.clone());
        let schema = parameters.unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        specs.push(ToolSpec::new(name, description, schema));
    }
    let choice = match choice {
        None => ToolChoice::Auto,
        Some(Value::String(choice)) => match choice.as_str() {
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Any,
            "none" if has_tool_blocks => ToolChoice::Auto,
            "none" => return Ok(None),
            other => {
                return Err((
                    format!("tool_choice {other:?} is not auto, none, required or a function"),
                    "tool_choice",
                ));
            }
        },
        Some(value) => match value["function"]["name"].as_str() {
            Some(name) => ToolChoice::Tool(name.to_string()),
            None => {
                return Err((
                    "tool_choice must be auto, none, required or {\"type\": \"function\", \
                     \"function\": {\"name\": ...}}"
                        .into(),
                    "tool_choice",
                ));
            }
        },
    };
    if specs.is_empty() {
        if !has_tool_blocks {
            return match choice {
                ToolChoice::Auto => Ok(None),
                _ => Err(("tool_choice needs tools".into(), "tool_choice")),
            };
        }
        // The conversation holds tool calls but the request lists no tools: Bedrock still
        // needs a toolConfig, so the tools the conversation used are named.
        let mut used: Vec<&str> = messages
            .iter()
            .flat_map(Message::tool_uses)
            .map(|c| c.name.as_str())
            .collect();
        used.sort_unstable();
        used.dedup();
        specs = used
            .into_iter()
            .map(|name| ToolSpec::new(name, name, json!({"type": "object"})))
            .collect();
    }
    let config = ToolConfig::new(specs, choice);
    config.validate().map_err(|e| (e.to_string(), "tools"))?;
    Ok(Some(config))
}

/// The blocks of an assistant message's `tool_calls`.
///
/// # Errors
///
/// When a call's arguments are not a JSON object, naming the message.
pub(super) fn calls_to_blocks(
    calls: Vec<InToolCall>,
    index: usize,
) -> Result<Vec<ContentBlock>, String> {
    calls
        .into_iter()
        .enumerate()
        .map(|(n, call)| {
            let input = if call.function.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str::<Value>(&call.function.arguments)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        format!(
                            "messages[{index}].tool_calls[{n}].function.arguments is not a JSON object"
                        )
                    })?
            };
            Ok(ContentBlock::ToolUse(bedrock_chat::ToolUse::new(
                call.id,
                call.function.name,
                input,
            )))
        })
        .collect()
}

/// The block of a `tool` message: its content as the result of call `tool_call_id`.
pub(super) fn tool_message_block(tool_call_id: String, content: String) -> ContentBlock {
    let content = if content.trim().is_empty() {
        // Bedrock refuses blank text; a tool that returned nothing said so.
        "(no output)".to_string()
    } else {
        content
    };
    ContentBlock::ToolResult(ToolResult::success(
        tool_call_id,
        ToolResultContent::Text(content),
    ))
}
