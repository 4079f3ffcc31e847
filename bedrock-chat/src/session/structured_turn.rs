//! A structured turn: a reply that is JSON of a schema, through Converse's `outputConfig` or a
//! tool call the model is made to make, parsed into a Rust type.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::ChatSession;
use crate::error::{Error, Result};
use crate::message::{ContentBlock, Message, Role};
use crate::request::ChatRequest;
use crate::response::ChatResponse;
use crate::structured::{self, OutputSchema, StructuredMode};
use crate::tool_spec::{ToolChoice, ToolConfig, ToolSpec};

/// The shape the turn under way must answer in, and how it is asked for.
#[derive(Clone, Debug)]
pub(super) struct StructuredTurn {
    schema: OutputSchema,
    /// Through a forced tool call rather than `outputConfig`.
    via_tool: bool,
}

impl StructuredTurn {
    /// `request` asking for the shape: its `outputConfig`, or the schema as a tool the model
    /// must call (added to the session's own tools, which a history may need declared), without
    /// extended thinking, which Bedrock refuses with a forced tool choice.
    pub(super) fn apply(&self, request: ChatRequest) -> ChatRequest {
        if !self.via_tool {
            return request.with_output_schema(Some(self.schema.clone()));
        }
        let mut tools = request
            .tool_config()
            .map(|config| config.tools.clone())
            .unwrap_or_default();
        tools.retain(|tool| tool.name != self.schema.name());
        tools.push(ToolSpec::new(
            self.schema.name(),
            self.schema
                .description()
                .unwrap_or("Gives the answer. Call it once, with the whole answer as its input."),
            self.schema.schema().clone(),
        ));
        request
            .with_tool_config(Some(ToolConfig::new(
                tools,
                ToolChoice::Tool(self.schema.name().to_string()),
            )))
            .with_thinking_budget(None)
    }

    /// The reply as the conversation keeps it: the tool call's input as the reply's text (so the
    /// history reads as the model having answered in JSON, with no call left to answer), or
    /// `None` when the reply is already text (`outputConfig`) or made no such call.
    pub(super) fn answer(&self, reply: &Message) -> Option<Message> {
        if !self.via_tool {
            return None;
        }
        let call = reply
            .tool_uses()
            .find(|call| call.name == self.schema.name())?;
        let text = call.input.to_string();
        Some(Message::new(
            Role::Assistant,
            vec![ContentBlock::Text(text)],
        ))
    }
}

impl ChatSession {
    /// Sends a user message and asks for the reply as a `T`: JSON of `T`'s schema (from its
    /// `schemars::JsonSchema` derive), parsed. The exchange is kept in the history as text, so
    /// the conversation can go on about it.
    ///
    /// The reply is constrained through Converse's `outputConfig` on the models that support it
    /// and through a tool call the model is made to make on the others (see
    /// [`StructuredMode`]; the session's [`structured_mode`](crate::ChatSessionBuilder::structured_mode)).
    ///
    /// ```no_run
    /// # async fn run(mut session: bedrock_chat::ChatSession) -> bedrock_chat::Result<()> {
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct City {
    ///     name: String,
    ///     population: u64,
    /// }
    ///
    /// let city: City = session.send_structured("The largest city in France?").await?;
    /// println!("{} has {} people", city.name, city.population);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::StructuredReply`] when the reply does not parse as `T`
    /// (its text in [`Error::raw_reply`]; the exchange is kept); [`Error::InvalidInput`] when
    /// `T`'s schema is not an object's (wrap the value in a struct).
    pub async fn send_structured<T: DeserializeOwned + JsonSchema>(
        &mut self,
        text: impl Into<String>,
    ) -> Result<T> {
        let response = self.send_for_schema(text, OutputSchema::of::<T>()).await?;
        structured::parse(&response.text())
    }

    /// Sends a user message and asks for a reply that is JSON of `schema`, as
    /// [`send_structured`](Self::send_structured) does, for a schema known only at run time;
    /// the reply's [`text`](ChatResponse::text) is the JSON.
    ///
    /// # Errors
    ///
    /// As [`send_structured`](Self::send_structured), without the parse.
    pub async fn send_for_schema(
        &mut self,
        text: impl Into<String>,
        schema: OutputSchema,
    ) -> Result<ChatResponse> {
        if schema.schema().get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(Error::invalid_input(format!(
                "the schema `{}` does not describe a JSON object; a structured reply must be one, \
                 so wrap the value in a struct",
                schema.name()
            )));
        }
        let user = super::user_message(text.into())?;
        let mode = self.settings.structured_mode;
        let via_tool = match mode {
            StructuredMode::ToolCall => true,
            StructuredMode::OutputConfig => false,
            _ => {
                self.output_config_refused
                    || !structured::supports_output_config(&self.settings.model_id)
            }
        };
        let keep = self.history.len();
        let user = self.grounded(user).await?;
        let turn = StructuredTurn {
            schema: schema.clone(),
            via_tool,
        };
        match self.run_turn_as(keep, user.clone(), Some(turn)).await {
            Err(error) if mode == StructuredMode::Auto && !via_tool && refuses_output(&error) => {
                tracing::info!(model = %self.settings.model_id, "outputConfig refused; structured replies use a tool call");
                self.output_config_refused = true;
                let turn = StructuredTurn {
                    schema,
                    via_tool: true,
                };
                self.run_turn_as(keep, user, Some(turn)).await
            }
            other => other,
        }
    }
}

/// Whether Bedrock refused the request for its `outputConfig` (a model without structured
/// output): a validation error that names it.
fn refuses_output(error: &Error) -> bool {
    let Error::InvalidRequest { .. } = error else {
        return false;
    };
    let message = error
        .service_message()
        .unwrap_or_default()
        .to_ascii_lowercase();
    [
        "outputconfig",
        "output_config",
        "structured output",
        "json_schema",
        "output format",
    ]
    .iter()
    .any(|hint| message.contains(hint))
}
