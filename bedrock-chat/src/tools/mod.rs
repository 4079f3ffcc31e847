//! Tools the model can call: the [`Tool`] trait, tools made from typed async functions, and the
//! toolbox a session runs calls with.
//!
//! - `function.rs`: [`FunctionTool`], a tool from an async function of a `Deserialize` input.
//! - `toolbox.rs`: the registered tools of a session, and running a round of calls.

mod function;
mod toolbox;

use std::fmt;

use async_trait::async_trait;

pub use function::FunctionTool;
pub(crate) use toolbox::Toolbox;
pub use toolbox::{DEFAULT_MAX_TOOL_ROUNDS, DEFAULT_TOOL_TIMEOUT};

use crate::message::ToolResultContent;
use crate::tool_spec::ToolSpec;

/// A tool the model can call.
///
/// Most tools are easiest to write as a typed async function with [`FunctionTool`]; implement
/// this trait for a tool that needs its own state or a schema of its own.
///
/// ```
/// use async_trait::async_trait;
/// use bedrock_chat::{Tool, ToolError, ToolOutput, ToolSpec};
/// use serde_json::{Value, json};
///
/// struct Clock;
///
/// #[async_trait]
/// impl Tool for Clock {
///     fn spec(&self) -> ToolSpec {
///         ToolSpec::new("clock", "The current UTC time", json!({"type": "object"}))
///     }
///
///     async fn call(&self, _input: Value) -> Result<ToolOutput, ToolError> {
///         Ok(ToolOutput::text("2026-11-25T12:00:00Z"))
///     }
/// }
/// ```
#[async_trait]
pub trait Tool: Send + Sync {
    /// The tool's name, description and input schema, as the model sees them.
    fn spec(&self) -> ToolSpec;

    /// Runs the tool on `input` (a JSON object the model wrote to match the schema).
    ///
    /// # Errors
    ///
    /// A [`ToolError`] whose message goes back to the model as a failed result, so it can
    /// correct its input or do without the tool.
    async fn call(&self, input: serde_json::Value) -> Result<ToolOutput, ToolError>;
}

/// What a tool returns: text, a JSON value, images, or several of these in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolOutput(pub(crate) Vec<ToolResultContent>);

impl ToolOutput {
    /// Text for the model.
    pub fn text(text: impl Into<String>) -> Self {
        ToolOutput(vec![ToolResultContent::Text(text.into())])
    }

    /// An image for the model to look at, its format read from its bytes.
    ///
    /// # Errors
    ///
    /// As [`Attachment::image`](crate::Attachment::image): bytes that are not a PNG, JPEG, GIF
    /// or WebP image, or over Bedrock's limits.
    pub fn image(bytes: Vec<u8>) -> crate::Result<Self> {
        match crate::Attachment::image(bytes)? {
            crate::Attachment::Image { format, bytes } => {
                Ok(ToolOutput(vec![ToolResultContent::Image { format, bytes }]))
            }
            crate::Attachment::Document { .. } => Err(crate::Error::invalid_input(
                "the bytes are not a PNG, JPEG, GIF or WebP image",
            )),
        }
    }

    /// The output as text, as a person reads it: text as is, JSON serialised, an image named.
    pub fn to_text(&self) -> String {
        crate::message::ToolResult::success_parts("", self.0.clone()).text()
    }

    /// This output followed by `more`: a tool's text and the image it describes, say.
    #[must_use]
    pub fn and(mut self, more: ToolOutput) -> Self {
        self.0.extend(more.0);
        self
    }

    /// A JSON value for the model. A JSON string becomes text, and any value other than an
    /// object is sent as its JSON text, since Bedrock takes only objects as JSON results.
    pub fn json(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::String(text) => ToolOutput::text(text),
            serde_json::Value::Object(_) => ToolOutput(vec![ToolResultContent::Json(value)]),
            other => ToolOutput::text(other.to_string()),
        }
    }
}

/// A tool call that failed; the message goes back to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolError {
    message: String,
}

impl ToolError {
    /// A failure with a message the model can act on ("no city named Xyz; check the spelling").
    pub fn new(message: impl Into<String>) -> Self {
        ToolError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<String> for ToolError {
    fn from(message: String) -> Self {
        ToolError::new(message)
    }
}

impl From<&str> for ToolError {
    fn from(message: &str) -> Self {
        ToolError::new(message)
    }
}
