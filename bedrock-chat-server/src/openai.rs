//! `/v1/chat/completions` and `/v1/models`: the OpenAI chat-completions API over Bedrock, so the
//! `openai` SDKs and the tools built on them can talk to Claude through this server.
//!
//! Stateless: the client sends the whole conversation each time. Off unless switched on
//! (`--openai-api`), and never open to the network without a token (the CLI refuses to start
//! that way): an open gateway spends its owner's AWS money for anyone who finds it.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bedrock_chat::{
    Attachment, ChatRequest, ContentBlock, InferenceConfig, Message, Role, StopReason, StreamEvent,
    TokenUsage, converse_once, converse_stream_once, estimate_usage,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::admission::{Permit, Visitor, admit_turn};
use crate::client_addr::ClientIp;
use crate::error::ApiError;
use crate::openai_tools::{
    InTool, InToolCall, calls_to_blocks, reply_tool_calls, tool_config, tool_message_block,
};
use crate::state::AppState;

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug)]
pub struct OpenAiError(ApiError, Option<&'static str>);

impl OpenAiError {
    fn invalid(message: impl Into<String>, param: &'static str) -> Self {
        OpenAiError(ApiError::bad_request(message), Some(param))
    }

    fn error_type(&self) -> &'static str {
        match self.0.status.as_u16() {
            400 | 413 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            _ => "api_error",
        }
    }

    fn body(&self) -> Value {
        json!({"error": {
            "message": self.0.message,
            "type": self.error_type(),
            "param": self.1,
            "code": self.0.kind,
        }})
    }
}

impl<E: Into<ApiError>> From<E> for OpenAiError {
    fn from(error: E) -> Self {
        OpenAiError(error.into(), None)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.0.status, Json(self.body())).into_response();
        crate::error::set_retry_after(&mut response, self.0.retry_after);
        response
    }
}

/// The body of `POST /v1/chat/completions`, as far as it is understood.
#[derive(Deserialize)]
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
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Option<Vec<InToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    image_url: Option<ImageUrl>,
}

#[derive(Deserialize)]
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

/// The Bedrock request for an OpenAI one: system messages become the system prompt,
/// consecutive messages of one role are merged (Bedrock requires alternating roles).
fn to_request(
    state: &AppState,
    body: CompletionRequest,
) -> Result<(ChatRequest, String, bool, bool), OpenAiError> {
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
    let request = ChatRequest::new(model.clone(), messages)
        .with_system(system)
        .with_inference(inference)
        .with_tool_config(tool_config);
    // What Bedrock would refuse (a call without its result, say) is a 400 here, with the reason.
    request
        .validate()
        .map_err(|e| OpenAiError::invalid(e.to_string(), "messages"))?;
    let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
    Ok((request, model, body.stream, include_usage))
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
    Err(OpenAiError(
        ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "the model {requested:?} is not available on this server; GET /v1/models lists those that are"
            ),
        ),
        Some("model"),
    ))
}

fn text_block(text: String) -> Vec<ContentBlock> {
    if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![ContentBlock::Text(text)]
    }
}

/// A reply as an OpenAI assistant message: its text (`null` when it only calls tools) and its
/// tool calls.
fn assistant_message(message: &Message) -> Value {
    let text = message.text();
    let mut reply = json!({
        "role": "assistant",
        "content": if text.is_empty() && message.tool_uses().next().is_some() { Value::Null } else { json!(text) },
    });
    if let Some(calls) = reply_tool_calls(message) {
        reply["tool_calls"] = calls;
    }
    reply
}

fn finish_reason(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => "content_filter",
        _ => "stop",
    }
}

fn usage_json(usage: &TokenUsage) -> Value {
    let prompt = usage.input_tokens
        + usage.cache_read_input_tokens.unwrap_or(0)
        + usage.cache_write_input_tokens.unwrap_or(0);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens.unwrap_or(0)},
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What `usage` costs at the server's prices (`None` for an unpriced model).
fn price(state: &AppState, model: &str, usage: &TokenUsage) -> Option<f64> {
    state
        .settings()
        .prices
        .price_for(model)
        .map(|price| price.cost(usage))
}

/// `POST /v1/chat/completions`.
///
/// Callers are limited by their address and, with named API keys, by their key (and the whole
/// server's limits): a single shared token is a gate, not an identity, so one caller spending
/// cannot lock out the others, and rotating `Authorization` values gains nothing.
pub async fn chat_completions(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    caller: Option<axum::Extension<ApiCaller>>,
    body: Result<Json<CompletionRequest>, JsonRejection>,
) -> Result<Response, OpenAiError> {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => {
            return Err(OpenAiError(
                ApiError::new(rejection.status(), "invalid_body", rejection.body_text()),
                None,
            ));
        }
    };
    let (request, model, stream, include_usage) = to_request(&state, body)?;
    let key = caller.and_then(|axum::Extension(ApiCaller(key))| key);
    let visitor = Visitor::api(key.as_deref(), address);
    let most = price(&state, &model, &estimate_usage(&request, None));
    let permit = match admit_turn(&state, &visitor, most.unwrap_or(0.0)).await {
        Ok(permit) => permit,
        Err(mut refused) => {
            // OpenAI's clients know 429 for "you have used your quota".
            if refused.status == StatusCode::PAYMENT_REQUIRED {
                refused.status = StatusCode::TOO_MANY_REQUESTS;
            }
            return Err(refused.into());
        }
    };
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = now();
    // The call runs on a task of its own that owns the permit, so whatever the client does
    // (waits, hangs up before the reply or in the middle of it), what Bedrock bills is charged.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let call = Call {
        state: state.clone(),
        request,
        model: model.clone(),
        permit,
        meter: crate::telemetry::TurnMeter::start("openai"),
        id: id.clone(),
        created,
        include_usage,
    };
    if stream {
        tokio::spawn(call.stream(sender));
    } else {
        tokio::spawn(call.whole(sender));
    }
    // The first item says whether the reply started: an error before it is the response's
    // status; after it, an error is a chunk of the stream.
    match receiver.recv().await {
        Some(Ok(Out::Whole(body))) => Ok(Json(body).into_response()),
        Some(Ok(Out::Chunk(first))) => {
            let rest = UnboundedReceiverStream::new(receiver).map(|item| {
                Ok::<_, Infallible>(match item {
                    Ok(Out::Chunk(event)) => event,
                    Ok(Out::Whole(body)) => Event::default().data(body.to_string()),
                    Err(error) => Event::default().data(error.body().to_string()),
                })
            });
            let events =
                futures::stream::once(async move { Ok::<_, Infallible>(first) }).chain(rest);
            Ok((
                [("x-accel-buffering", "no")],
                Sse::new(events).keep_alive(KeepAlive::default()),
            )
                .into_response())
        }
        Some(Err(error)) => Err(error),
        None => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the reply ended without an answer",
        )
        .into()),
    }
}

/// What a call sends its handler: a whole reply's body, or the stream's chunks.
enum Out {
    Whole(Value),
    Chunk(Event),
}

/// One call to Bedrock on `/v1`, run on a task of its own.
struct Call {
    state: AppState,
    request: ChatRequest,
    model: String,
    permit: Permit,
    meter: crate::telemetry::TurnMeter,
    id: String,
    created: u64,
    include_usage: bool,
}

type Sender = tokio::sync::mpsc::UnboundedSender<Result<Out, OpenAiError>>;

impl Call {
    fn observer() -> bedrock_chat::RetryObserver {
        std::sync::Arc::new(|notice| {
            crate::telemetry::retry(
                ApiError::from(notice.error).kind,
                notice.error.is_throttling(),
            );
        })
    }

    /// Charges `usage` (or nothing, for a call Bedrock refused before it began) and records
    /// the turn.
    async fn finish(mut self, outcome: &str, usage: TokenUsage) -> Option<f64> {
        let cost = price(&self.state, &self.model, &usage);
        self.permit.settle(cost.unwrap_or(0.0)).await;
        self.meter
            .finish(outcome, usage.input_tokens, usage.output_tokens, cost);
        cost
    }

    async fn whole(mut self, sender: Sender) {
        let client = self.state.client();
        let policy = self.state.settings().retry_policy.clone();
        let observer = Self::observer();
        let answer = converse_once(client.as_ref(), &self.request, &policy, Some(&observer)).await;
        match answer {
            Ok(response) => {
                self.meter.first_token();
                let usage = response.usage();
                let body = json!({
                    "id": self.id,
                    "object": "chat.completion",
                    "created": self.created,
                    "model": self.model,
                    "choices": [{
                        "index": 0,
                        "message": assistant_message(response.message()),
                        "finish_reason": finish_reason(response.stop_reason()),
                    }],
                    "usage": usage_json(&usage),
                });
                self.finish("ok", usage).await;
                let _ = sender.send(Ok(Out::Whole(body)));
            }
            Err(error) => {
                // A whole reply that failed was not billed (Bedrock bills only replies it
                // began, and a whole reply is all or nothing).
                let kind = ApiError::from(&error).kind;
                self.finish(kind, TokenUsage::default()).await;
                let _ = sender.send(Err(OpenAiError::from(error)));
            }
        }
    }

    async fn stream(mut self, sender: Sender) {
        let client = self.state.client();
        let policy = self.state.settings().retry_policy.clone();
        let observer = Self::observer();
        let opened =
            converse_stream_once(client.as_ref(), &self.request, &policy, Some(&observer)).await;
        let mut events = match opened {
            Ok(events) => events,
            Err(error) => {
                let kind = ApiError::from(&error).kind;
                self.finish(kind, TokenUsage::default()).await;
                let _ = sender.send(Err(OpenAiError::from(error)));
                return;
            }
        };
        self.meter.first_token();
        let (id, created, model) = (self.id.clone(), self.created, self.model.clone());
        let chunk = |delta: Value, finish: Option<&str>| {
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            })
        };
        let send =
            |value: Value| sender.send(Ok(Out::Chunk(Event::default().data(value.to_string()))));
        let mut stop = None;
        let mut usage = None;
        let mut text_bytes = 0;
        // OpenAI numbers a reply's tool calls from 0; Bedrock's block indexes count text too.
        let mut call_numbers: Vec<u32> = Vec::new();
        let mut gone = send(chunk(json!({"role": "assistant", "content": ""}), None)).is_err();
        let mut failed = None;
        while !gone && let Some(event) = events.next().await {
            let delta = match event {
                Ok(StreamEvent::ToolUseStart { index, id, name }) => {
                    call_numbers.push(index);
                    text_bytes += name.len();
                    Some(json!({"tool_calls": [{
                        "index": call_numbers.len() - 1,
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }]}))
                }
                Ok(StreamEvent::ToolUseInputDelta { index, input }) if !input.is_empty() => {
                    text_bytes += input.len();
                    call_numbers.iter().position(|i| *i == index).map(
                        |n| json!({"tool_calls": [{"index": n, "function": {"arguments": input}}]}),
                    )
                }
                Ok(StreamEvent::TextDelta(text)) => {
                    text_bytes += text.len();
                    Some(json!({"content": text}))
                }
                Ok(StreamEvent::MessageStop(reason)) => {
                    stop = Some(reason);
                    None
                }
                Ok(StreamEvent::Metadata { usage: u, .. }) => {
                    usage = Some(u);
                    None
                }
                Ok(_) => None,
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            };
            if let Some(delta) = delta {
                // The client went away: dropping the stream closes Bedrock's.
                gone = send(chunk(delta, None)).is_err();
            }
        }
        drop(events);
        // Bedrock's own count when its closing metadata arrived; else an estimate from the
        // request and the text it wrote before the client left or the stream failed.
        let billed = usage.unwrap_or_else(|| estimate_usage(&self.request, Some(text_bytes)));
        if let Some(error) = failed {
            let kind = ApiError::from(&error).kind;
            self.finish(kind, billed).await;
            // Never a normal stop: an error chunk, which the clients raise.
            let _ = send(OpenAiError::from(error).body());
            return;
        }
        if gone {
            self.finish("cancelled", billed).await;
            return;
        }
        let include_usage = self.include_usage;
        self.finish("ok", billed).await;
        let reason = stop.as_ref().map_or("stop", finish_reason);
        let _ = send(chunk(json!({}), Some(reason)));
        if include_usage {
            let _ = send(json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage_json(&billed),
            }));
        }
        let _ = sender.send(Ok(Out::Chunk(Event::default().data("[DONE]"))));
    }
}

/// Runs before the OpenAI-compatible endpoint: the bearer token and the request's site (its
/// clients keep no cookie), refused in OpenAI's error shape.
///
/// With named API keys (`--api-keys`), a caller must send one of them (or the server's token);
/// the key's name goes with the request, so each key is limited and charged apart.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let keys = &state.config().api_keys;
    let checked = if keys.is_empty() {
        crate::identity::check_token(&state, &request).map(|()| None)
    } else {
        let presented = crate::identity::bearer(&request).unwrap_or_default();
        match keys.find(presented) {
            Some(key) => Ok(Some(key.name.clone())),
            None => crate::identity::check_token(&state, &request).and_then(|()| {
                if state.config().auth_token.is_some() {
                    Ok(None)
                } else {
                    Err(crate::identity::unauthorized())
                }
            }),
        }
    };
    let checked = checked.and_then(|key| crate::identity::check_site(&request).map(|()| key));
    match checked {
        Ok(key) => {
            request.extensions_mut().insert(ApiCaller(key));
            next.run(request).await
        }
        Err(error) => crate::identity::refusal(OpenAiError(error, None).into_response()),
    }
}

/// The named API key a `/v1` request came with, if any (set by [`authorize`]).
#[derive(Clone, Debug, Default)]
pub struct ApiCaller(pub Option<String>);

/// `GET /v1/models`: the server's model and the allowed list.
pub async fn models(State(state): State<AppState>) -> impl IntoResponse {
    let created = now();
    let mut ids = vec![state.settings().model_id.clone()];
    for model in &state.config().allowed_models {
        if !ids.contains(model) {
            ids.push(model.clone());
        }
    }
    let data: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": "amazon-bedrock"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}
