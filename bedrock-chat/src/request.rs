//! What is sent to the model: the conversation and the settings for one reply.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::caching::{CachePoints, MAX_CACHE_POINTS};
use crate::error::{Error, Result};
use crate::guardrail::GuardrailConfig;
use crate::message::{Message, Role};
use crate::structured::OutputSchema;
use crate::tier::{Latency, ServiceTier};
use crate::tool_spec::ToolConfig;

/// The largest message, in bytes of text, that the crate will send. Claude's context window is
/// 200,000 tokens (roughly 800 KB of English text); anything bigger cannot be answered, so it is
/// rejected before a request instead of after an upload.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Settings for how the model generates a reply.
///
/// Unset values are left to Bedrock's (the model's) defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// The most tokens the reply may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Randomness, from 0 (focused) to 1 (varied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Strings that end the reply when the model produces them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

impl InferenceConfig {
    /// Settings that leave everything to the model's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the maximum number of tokens in a reply. Default is the model's own limit.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the temperature, from 0 to 1. Default is the model's own (1.0 for Claude).
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets top-p, from 0 to 1. Default is the model's own.
    #[must_use]
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Adds a stop sequence. Default is none.
    #[must_use]
    pub fn stop_sequence(mut self, stop: impl Into<String>) -> Self {
        self.stop_sequences.push(stop.into());
        self
    }

    /// Checks the values against the ranges Bedrock accepts, so a bad value fails here with a
    /// clear message instead of as a `ValidationException` after a round trip.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (or [`Error::Config`] for an empty model id) naming the first rule
    /// broken.
    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == Some(0) {
            return Err(Error::invalid_input(
                "max tokens must be at least 1 (it limits the length of the reply)",
            ));
        }
        if let Some(t) = self.temperature
            && !(0.0..=1.0).contains(&t)
        {
            return Err(Error::invalid_input(format!(
                "temperature must be between 0 and 1, got {t}"
            )));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(Error::invalid_input(format!(
                "top-p must be between 0 and 1, got {p}"
            )));
        }
        if self.stop_sequences.iter().any(|s| s.is_empty()) {
            return Err(Error::invalid_input("a stop sequence must not be empty"));
        }
        Ok(())
    }
}

/// One request to the model: the model id, the optional system prompt, the conversation sent as
/// context (what the session's [`ContextPolicy`](crate::ContextPolicy) allows, ending with the
/// user's new message) and the inference settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRequest {
    // Shared: a session sends the same id with every request.
    model_id: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Message>,
    #[serde(default)]
    inference: InferenceConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig>,
    #[serde(default, skip_serializing_if = "CachePoints::is_empty")]
    cache_points: CachePoints,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    guardrail: Option<GuardrailConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_schema: Option<OutputSchema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_tier: Option<ServiceTier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cite_documents: bool,
}

impl ChatRequest {
    /// A request for `model_id` with the given conversation, no system prompt and default settings.
    pub fn new(model_id: impl Into<String>, messages: Vec<Message>) -> Self {
        Self::for_model(model_id.into().into(), messages)
    }

    /// [`new`](Self::new) with a model id the caller shares rather than copies.
    pub(crate) fn for_model(model_id: Arc<str>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model_id,
            system: None,
            messages,
            inference: InferenceConfig::default(),
            tool_config: None,
            cache_points: CachePoints::default(),
            guardrail: None,
            thinking_budget: None,
            output_schema: None,
            service_tier: None,
            latency: None,
            cite_documents: false,
        }
    }

    /// Asks the model to cite every document the request carries (each document's own
    /// [`Attachment::with_citations`](crate::Attachment::with_citations) asks for one). Default
    /// is off.
    #[must_use]
    pub fn with_cited_documents(mut self, on: bool) -> Self {
        self.cite_documents = on;
        self
    }

    /// Whether every document is to be cited.
    pub fn cites_documents(&self) -> bool {
        self.cite_documents
    }

    /// Makes the reply JSON of `schema` (Converse's `outputConfig`; see
    /// [`OutputSchema`]). Default is none (free text).
    #[must_use]
    pub fn with_output_schema(mut self, schema: Option<OutputSchema>) -> Self {
        self.output_schema = schema;
        self
    }

    /// The schema the reply must follow, if any.
    pub fn output_schema(&self) -> Option<&OutputSchema> {
        self.output_schema.as_ref()
    }

    /// Sets the service tier. Default is none (Bedrock's default).
    #[must_use]
    pub fn with_service_tier(mut self, tier: Option<ServiceTier>) -> Self {
        self.service_tier = tier;
        self
    }

    /// The service tier asked for, if any.
    pub fn service_tier(&self) -> Option<ServiceTier> {
        self.service_tier
    }

    /// Sets the latency profile. Default is none (standard).
    #[must_use]
    pub fn with_latency(mut self, latency: Option<Latency>) -> Self {
        self.latency = latency;
        self
    }

    /// The latency profile asked for, if any.
    pub fn latency(&self) -> Option<Latency> {
        self.latency
    }

    /// Lets the model reason before it answers (extended thinking), in up to `budget` tokens.
    /// Default is none.
    #[must_use]
    pub fn with_thinking_budget(mut self, budget: Option<u32>) -> Self {
        self.thinking_budget = budget;
        self
    }

    /// The extended-thinking budget, in tokens, if thinking is on.
    pub fn thinking_budget(&self) -> Option<u32> {
        self.thinking_budget
    }

    /// Sets the guardrail that checks the request and the reply. Default is none.
    #[must_use]
    pub fn with_guardrail(mut self, guardrail: Option<GuardrailConfig>) -> Self {
        self.guardrail = guardrail;
        self
    }

    /// The guardrail, if any.
    pub fn guardrail(&self) -> Option<&GuardrailConfig> {
        self.guardrail.as_ref()
    }

    /// Sets where the request's prompt-cache points go. Default is none.
    #[must_use]
    pub fn with_cache_points(mut self, cache_points: CachePoints) -> Self {
        self.cache_points = cache_points;
        self
    }

    /// Where the request's prompt-cache points go.
    pub fn cache_points(&self) -> &CachePoints {
        &self.cache_points
    }

    /// Sets the tools the model may call, and how it must choose. Default is none; a request
    /// whose conversation holds tool calls or results must have one (Bedrock refuses it
    /// otherwise), which [`validate`](Self::validate) checks.
    #[must_use]
    pub fn with_tool_config(mut self, tool_config: Option<ToolConfig>) -> Self {
        self.tool_config = tool_config;
        self
    }

    /// The tools the model may call, if any.
    pub fn tool_config(&self) -> Option<&ToolConfig> {
        self.tool_config.as_ref()
    }

    /// Sets the system prompt. Default is none.
    #[must_use]
    pub fn with_system(mut self, system: Option<String>) -> Self {
        self.system = system;
        self
    }

    /// Sets the inference settings. Default is [`InferenceConfig::default`].
    #[must_use]
    pub fn with_inference(mut self, inference: InferenceConfig) -> Self {
        self.inference = inference;
        self
    }

    /// The model (or inference profile) id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The request's message list, given back for reuse; the request is left with none.
    pub(crate) fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.messages)
    }

    /// The model id as the session shares it, for its usage records.
    pub(crate) fn shared_model_id(&self) -> &Arc<str> {
        &self.model_id
    }

    /// The system prompt, if any.
    pub fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    /// The conversation, oldest first, ending with the user's new message.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The inference settings.
    pub fn inference(&self) -> &InferenceConfig {
        &self.inference
    }

    /// Checks every rule Bedrock enforces with a `ValidationException`: a model id, a conversation
    /// that starts and ends with the user and alternates roles, no blank content, and settings in
    /// range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (or [`Error::Config`] for an empty model id) naming the first rule
    /// broken.
    pub fn validate(&self) -> Result<()> {
        validate_conversation(&self.messages, Ending::User)?;
        if self.tool_config.is_none() && self.messages.iter().any(Message::has_tool_blocks) {
            return Err(Error::invalid_input(
                "the conversation holds tool calls, so the request must define the tools \
                 (Bedrock: \"The toolConfig field must be defined when using toolUse and \
                 toolResult content blocks\")",
            ));
        }
        check_model_id(&self.model_id)?;
        if let Some(tools) = &self.tool_config {
            tools.validate()?;
        }
        if let Some(guardrail) = &self.guardrail {
            guardrail.validate()?;
        }
        check_thinking(self.thinking_budget, &self.inference)?;
        let points = &self.cache_points;
        if points.count() > MAX_CACHE_POINTS {
            return Err(Error::invalid_input(format!(
                "a request may have at most {MAX_CACHE_POINTS} cache points, not {}",
                points.count()
            )));
        }
        if (points.system && self.system.is_none())
            || (points.tools && self.tool_config.is_none())
            || points
                .after_messages
                .iter()
                .any(|&i| i >= self.messages.len())
        {
            return Err(Error::invalid_input(
                "a cache point is placed after something the request does not have",
            ));
        }
        if self.system.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(Error::invalid_input(
                "the system prompt is blank; remove it or give it text",
            ));
        }
        self.inference.validate()
    }
}

impl ChatRequest {
    /// Checks the request once ([`validate`](Self::validate)) and gives it back as a
    /// [`CheckedRequest`], the only kind [`converse_once`](crate::converse_once) and
    /// [`converse_stream_once`](crate::converse_stream_once) send.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn checked(self) -> Result<CheckedRequest> {
        self.validate()?;
        Ok(CheckedRequest(self))
    }
}

/// A [`ChatRequest`] that has passed every rule Bedrock enforces, made by
/// [`ChatRequest::checked`].
///
/// A gateway checks a caller's request as soon as it has converted it, to refuse a bad one
/// before it counts against any limit; the type carries that check to the call, so it is made
/// once, and a request cannot reach Bedrock unchecked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRequest(ChatRequest);

impl CheckedRequest {
    /// The request, to read.
    pub fn request(&self) -> &ChatRequest {
        &self.0
    }

    /// The request, to change (it must then be checked again).
    pub fn into_inner(self) -> ChatRequest {
        self.0
    }
}

impl std::ops::Deref for CheckedRequest {
    type Target = ChatRequest;

    fn deref(&self) -> &ChatRequest {
        &self.0
    }
}

/// The smallest extended-thinking budget Claude accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// The one check of an extended-thinking budget against the inference settings: at least
/// [`MIN_THINKING_BUDGET`], below max tokens (the reply's thinking and answer share them), and no
/// temperature or top-p other than the defaults, which Claude refuses with thinking on.
pub(crate) fn check_thinking(budget: Option<u32>, inference: &InferenceConfig) -> Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    if budget < MIN_THINKING_BUDGET {
        return Err(Error::invalid_input(format!(
            "the thinking budget must be at least {MIN_THINKING_BUDGET} tokens, not {budget}"
        )));
    }
    if let Some(max) = inference.max_tokens
        && budget >= max
    {
        return Err(Error::invalid_input(format!(
            "the thinking budget ({budget} tokens) must be less than max tokens ({max}), which \
             the reasoning and the answer share; raise max tokens or lower the budget"
        )));
    }
    if inference.temperature.is_some_and(|t| t != 1.0) || inference.top_p.is_some() {
        return Err(Error::invalid_input(
            "with extended thinking, leave temperature and top-p unset (Claude refuses them)",
        ));
    }
    Ok(())
}

/// The one check of a model id, wherever one is given.
pub(crate) fn check_model_id(model_id: &str) -> Result<()> {
    if model_id.trim().is_empty() {
        return Err(Error::config(
            "the model id is empty; give a model or inference profile id such as \
             global.anthropic.claude-sonnet-4-6 (--model, BEDROCK_MODEL_ID)",
        ));
    }
    Ok(())
}

/// The tool rules Bedrock enforces at message `index`: tool calls only from the assistant and
/// results only from the user; every call answered, exactly once, in the very next message, and
/// nothing else answered there.
fn check_tool_exchange(messages: &[Message], index: usize) -> Result<()> {
    let message = &messages[index];
    // The common case, checked without allocating: no tool blocks here or in the answer.
    let next_has_tools = messages
        .get(index + 1)
        .is_some_and(Message::has_tool_blocks);
    if !message.has_tool_blocks() && !next_has_tools {
        return Ok(());
    }
    match message.role() {
        Role::Assistant => {
            if message.tool_results().next().is_some() {
                return Err(Error::invalid_input(format!(
                    "message {index} is from the assistant but holds tool results"
                )));
            }
            if let Some(next) = messages.get(index + 1) {
                let mut calls: Vec<&str> = message.tool_uses().map(|c| c.id.as_str()).collect();
                let mut answers: Vec<&str> = next
                    .tool_results()
                    .map(|r| r.tool_use_id.as_str())
                    .collect();
                calls.sort_unstable();
                answers.sort_unstable();
                if calls != answers {
                    return Err(Error::invalid_input(format!(
                        "message {} must answer exactly the tool calls of message {index} \
                         ({calls:?}) with one result each, but answers {answers:?}",
                        index + 1
                    )));
                }
            }
        }
        Role::User => {
            if message.tool_uses().next().is_some() {
                return Err(Error::invalid_input(format!(
                    "message {index} is from the user but holds tool calls"
                )));
            }
            if index == 0 && message.is_tool_results() {
                return Err(Error::invalid_input(
                    "the conversation starts with tool results that answer no call",
                ));
            }
        }
    }
    Ok(())
}

/// Attachments only in user messages, within Bedrock's per-message limits.
fn check_attachments(message: &Message, index: usize) -> Result<()> {
    let (images, documents) =
        message.attachments().fold(
            (0, 0),
            |(i, d), a| if a.is_image() { (i + 1, d) } else { (i, d + 1) },
        );
    if images + documents == 0 {
        return Ok(());
    }
    if message.role() == Role::Assistant {
        return Err(Error::invalid_input(format!(
            "message {index} is from the assistant but holds attachments"
        )));
    }
    crate::attachment::check_message_attachments(
        images,
        documents,
        !message.text().trim().is_empty(),
    )
}

/// Which role a conversation must end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A request: the last message is the user's new one.
    User,
    /// A stored history: whole exchanges only.
    Assistant,
}

/// Checks that `messages` is a conversation Bedrock accepts: it starts with the user, roles
/// alternate, no message is blank or oversized, and it ends with the given role.
pub(crate) fn validate_conversation(messages: &[Message], ending: Ending) -> Result<()> {
    for (index, message) in messages.iter().enumerate() {
        let expected = if index % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        if message.role() != expected {
            return Err(Error::invalid_input(format!(
                "message {index} is from the {} but should be from the {expected}: a conversation \
                 starts with the user and alternates",
                message.role()
            )));
        }
        if message.has_blank_content() {
            return Err(Error::invalid_input(format!(
                "message {index} ({}) is empty",
                message.role()
            )));
        }
        check_tool_exchange(messages, index)?;
        check_attachments(message, index)?;
        if message.text_len() > MAX_MESSAGE_BYTES {
            return Err(Error::invalid_input(format!(
                "message {index} has {} bytes of text, more than the {MAX_MESSAGE_BYTES} a request may carry",
                message.text_len()
            )));
        }
    }
    match (messages.last().map(Message::role), ending) {
        (None, Ending::User) => Err(Error::invalid_input("the conversation has no message")),
        (Some(Role::Assistant), Ending::User) => Err(Error::invalid_input(
            "the conversation must end with a user message",
        )),
        (Some(Role::User), Ending::Assistant) => Err(Error::invalid_input(
            "the conversation ends with an unanswered user message",
        )),
        (Some(Role::Assistant), Ending::Assistant)
            if messages
                .last()
                .is_some_and(|m| m.tool_uses().next().is_some()) =>
        {
            Err(Error::invalid_input(
                "the conversation ends with tool calls that were never answered",
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_are_rejected_with_the_range() {
        let err = InferenceConfig::new()
            .temperature(7.0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("between 0 and 1"), "{err}");
        assert!(InferenceConfig::new().max_tokens(0).validate().is_err());
        assert!(InferenceConfig::new().top_p(-0.1).validate().is_err());
        assert!(InferenceConfig::new().top_p(f32::NAN).validate().is_err());
        assert!(
            InferenceConfig::new()
                .max_tokens(1)
                .temperature(0.0)
                .top_p(1.0)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn conversation_rules_match_bedrock() {
        let ok = [
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
        ];
        assert!(validate_conversation(&ok, Ending::User).is_ok());
        assert!(validate_conversation(&ok[..2], Ending::Assistant).is_ok());
        assert!(validate_conversation(&[], Ending::Assistant).is_ok());
        assert!(validate_conversation(&[], Ending::User).is_err());
        assert!(validate_conversation(&ok[1..], Ending::User).is_err());
        assert!(
            validate_conversation(&[Message::user("a"), Message::user("b")], Ending::User).is_err()
        );
        assert!(validate_conversation(&[Message::user(" ")], Ending::User).is_err());
        assert!(validate_conversation(&ok[..2], Ending::User).is_err());
        assert!(validate_conversation(&ok, Ending::Assistant).is_err());
    }

    #[test]
    fn oversized_messages_are_rejected() {
        let big = Message::user("x".repeat(MAX_MESSAGE_BYTES + 1));
        let err = validate_conversation(&[big], Ending::User).unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
    }
}
