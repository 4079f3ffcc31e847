//! An MCP server's tool as a [`Tool`] a session can offer, and its results as the model reads
//! them.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

use super::server::{CallError, McpServer};
use crate::message::ToolResultContent;
use crate::tool_spec::ToolSpec;
use crate::tools::{Tool, ToolError, ToolOutput};

/// The most text of one result passed to the model: a tool that returns megabytes would fill
/// the context window (and the bill) with one call.
pub const MAX_RESULT_BYTES: usize = 100_000;

/// One tool of one MCP server.
#[derive(Clone)]
pub struct McpTool {
    pub(crate) server: Arc<McpServer>,
    /// As the server listed it.
    pub(crate) listed: rmcp::model::Tool,
    /// Its name on the server.
    pub(crate) remote: String,
    pub(crate) spec: ToolSpec,
    pub(crate) read_only: bool,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTool")
            .field("name", &self.spec.name)
            .field("server", &self.server.name())
            .field("remote", &self.remote)
            .finish()
    }
}

impl McpTool {
    /// The name the model calls it by (`server__tool`, made valid for Bedrock).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The server's name for it.
    pub fn remote_name(&self) -> &str {
        &self.remote
    }

    /// The name of the server it belongs to.
    pub fn server_name(&self) -> &str {
        self.server.name()
    }

    /// Its description.
    pub fn description(&self) -> &str {
        &self.spec.description
    }

    /// Whether the server says it only reads (`annotations.readOnlyHint`). A hint from the
    /// server, not a guarantee: a REPL asks before running a tool that does not say so.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}

#[async_trait]
impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call(&self, input: serde_json::Value) -> Result<ToolOutput, ToolError> {
        let arguments = match input {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            other => {
                return Err(ToolError::new(format!(
                    "the input must be a JSON object, not {other}"
                )));
            }
        };
        match self.server.call(&self.remote, arguments).await {
            Ok(result) => output_of(result),
            Err(CallError::Unavailable(why) | CallError::Failed(why)) => Err(ToolError::new(why)),
        }
    }
}

/// A tool call's result as the model reads it: text, images, structured content; a result the
/// server marks `isError` as a failed result; everything bounded to [`MAX_RESULT_BYTES`].
pub(crate) fn output_of(result: CallToolResult) -> Result<ToolOutput, ToolError> {
    let mut out = Collected {
        parts: Vec::new(),
        budget: MAX_RESULT_BYTES,
        cut: 0,
    };
    for block in result.content {
        match block {
            ContentBlock::Text(content) => out.text(content.text),
            ContentBlock::Image(image) => {
                let decoded = base64::engine::general_purpose::STANDARD.decode(&image.data);
                match decoded
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| ToolOutput::image(bytes).map_err(|e| e.to_string()))
                {
                    Ok(output) => out.parts.extend(output.0),
                    Err(why) => out.text(format!(
                        "[an image ({}) the model cannot be shown: {why}]",
                        image.mime_type
                    )),
                }
            }
            ContentBlock::Audio(audio) => out.text(format!(
                "[an audio clip ({}); the model cannot hear it]",
                audio.mime_type
            )),
            ContentBlock::Resource(resource) => match resource.resource {
                ResourceContents::TextResourceContents { uri, text, .. } => {
                    out.text(format!("[{uri}]\n{text}"));
                }
                ResourceContents::BlobResourceContents { uri, mime_type, .. } => {
                    out.text(format!(
                        "[{uri}: binary content ({}) not shown]",
                        mime_type.unwrap_or_else(|| "unknown type".into())
                    ));
                }
                _ => out.text("[a resource of a kind not shown]".into()),
            },
            ContentBlock::ResourceLink(link) => {
                out.text(format!("[a link: {} ({})]", link.uri, link.name));
            }
            _ => out.text("[content of a kind not shown]".into()),
        }
    }
    // Structured content is the same result as JSON; servers send text beside it for
    // clients that read only text. Passed on when it is all there is.
    if out.parts.is_empty()
        && let Some(structured) = result.structured_content
    {
        let json = structured.to_string();
        if json.len() <= out.budget {
            out.parts.extend(ToolOutput::json(structured).0);
        } else {
            out.text(json);
        }
    }
    let Collected { mut parts, cut, .. } = out;
    if cut > 0 {
        parts.push(ToolResultContent::Text(format!(
            "[{cut} more bytes cut: a tool result may be at most {MAX_RESULT_BYTES} bytes]"
        )));
    }
    if result.is_error == Some(true) {
        let message: Vec<String> = parts
            .iter()
            .filter_map(|p| match p {
                ToolResultContent::Text(text) => Some(text.clone()),
                _ => None,
            })
            .collect();
        let message = message.join("\n");
        return Err(ToolError::new(if message.is_empty() {
            "the tool failed without saying why".to_string()
        } else {
            message
        }));
    }
    if parts.is_empty() {
        parts.push(ToolResultContent::Text(
            "(the tool returned nothing)".into(),
        ));
    }
    Ok(ToolOutput(parts))
}

/// A result's parts so far, and how much text may still be added.
struct Collected {
    parts: Vec<ToolResultContent>,
    budget: usize,
    cut: usize,
}

impl Collected {
    fn text(&mut self, value: String) {
        if value.len() <= self.budget {
            self.budget -= value.len();
            self.parts.push(ToolResultContent::Text(value));
            return;
        }
        let mut end = self.budget;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        self.cut += value.len() - end;
        if end > 0 {
            self.parts
                .push(ToolResultContent::Text(value[..end].to_string()));
        }
        self.budget -= end;
    }
}
