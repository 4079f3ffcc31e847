//! Conversions between the crate's types and the AWS SDK's.

use std::time::Duration;

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types as sdk;

use crate::error::{Error, Result};
use crate::event_stream::StreamEvent;
use crate::message::{ContentBlock, Message, Role};
use crate::request::{ChatRequest, InferenceConfig};
use crate::response::{ChatResponse, StopReason, TokenUsage};

/// The request's messages, system prompt and inference settings in the SDK's types.
pub(super) struct SdkRequest {
    pub(super) messages: Vec<sdk::Message>,
    pub(super) system: Option<Vec<sdk::SystemContentBlock>>,
    pub(super) inference: Option<sdk::InferenceConfiguration>,
}

pub(super) fn to_sdk(request: &ChatRequest) -> Result<SdkRequest> {
    let messages = request
        .messages()
        .iter()
        .map(message_to_sdk)
        .collect::<Result<Vec<_>>>()?;
    let system = request
        .system()
        .map(|text| vec![sdk::SystemContentBlock::Text(text.to_string())]);
    Ok(SdkRequest {
        messages,
        system,
        inference: inference_to_sdk(request.inference())?,
    })
}

fn message_to_sdk(message: &Message) -> Result<sdk::Message> {
    let role = match message.role() {
        Role::User => sdk::ConversationRole::User,
        Role::Assistant => sdk::ConversationRole::Assistant,
    };
    let content = message
        .content()
        .iter()
        .map(|block| match block {
            ContentBlock::Text(text) => sdk::ContentBlock::Text(text.clone()),
        })
        .collect();
    sdk::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(|e| Error::Config {
            message: "a message could not be converted for the SDK".to_string(),
            source: Some(e.into()),
        })
}

fn inference_to_sdk(config: &InferenceConfig) -> Result<Option<sdk::InferenceConfiguration>> {
    if config == &InferenceConfig::default() {
        return Ok(None);
    }
    let max_tokens = config
        .max_tokens
        .map(|n| {
            i32::try_from(n)
                .map_err(|_| Error::invalid_input(format!("max tokens {n} is too large")))
        })
        .transpose()?;
    Ok(Some(
        sdk::InferenceConfiguration::builder()
            .set_max_tokens(max_tokens)
            .set_temperature(config.temperature)
            .set_top_p(config.top_p)
            .set_stop_sequences(
                (!config.stop_sequences.is_empty()).then(|| config.stop_sequences.clone()),
            )
            .build(),
    ))
}

pub(super) fn response_from_sdk(output: &ConverseOutput, request_id: Option<&str>) -> ChatResponse {
    let text = match output.output() {
        Some(sdk::ConverseOutput::Message(message)) => text_of(message.content()),
        _ => String::new(),
    };
    ChatResponse::new(
        Message::assistant(text),
        stop_reason_from_sdk(output.stop_reason()),
        output.usage().map(usage_from_sdk).unwrap_or_default(),
    )
    .with_latency(output.metrics().map(|m| latency(m.latency_ms())))
    .with_request_id(request_id.map(str::to_string))
}

/// The text blocks of a reply, joined. Blocks of other kinds (reasoning, tool use) are not text
/// the conversation can carry as a plain message yet, so they are left out.
fn text_of(blocks: &[sdk::ContentBlock]) -> String {
    blocks
        .iter()
        .filter_map(|block| match block {
            sdk::ContentBlock::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn stop_reason_from_sdk(reason: &sdk::StopReason) -> StopReason {
    StopReason::from(reason.as_str())
}

fn usage_from_sdk(usage: &sdk::TokenUsage) -> TokenUsage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    TokenUsage::new(count(usage.input_tokens()), count(usage.output_tokens())).with_cache(
        usage.cache_read_input_tokens().map(count),
        usage.cache_write_input_tokens().map(count),
    )
}

fn latency(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The crate's event for an SDK stream event, or `None` for events that carry nothing a caller
/// needs (message and block starts and stops, non-text deltas, unknown events).
pub(super) fn event_from_sdk(event: sdk::ConverseStreamOutput) -> Option<StreamEvent> {
    match event {
        sdk::ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta {
            Some(sdk::ContentBlockDelta::Text(text)) => Some(StreamEvent::TextDelta(text)),
            _ => None,
        },
        sdk::ConverseStreamOutput::MessageStop(stop) => Some(StreamEvent::MessageStop(
            stop_reason_from_sdk(&stop.stop_reason),
        )),
        sdk::ConverseStreamOutput::Metadata(metadata) => Some(StreamEvent::Metadata {
            usage: metadata
                .usage
                .as_ref()
                .map(usage_from_sdk)
                .unwrap_or_default(),
            latency: metadata.metrics.as_ref().map(|m| latency(m.latency_ms)),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_send_no_inference_config() {
        let request = ChatRequest::new("m", vec![Message::user("hi")]);
        let sdk = to_sdk(&request).unwrap();
        assert!(sdk.inference.is_none());
        assert!(sdk.system.is_none());
        assert_eq!(sdk.messages.len(), 1);
    }

    #[test]
    fn settings_and_system_prompt_are_carried() {
        let request = ChatRequest::new("m", vec![Message::user("hi")])
            .with_system(Some("brief".into()))
            .with_inference(
                InferenceConfig::new()
                    .max_tokens(5)
                    .temperature(0.5)
                    .stop_sequence("END"),
            );
        let sdk = to_sdk(&request).unwrap();
        let inference = sdk.inference.unwrap();
        assert_eq!(inference.max_tokens(), Some(5));
        assert_eq!(inference.temperature(), Some(0.5));
        assert_eq!(inference.stop_sequences(), ["END"]);
        assert_eq!(sdk.system.unwrap().len(), 1);
    }

    #[test]
    fn text_is_joined_and_other_blocks_are_skipped() {
        let blocks = [
            sdk::ContentBlock::Text("a".into()),
            sdk::ContentBlock::Text("b".into()),
        ];
        assert_eq!(text_of(&blocks), "ab");
    }
}
