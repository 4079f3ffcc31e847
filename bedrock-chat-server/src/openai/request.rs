//! `/v1/chat/completions`' request, in OpenAI's shape, and its conversion to the library's:
//! messages, images (inline `data:` URLs only), tools, and inference settings.

use bedrock_chat::{
    Attachment, ChatRequest, CheckedRequest, ContentBlock, InferenceConfig, Message, OutputSchema,
    Role, StructuredMode, ToolChoice, ToolConfig, ToolSpec,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::OpenAiError;
use super::tools::{InTool, InToolCall, calls_to_blocks, tool_config, tool_message_block};
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// The body of `POST /v1/chat/completions`, as far as it is understood.
#[derive(Deserialize, ToSchema)]
pub struct CompletionRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Option<Stop>,
    n: Option<u32>,
    tools: Option<Vec<InTool>>,
    tool_choice: Option<Value>,
    functions: Option<Value>,
    /// OpenAI's end-user id: within an API key, the reply cache tells askers apart by it.
    #[serde(default)]
    user: Option<String>,
    /// `{"type": "json_schema", "json_schema": {"name", "schema", ...}}` for a reply that is
    /// JSON of the schema, `{"type": "json_object"}` for any JSON object, `{"type": "text"}`.
    #[serde(default)]
    response_format: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, ToSchema)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Option<Vec<InToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize, ToSchema)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    image_url: Option<ImageUrl>,
}

#[derive(Deserialize, ToSchema)]
struct ImageUrl {
    url: String,
}

/// A message's text, its parts joined a line apart, and its images.
fn content_of(
    content: Option<Content>,
    index: usize,
) -> Result<(String, Vec<Attachment>), OpenAiError> {
    let parts = match content {
        None => return Ok((String::new(), Vec::new())),
        Some(Content::Text(text)) => return Ok((text, Vec::new())),
        Some(Content::Parts(parts)) => parts,
    };
    let mut text = String::new();
    let mut images = Vec::new();
    for part in parts {
        match (part.kind.as_str(), part.text, part.image_url) {
            ("text", Some(part), _) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&part);
            }
            ("image_url", _, Some(image)) => {
                let name = format!("messages[{index}] image {}", images.len() + 1);
                images.push(image_from_url(&image.url, &name)?);
            }
            (kind, _, _) => {
                return Err(OpenAiError::invalid(
                    format!(
                        "messages[{index}]: content parts of type {kind:?} are not supported; \
                         send text and image_url parts"
                    ),
                    "messages",
                ));
            }
        }
    }
    Ok((text, images))
}

/// An image sent inline as a `data:` URL (`data:image/png;base64,...`), as OpenAI's clients do
/// for local files. Other URLs are refused rather than fetched: a server that fetched any URL a
/// caller names could be made to reach hosts the caller cannot.
fn image_from_url(url: &str, name: &str) -> Result<Attachment, OpenAiError> {
    use base64::Engine;
    let invalid = |message: String| OpenAiError::invalid(message, "messages");
    let Some((header, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
    else {
        return Err(invalid(format!(
            "{name}: image URLs are not fetched by this server; send the image inline as a data: \
             URL (data:image/png;base64,...)"
        )));
    };
    if !header.ends_with(";base64") {
        return Err(invalid(format!(
            "{name}: the data: URL must be base64 (data:image/png;base64,...)"
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| invalid(format!("{name}: the data: URL's base64 cannot be decoded")))?;
    match Attachment::from_bytes(bytes, name) {
        Ok(attachment) if attachment.is_image() => Ok(attachment),
        Ok(_) => Err(invalid(format!(
            "{name} is not an image; images must be PNG, JPEG, GIF or WebP"
        ))),
        Err(error) => Err(OpenAiError::invalid(error.to_string(), "messages")),
    }
}

/// An OpenAI request as this server runs it.
pub(super) struct Converted {
    /// The Bedrock request, checked as Bedrock would check it.
    pub(super) request: CheckedRequest,
    /// The model it goes to (`default` resolved).
    pub(super) model: String,
    /// Streamed (`"stream": true`).
    pub(super) stream: bool,
    /// A stream's last chunk carries the usage (`stream_options.include_usage`).
    pub(super) include_usage: bool,
    /// The caller's end user (`user`), if it named one.
    pub(super) user: Option<String>,
    /// The tool whose forced call carries a `response_format` reply (a model without
    /// `outputConfig`, or `json_object`): its input is the reply's content.
    pub(super) answer_tool: Option<String>,
}

/// The Bedrock request for an OpenAI one: system messages become the system prompt,
/// consecutive messages of one role are merged (Bedrock requires alternating roles). Checked
/// once, here: what Bedrock would refuse is a 400 naming the field.
pub(super) fn to_request(
    state: &AppState,
    body: CompletionRequest,
) -> Result<Converted, OpenAiError> {
    if body.functions.is_some() {
        return Err(OpenAiError::invalid(
            "`functions` is OpenAI's older form; send `tools` instead",
            "functions",
        ));
    }
    if body.n.is_some_and(|n| n != 1) {
        return Err(OpenAiError::invalid("only n = 1 is supported", "n"));
    }
    let model = resolve_model(state, &body.model)?;
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let count = body.messages.len();
    // The last message, when it was a user's with nothing in it: said so, rather than that the
    // conversation does not end with the user.
    let mut empty_last = None;
    for (index, message) in body.messages.into_iter().enumerate() {
        let (text, images) = content_of(message.content, index)?;
        if !images.is_empty() && message.role != "user" {
            return Err(OpenAiError::invalid(
                format!("messages[{index}]: only user messages may carry images"),
                "messages",
            ));
        }
        let (role, mut blocks) = match message.role.as_str() {
            "system" | "developer" => {
                if !text.trim().is_empty() {
                    system.push(text);
                }
                continue;
            }
            // Images first, as Claude reads best (and as `Message::user_with_attachments` does).
            "user" => {
                let mut blocks: Vec<ContentBlock> =
                    images.into_iter().map(ContentBlock::Attachment).collect();
                blocks.extend(text_block(text));
                (Role::User, blocks)
            }
            "assistant" => {
                let mut blocks = text_block(text);
                let calls = message.tool_calls.unwrap_or_default();
                blocks.extend(
                    calls_to_blocks(calls, index)
                        .map_err(|m| OpenAiError::invalid(m, "messages"))?,
                );
                (Role::Assistant, blocks)
            }
            "tool" => {
                let Some(id) = message.tool_call_id else {
                    return Err(OpenAiError::invalid(
                        format!("messages[{index}] is a tool message without tool_call_id"),
                        "messages",
                    ));
                };
                (Role::User, vec![tool_message_block(id, text)])
            }
            other => {
                return Err(OpenAiError::invalid(
                    format!(
                        "messages[{index}].role {other:?} is not system, user, assistant or tool"
                    ),
                    "messages",
                ));
            }
        };
        if blocks.is_empty() {
            // Bedrock refuses blank blocks; an empty message carries nothing anyway.
            if index + 1 == count && role == Role::User {
                empty_last = Some(index);
            }
            continue;
        }
        // Bedrock requires alternating roles: one role's consecutive messages become one,
        // tool results first (they must answer the calls before anything else is said).
        match messages.last_mut() {
            Some(last) if last.role() == role => {
                let mut content = last.content().to_vec();
                if role == Role::User && blocks.iter().any(|b| b.as_tool_result().is_some()) {
                    let (results, rest): (Vec<_>, Vec<_>) = content
                        .into_iter()
                        .partition(|b| b.as_tool_result().is_some());
                    content = results;
                    content.append(&mut blocks);
                    content.extend(rest);
                } else {
                    // Two texts in a row read as one, a paragraph apart.
                    if let (Some(ContentBlock::Text(before)), Some(ContentBlock::Text(after))) =
                        (content.last_mut(), blocks.first())
                    {
                        before.push_str("\n\n");
                        before.push_str(after);
                        blocks.remove(0);
                    }
                    content.append(&mut blocks);
                }
                *last = Message::new(role, content);
            }
            _ => messages.push(Message::new(role, blocks)),
        }
    }
    if messages
        .first()
        .is_some_and(|m| m.role() == Role::Assistant)
    {
        return Err(OpenAiError::invalid(
            "the first message (after system messages) must be from the user",
            "messages",
        ));
    }
    if let Some(index) = empty_last {
        return Err(OpenAiError::invalid(
            format!("messages[{index}], the last message, has no content; send the user's text"),
            "messages",
        ));
    }
    if !messages.last().is_some_and(|m| m.role() == Role::User) {
        return Err(OpenAiError::invalid(
            "the last message must be from the user (or a tool's result)",
            "messages",
        ));
    }
    let tool_config = tool_config(body.tools, body.tool_choice.as_ref(), &messages)
        .map_err(|(message, param)| OpenAiError::invalid(message, param))?;
    let defaults = &state.settings().inference;
    let mut inference = InferenceConfig::new();
    inference.max_tokens = body
        .max_completion_tokens
        .or(body.max_tokens)
        .or(defaults.max_tokens);
    if let Some(t) = body.temperature
        && t > 1.0
    {
        return Err(OpenAiError::invalid(
            format!("temperature {t} is above 1, the most Claude accepts; use 0 to 1"),
            "temperature",
        ));
    }
    inference.temperature = body.temperature.or(defaults.temperature);
    inference.top_p = body.top_p.or(defaults.top_p);
    inference.stop_sequences = match body.stop {
        None => defaults.stop_sequences.clone(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(many)) => many,
    };
    let system = (!system.is_empty())
        .then(|| system.join("\n\n"))
        .or_else(|| state.settings().system_prompt.clone());
    let mut request = ChatRequest::new(model.clone(), messages)
        .with_system(system)
        .with_inference(inference)
        .with_tool_config(tool_config);
    let mut answer_tool = None;
    match response_format(body.response_format.as_ref(), &model)? {
        None => {}
        Some((schema, StructuredMode::OutputConfig)) => {
            request = request.with_output_schema(Some(schema));
        }
        Some((schema, _)) => {
            // Forced: the reply is the call's input, given back as the message's content.
            let mut tools = request
                .tool_config()
                .map(|c| c.tools.clone())
                .unwrap_or_default();
            tools.push(ToolSpec::new(
                schema.name(),
                schema
                    .description()
                    .unwrap_or("Gives the answer: call it once with the whole answer."),
                schema.schema().clone(),
            ));
            answer_tool = Some(schema.name().to_string());
            request = request.with_tool_config(Some(ToolConfig::new(
                tools,
                ToolChoice::Tool(schema.name().to_string()),
            )));
        }
    }
    // What Bedrock would refuse (a call without its result, say) is a 400 here, with the reason.
    let request = request
        .checked()
        .map_err(|e| OpenAiError::invalid(e.to_string(), "messages"))?;
    Ok(Converted {
        request,
        model,
        stream: body.stream,
        include_usage: body.stream_options.is_some_and(|o| o.include_usage),
        user: body.user,
        answer_tool,
    })
}

/// The name of the tool that carries a `json_object` reply.
const JSON_OBJECT_TOOL: &str = "json_object";

/// What `response_format` asks for: a schema and how to ask for it; `None` for text.
fn response_format(
    format: Option<&Value>,
    model: &str,
) -> Result<Option<(OutputSchema, StructuredMode)>, OpenAiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let invalid = |message: String| OpenAiError::invalid(message, "response_format");
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => {
            // Any object: a tool's input schema may leave it open, constrained decoding may not.
            let schema = OutputSchema::new(
                JSON_OBJECT_TOOL,
                serde_json::json!({"type": "object", "additionalProperties": true}),
            )
            .map_err(|e| invalid(e.to_string()))?
            .with_description(
                "Gives the answer as a JSON object: call it once with the whole answer.",
            );
            Ok(Some((schema, StructuredMode::ToolCall)))
        }
        Some("json_schema") => {
            let spec = format.get("json_schema").ok_or_else(|| {
                invalid("response_format json_schema needs a json_schema object".to_string())
            })?;
            let name = match spec.get("name") {
                None | Some(Value::Null) => "response",
                Some(Value::String(name)) => name.as_str(),
                Some(_) => {
                    return Err(invalid(
                        "response_format.json_schema.name must be a string".to_string(),
                    ));
                }
            };
            let schema = spec
                .get("schema")
                .cloned()
                .ok_or_else(|| invalid("response_format.json_schema needs a schema".to_string()))?;
            let mut schema = OutputSchema::new(name, schema)
                .map_err(|e| invalid(format!("response_format.json_schema: {e}")))?;
            if let Some(description) = spec.get("description").and_then(Value::as_str) {
                schema = schema.with_description(description);
            }
            Ok(Some((schema, StructuredMode::for_model(model))))
        }
        other => Err(invalid(format!(
            "response_format type {:?} is not supported; use text, json_object or json_schema",
            other.unwrap_or("(none)")
        ))),
    }
}

/// `default` is the server's model; anything else must be on the allowed list.
fn resolve_model(state: &AppState, requested: &str) -> Result<String, OpenAiError> {
    let default = &state.settings().model_id;
    if requested == "default" || requested == default {
        return Ok(default.clone());
    }
    if state.config().allowed_models.iter().any(|m| m == requested) {
        return Ok(requested.to_string());
    }
    Err(OpenAiError::about(
        ApiError::new(
            ErrorKind::ModelNotFound,
            format!(
                "the model {requested:?} is not available on this server; GET /v1/models lists those that are"
            ),
        ),
        "model",
    ))
}

fn text_block(text: String) -> Vec<ContentBlock> {
    if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![ContentBlock::Text(text)]
    }
}
