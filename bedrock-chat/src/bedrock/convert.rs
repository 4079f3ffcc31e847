//! Conversions between the crate's types and the AWS SDK's.

use std::time::Duration;

use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::{Blob, Document, Number};
use serde_json::Value;

use crate::attachment::{Attachment, DocumentFormat, ImageFormat};
use crate::citation::{Citation, CitationLocation, CitedText};
use crate::error::{Error, Result};
use crate::event_stream::StreamEvent;
use crate::guardrail::{
    GuardrailConfig, GuardrailFinding, GuardrailTrace, GuardrailTraceMode, StreamProcessingMode,
};
use crate::message::{
    ContentBlock, Message, Reasoning, Role, ToolResultContent, ToolResultStatus, ToolUse,
};
use crate::request::{ChatRequest, InferenceConfig};
use crate::response::{ChatResponse, TokenUsage};
use crate::stop_reason::StopReason;
use crate::structured::OutputSchema;
use crate::tier::CacheTtl;
use crate::tool_spec::{ToolChoice, ToolConfig};

/// The request's messages, system prompt and inference settings in the SDK's types.
pub(super) struct SdkRequest {
    pub(super) messages: Vec<sdk::Message>,
    pub(super) system: Option<Vec<sdk::SystemContentBlock>>,
    pub(super) inference: Option<sdk::InferenceConfiguration>,
    pub(super) tool_config: Option<sdk::ToolConfiguration>,
    pub(super) additional_fields: Option<Document>,
    pub(super) output_config: Option<sdk::OutputConfig>,
    pub(super) service_tier: Option<sdk::ServiceTier>,
    pub(super) performance: Option<sdk::PerformanceConfiguration>,
}

pub(super) fn to_sdk(request: &ChatRequest) -> Result<SdkRequest> {
    let points = request.cache_points();
    let cache_point = || cache_point(points.ttl);
    // Loops into vectors of the right size: collecting an iterator of `Result`s cannot know the
    // length, so the vector grew by doubling, copying what it held each time (callgrind, 100
    // messages: about 250 instructions a message more than the SDK's own clone of a history).
    let mut messages = Vec::with_capacity(request.messages().len());
    for message in request.messages() {
        messages.push(message_to_sdk(message, request.cites_documents())?);
    }
    for &index in &points.after_messages {
        if let Some(message) = messages.get_mut(index) {
            message
                .content
                .push(sdk::ContentBlock::CachePoint(cache_point()?));
        }
    }
    let system = match request.system() {
        Some(text) => {
            let mut blocks = vec![sdk::SystemContentBlock::Text(text.to_string())];
            if points.system {
                blocks.push(sdk::SystemContentBlock::CachePoint(cache_point()?));
            }
            Some(blocks)
        }
        None => None,
    };
    let mut tool_config = request.tool_config().map(tool_config_to_sdk).transpose()?;
    if points.tools
        && let Some(config) = &mut tool_config
    {
        config.tools.push(sdk::Tool::CachePoint(cache_point()?));
    }
    Ok(SdkRequest {
        messages,
        system,
        inference: inference_to_sdk(request.inference())?,
        tool_config,
        additional_fields: request.thinking_budget().map(|budget| {
            document_from_json(&serde_json::json!({
                "thinking": {"type": "enabled", "budget_tokens": budget}
            }))
        }),
        output_config: request.output_schema().map(output_config).transpose()?,
        service_tier: request
            .service_tier()
            .map(|tier| {
                sdk::ServiceTier::builder()
                    .r#type(sdk::ServiceTierType::from(tier.as_str()))
                    .build()
                    .map_err(sdk_build_error)
            })
            .transpose()?,
        performance: request.latency().map(|latency| {
            sdk::PerformanceConfiguration::builder()
                .latency(sdk::PerformanceConfigLatency::from(latency.as_str()))
                .build()
        }),
    })
}

/// A reply constrained to a JSON schema: `outputConfig.textFormat`.
fn output_config(schema: &OutputSchema) -> Result<sdk::OutputConfig> {
    let definition = sdk::JsonSchemaDefinition::builder()
        .schema(schema.schema().to_string())
        .name(schema.name())
        .set_description(schema.description().map(str::to_string))
        .build()
        .map_err(sdk_build_error)?;
    let format = sdk::OutputFormat::builder()
        .r#type(sdk::OutputFormatType::JsonSchema)
        .structure(sdk::OutputFormatStructure::JsonSchema(definition))
        .build()
        .map_err(sdk_build_error)?;
    Ok(sdk::OutputConfig::builder().text_format(format).build())
}

fn cache_point(ttl: CacheTtl) -> Result<sdk::CachePointBlock> {
    sdk::CachePointBlock::builder()
        .r#type(sdk::CachePointType::Default)
        // Left out for the default, as requests were before Bedrock had lifetimes: a model or
        // region that knows no `ttl` is not sent one.
        .set_ttl(match ttl {
            CacheTtl::FiveMinutes => None,
            _ => Some(sdk::CacheTtl::from(ttl.as_str())),
        })
        .build()
        .map_err(sdk_build_error)
}

fn citations_on() -> Result<sdk::CitationsConfig> {
    sdk::CitationsConfig::builder()
        .enabled(true)
        .build()
        .map_err(sdk_build_error)
}

fn message_to_sdk(message: &Message, cite_documents: bool) -> Result<sdk::Message> {
    let role = match message.role() {
        Role::User => sdk::ConversationRole::User,
        Role::Assistant => sdk::ConversationRole::Assistant,
    };
    let mut content = Vec::with_capacity(message.content().len());
    for block in message.content() {
        content.push(block_to_sdk(block, cite_documents)?);
    }
    sdk::Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(sdk_build_error)
}

fn sdk_build_error(error: aws_smithy_types::error::operation::BuildError) -> Error {
    Error::Config {
        message: "a request could not be converted for the SDK".to_string(),
        source: Some(error.into()),
    }
}

fn block_to_sdk(block: &ContentBlock, cite_documents: bool) -> Result<sdk::ContentBlock> {
    Ok(match block {
        ContentBlock::Text(text) => sdk::ContentBlock::Text(text.clone()),
        // Sent back as the words alone: the model needs what it said, the sources it cited are
        // in the user's turn before it, and plain text is a block every model takes back.
        ContentBlock::CitationsContent(cited) => sdk::ContentBlock::Text(cited.text.clone()),
        ContentBlock::SearchResult(result) => {
            let mut content = Vec::with_capacity(result.content.len());
            for text in &result.content {
                content.push(
                    sdk::SearchResultContentBlock::builder()
                        .text(text)
                        .build()
                        .map_err(sdk_build_error)?,
                );
            }
            sdk::ContentBlock::SearchResult(
                sdk::SearchResultBlock::builder()
                    .source(&result.source)
                    .title(&result.title)
                    .set_content(Some(content))
                    .set_citations(result.citations.then(citations_on).transpose()?)
                    .build()
                    .map_err(sdk_build_error)?,
            )
        }
        ContentBlock::ReasoningContent(Reasoning::ReasoningText { text, signature }) => {
            sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::ReasoningText(
                sdk::ReasoningTextBlock::builder()
                    .text(text)
                    .set_signature(signature.clone())
                    .build()
                    .map_err(sdk_build_error)?,
            ))
        }
        ContentBlock::ReasoningContent(Reasoning::RedactedContent(bytes)) => {
            sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::RedactedContent(
                Blob::new(bytes.clone()),
            ))
        }
        ContentBlock::Attachment(Attachment::Image { format, bytes }) => sdk::ContentBlock::Image(
            sdk::ImageBlock::builder()
                .format(image_format_to_sdk(*format))
                .source(sdk::ImageSource::Bytes(Blob::new(bytes.clone())))
                .build()
                .map_err(sdk_build_error)?,
        ),
        ContentBlock::Attachment(Attachment::Document {
            format,
            name,
            bytes,
            citations,
        }) => sdk::ContentBlock::Document(
            sdk::DocumentBlock::builder()
                .format(match format {
                    DocumentFormat::Pdf => sdk::DocumentFormat::Pdf,
                    DocumentFormat::Csv => sdk::DocumentFormat::Csv,
                    DocumentFormat::Doc => sdk::DocumentFormat::Doc,
                    DocumentFormat::Docx => sdk::DocumentFormat::Docx,
                    DocumentFormat::Xls => sdk::DocumentFormat::Xls,
                    DocumentFormat::Xlsx => sdk::DocumentFormat::Xlsx,
                    DocumentFormat::Html => sdk::DocumentFormat::Html,
                    DocumentFormat::Txt => sdk::DocumentFormat::Txt,
                    DocumentFormat::Md => sdk::DocumentFormat::Md,
                })
                .name(name)
                .source(sdk::DocumentSource::Bytes(Blob::new(bytes.clone())))
                .set_citations(
                    (*citations || cite_documents)
                        .then(citations_on)
                        .transpose()?,
                )
                .build()
                .map_err(sdk_build_error)?,
        ),
        ContentBlock::ToolUse(call) => sdk::ContentBlock::ToolUse(
            sdk::ToolUseBlock::builder()
                .tool_use_id(&call.id)
                .name(&call.name)
                .input(document_from_json(&call.input))
                .build()
                .map_err(sdk_build_error)?,
        ),
        ContentBlock::ToolResult(result) => {
            let content = result
                .content
                .iter()
                .map(|c| match c {
                    ToolResultContent::Text(text) => {
                        Ok(sdk::ToolResultContentBlock::Text(text.clone()))
                    }
                    ToolResultContent::Json(value) => {
                        Ok(sdk::ToolResultContentBlock::Json(document_from_json(value)))
                    }
                    ToolResultContent::Image { format, bytes } => sdk::ImageBlock::builder()
                        .format(image_format_to_sdk(*format))
                        .source(sdk::ImageSource::Bytes(Blob::new(bytes.clone())))
                        .build()
                        .map(sdk::ToolResultContentBlock::Image)
                        .map_err(sdk_build_error),
                })
                .collect::<Result<Vec<_>>>()?;
            sdk::ContentBlock::ToolResult(
                sdk::ToolResultBlock::builder()
                    .tool_use_id(&result.tool_use_id)
                    .set_content(Some(content))
                    .status(match result.status {
                        ToolResultStatus::Success => sdk::ToolResultStatus::Success,
                        ToolResultStatus::Error => sdk::ToolResultStatus::Error,
                    })
                    .build()
                    .map_err(sdk_build_error)?,
            )
        }
    })
}

fn image_format_to_sdk(format: ImageFormat) -> sdk::ImageFormat {
    match format {
        ImageFormat::Png => sdk::ImageFormat::Png,
        ImageFormat::Jpeg => sdk::ImageFormat::Jpeg,
        ImageFormat::Gif => sdk::ImageFormat::Gif,
        ImageFormat::Webp => sdk::ImageFormat::Webp,
    }
}

fn tool_config_to_sdk(config: &ToolConfig) -> Result<sdk::ToolConfiguration> {
    let tools = config
        .tools
        .iter()
        .map(|tool| {
            Ok(sdk::Tool::ToolSpec(
                sdk::ToolSpecification::builder()
                    .name(&tool.name)
                    .description(&tool.description)
                    .input_schema(sdk::ToolInputSchema::Json(document_from_json(
                        &tool.input_schema,
                    )))
                    .build()
                    .map_err(sdk_build_error)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let choice = match &config.choice {
        ToolChoice::Auto => sdk::ToolChoice::Auto(sdk::AutoToolChoice::builder().build()),
        ToolChoice::Any => sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build()),
        ToolChoice::Tool(name) => sdk::ToolChoice::Tool(
            sdk::SpecificToolChoice::builder()
                .name(name)
                .build()
                .map_err(sdk_build_error)?,
        ),
    };
    sdk::ToolConfiguration::builder()
        .set_tools(Some(tools))
        .tool_choice(choice)
        .build()
        .map_err(sdk_build_error)
}

/// JSON as the SDK's `Document` (which has no serde support in the stable SDK).
pub(crate) fn document_from_json(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document_from_json).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), document_from_json(v)))
                .collect(),
        ),
    }
}

/// The SDK's `Document` as JSON.
pub(crate) fn json_from_document(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(json_from_document).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_from_document(v)))
                .collect(),
        ),
    }
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

/// A whole reply from the SDK's output, taken by value so its text is moved, not copied.
pub(super) fn response_from_sdk(output: ConverseOutput) -> ChatResponse {
    let request_id = output.request_id().map(str::to_string);
    let reply = match output.output {
        Some(sdk::ConverseOutput::Message(message)) => {
            Message::from_blocks(Role::Assistant, blocks_from_sdk(message.content))
        }
        _ => Message::from_blocks(Role::Assistant, []),
    };
    ChatResponse::new(
        reply,
        stop_reason_from_sdk(&output.stop_reason),
        output
            .usage
            .as_ref()
            .map(|u| {
                usage_from_sdk(
                    u,
                    output.service_tier.as_ref(),
                    output.performance_config.as_ref(),
                )
            })
            .unwrap_or_default(),
    )
    .with_latency(output.metrics.map(|m| latency(m.latency_ms())))
    .with_request_id(request_id)
    .with_guardrail_trace(
        output
            .trace
            .as_ref()
            .and_then(|t| t.guardrail())
            .map(guardrail_trace_from_sdk),
    )
}

pub(super) fn guardrail_to_sdk(config: &GuardrailConfig) -> Result<sdk::GuardrailConfiguration> {
    Ok(sdk::GuardrailConfiguration::builder()
        .guardrail_identifier(&config.id)
        .guardrail_version(&config.version)
        .trace(trace_mode_to_sdk(config.trace))
        .build())
}

pub(super) fn guardrail_stream_to_sdk(
    config: &GuardrailConfig,
) -> Result<sdk::GuardrailStreamConfiguration> {
    Ok(sdk::GuardrailStreamConfiguration::builder()
        .guardrail_identifier(&config.id)
        .guardrail_version(&config.version)
        .trace(trace_mode_to_sdk(config.trace))
        .stream_processing_mode(match config.stream_processing {
            StreamProcessingMode::Sync => sdk::GuardrailStreamProcessingMode::Sync,
            StreamProcessingMode::Async => sdk::GuardrailStreamProcessingMode::Async,
        })
        .build())
}

fn trace_mode_to_sdk(mode: GuardrailTraceMode) -> sdk::GuardrailTrace {
    match mode {
        GuardrailTraceMode::Disabled => sdk::GuardrailTrace::Disabled,
        GuardrailTraceMode::Enabled => sdk::GuardrailTrace::Enabled,
        GuardrailTraceMode::EnabledFull => sdk::GuardrailTrace::EnabledFull,
    }
}

/// What a guardrail found, flattened from the SDK's nested assessment: one finding per policy
/// match, in the input and in the output.
fn guardrail_trace_from_sdk(trace: &sdk::GuardrailTraceAssessment) -> GuardrailTrace {
    let mut findings = Vec::new();
    let mut add = |source: &str, assessment: &sdk::GuardrailAssessment| {
        let mut push = |policy: &str, name: &str, action: &str| {
            findings.push(GuardrailFinding {
                source: source.to_string(),
                policy: policy.to_string(),
                name: name.to_string(),
                action: action.to_string(),
            });
        };
        if let Some(topics) = &assessment.topic_policy {
            for t in &topics.topics {
                push("topic", &t.name, t.action.as_str());
            }
        }
        if let Some(content) = &assessment.content_policy {
            for f in &content.filters {
                push("content", f.r#type.as_str(), f.action.as_str());
            }
        }
        if let Some(words) = &assessment.word_policy {
            for w in &words.custom_words {
                push("word", &w.r#match, w.action.as_str());
            }
            for w in &words.managed_word_lists {
                push("managed_word", &w.r#match, w.action.as_str());
            }
        }
        if let Some(sensitive) = &assessment.sensitive_information_policy {
            for p in &sensitive.pii_entities {
                push("pii", p.r#type.as_str(), p.action.as_str());
            }
            for r in &sensitive.regexes {
                push(
                    "regex",
                    r.name.as_deref().unwrap_or("regex"),
                    r.action.as_str(),
                );
            }
        }
    };
    for assessment in trace.input_assessment.iter().flat_map(|m| m.values()) {
        add("input", assessment);
    }
    for assessment in trace
        .output_assessments
        .iter()
        .flat_map(|m| m.values())
        .flatten()
    {
        add("output", assessment);
    }
    GuardrailTrace {
        action_reason: trace.action_reason.clone(),
        model_output: trace.model_output.clone().unwrap_or_default(),
        findings,
    }
}

/// The blocks of a reply the conversation carries: text (empty text left out, as Bedrock would
/// refuse it back) and tool calls. Other kinds (reasoning) are not kept yet.
fn blocks_from_sdk(blocks: Vec<sdk::ContentBlock>) -> impl Iterator<Item = ContentBlock> {
    blocks.into_iter().filter_map(|block| match block {
        sdk::ContentBlock::Text(text) if !text.is_empty() => Some(ContentBlock::Text(text)),
        sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::ReasoningText(r)) => {
            Some(ContentBlock::ReasoningContent(Reasoning::ReasoningText {
                text: r.text,
                signature: r.signature,
            }))
        }
        sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::RedactedContent(bytes)) => {
            Some(ContentBlock::ReasoningContent(Reasoning::RedactedContent(
                bytes.into_inner(),
            )))
        }
        sdk::ContentBlock::ToolUse(call) => Some(ContentBlock::ToolUse(ToolUse::new(
            call.tool_use_id,
            call.name,
            json_from_document(&call.input),
        ))),
        sdk::ContentBlock::CitationsContent(cited) => {
            let text: String = cited
                .content
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| match c {
                    sdk::CitationGeneratedContent::Text(text) => Some(text),
                    _ => None,
                })
                .collect();
            let citations = cited
                .citations
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    citation(
                        c.title,
                        c.source,
                        c.source_content
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|s| match s {
                                sdk::CitationSourceContent::Text(text) => Some(text),
                                _ => None,
                            }),
                        c.location,
                    )
                })
                .collect();
            (!text.is_empty())
                .then(|| ContentBlock::CitationsContent(CitedText::new(text, citations)))
        }
        _ => None,
    })
}

/// A citation from the SDK's parts (a whole reply's `Citation` and a stream's `CitationsDelta`
/// have the same fields in different types).
fn citation(
    title: Option<String>,
    source: Option<String>,
    quoted: impl Iterator<Item = String>,
    location: Option<sdk::CitationLocation>,
) -> Citation {
    let number = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    let location = match location {
        Some(sdk::CitationLocation::SearchResultLocation(l)) => CitationLocation::SearchResult {
            index: number(l.search_result_index),
            start: number(l.start),
            end: number(l.end),
        },
        Some(sdk::CitationLocation::DocumentChar(l)) => CitationLocation::DocumentChars {
            document: number(l.document_index),
            start: number(l.start),
            end: number(l.end),
        },
        Some(sdk::CitationLocation::DocumentPage(l)) => CitationLocation::DocumentPages {
            document: number(l.document_index),
            start: number(l.start),
            end: number(l.end),
        },
        Some(sdk::CitationLocation::DocumentChunk(l)) => CitationLocation::DocumentChunks {
            document: number(l.document_index),
            start: number(l.start),
            end: number(l.end),
        },
        Some(sdk::CitationLocation::Web(l)) => CitationLocation::Web {
            url: l.url.unwrap_or_default(),
            domain: l.domain,
        },
        _ => CitationLocation::Unknown,
    };
    let mut citation =
        Citation::new(location).with_cited_text(quoted.collect::<Vec<_>>().join(" "));
    citation.title = title;
    citation.source = source;
    citation
}

/// Matched variant by variant rather than through its name: this runs once per reply, and a
/// chain of string comparisons was measurable there (perf: about 0.2 us per turn, cold).
fn stop_reason_from_sdk(reason: &sdk::StopReason) -> StopReason {
    match reason {
        sdk::StopReason::EndTurn => StopReason::EndTurn,
        sdk::StopReason::ToolUse => StopReason::ToolUse,
        sdk::StopReason::MaxTokens => StopReason::MaxTokens,
        sdk::StopReason::StopSequence => StopReason::StopSequence,
        sdk::StopReason::GuardrailIntervened => StopReason::GuardrailIntervened,
        sdk::StopReason::ContentFiltered => StopReason::ContentFiltered,
        sdk::StopReason::MalformedModelOutput => StopReason::MalformedModelOutput,
        sdk::StopReason::MalformedToolUse => StopReason::MalformedToolUse,
        sdk::StopReason::ModelContextWindowExceeded => StopReason::ModelContextWindowExceeded,
        other => StopReason::from(other.as_str()),
    }
}

fn usage_from_sdk(
    usage: &sdk::TokenUsage,
    tier: Option<&sdk::ServiceTier>,
    performance: Option<&sdk::PerformanceConfiguration>,
) -> TokenUsage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    let long_writes = usage.cache_details.as_ref().map(|details| {
        details
            .iter()
            .filter(|d| d.ttl == sdk::CacheTtl::OneHour)
            .map(|d| count(d.input_tokens))
            .sum()
    });
    TokenUsage::new(count(usage.input_tokens()), count(usage.output_tokens()))
        .with_cache(
            usage.cache_read_input_tokens().map(count),
            usage.cache_write_input_tokens().map(count),
        )
        .with_long_cache_writes(long_writes.filter(|&n| n > 0))
        .with_serving(
            tier.and_then(|t| t.r#type.as_str().parse().ok()),
            performance.and_then(|p| p.latency.as_str().parse().ok()),
        )
}

fn block_index(index: i32) -> u32 {
    u32::try_from(index).unwrap_or(0)
}

fn latency(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The guardrail trace an SDK stream event carries (only the closing metadata can), as an event
/// to pass on before the metadata's own.
pub(super) fn guardrail_trace_event(event: &sdk::ConverseStreamOutput) -> Option<StreamEvent> {
    match event {
        sdk::ConverseStreamOutput::Metadata(metadata) => metadata
            .trace
            .as_ref()
            .and_then(|t| t.guardrail.as_ref())
            .map(|trace| StreamEvent::GuardrailTrace(guardrail_trace_from_sdk(trace))),
        _ => None,
    }
}

/// The event an SDK stream event makes: none for events that carry nothing a caller needs (the
/// message start, text block starts, unknown events).
pub(super) fn event_from_sdk(event: sdk::ConverseStreamOutput) -> Option<StreamEvent> {
    match event {
        sdk::ConverseStreamOutput::ContentBlockStart(start) => match start.start {
            Some(sdk::ContentBlockStart::ToolUse(call)) => Some(StreamEvent::ToolUseStart {
                index: block_index(start.content_block_index),
                id: call.tool_use_id,
                name: call.name,
            }),
            _ => None,
        },
        sdk::ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta {
            Some(sdk::ContentBlockDelta::Text(text)) => Some(StreamEvent::TextDelta(text)),
            Some(sdk::ContentBlockDelta::Citation(cited)) => Some(StreamEvent::Citation {
                index: block_index(delta.content_block_index),
                citation: citation(
                    cited.title,
                    cited.source,
                    cited
                        .source_content
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|s| s.text),
                    cited.location,
                ),
            }),
            Some(sdk::ContentBlockDelta::ToolUse(input)) => Some(StreamEvent::ToolUseInputDelta {
                index: block_index(delta.content_block_index),
                input: input.input,
            }),
            Some(sdk::ContentBlockDelta::ReasoningContent(reasoning)) => {
                let index = block_index(delta.content_block_index);
                match reasoning {
                    sdk::ReasoningContentBlockDelta::Text(text) => {
                        Some(StreamEvent::ReasoningDelta { index, text })
                    }
                    sdk::ReasoningContentBlockDelta::Signature(signature) => {
                        Some(StreamEvent::ReasoningSignature { index, signature })
                    }
                    sdk::ReasoningContentBlockDelta::RedactedContent(bytes) => {
                        Some(StreamEvent::RedactedReasoning {
                            index,
                            data: bytes.into_inner(),
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        },
        sdk::ConverseStreamOutput::ContentBlockStop(stop) => Some(StreamEvent::ContentBlockStop {
            index: block_index(stop.content_block_index),
        }),
        sdk::ConverseStreamOutput::MessageStop(stop) => Some(StreamEvent::MessageStop(
            stop_reason_from_sdk(&stop.stop_reason),
        )),
        sdk::ConverseStreamOutput::Metadata(metadata) => Some(StreamEvent::Metadata {
            usage: metadata
                .usage
                .as_ref()
                .map(|u| {
                    usage_from_sdk(
                        u,
                        metadata.service_tier.as_ref(),
                        metadata.performance_config.as_ref(),
                    )
                })
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
    fn every_stop_reason_maps_as_its_name_does() {
        for name in sdk::StopReason::values()
            .iter()
            .copied()
            .chain(["a_reason_added_later"])
        {
            assert_eq!(
                stop_reason_from_sdk(&sdk::StopReason::from(name)),
                StopReason::from(name),
                "{name}"
            );
        }
    }

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
    fn reply_blocks_keep_text_and_tool_calls_in_order() {
        let call = sdk::ToolUseBlock::builder()
            .tool_use_id("t1")
            .name("clock")
            .input(document_from_json(
                &serde_json::json!({"zone": "UTC", "n": [1, -2, 0.5]}),
            ))
            .build()
            .unwrap();
        let blocks = [
            sdk::ContentBlock::Text("a".into()),
            sdk::ContentBlock::Text(String::new()),
            sdk::ContentBlock::ToolUse(call),
        ];
        let ours: Vec<ContentBlock> = blocks_from_sdk(blocks.to_vec()).collect();
        assert_eq!(ours.len(), 2);
        assert_eq!(ours[0].as_text(), Some("a"));
        let call = ours[1].as_tool_use().unwrap();
        assert_eq!(
            call.input,
            serde_json::json!({"zone": "UTC", "n": [1, -2, 0.5]})
        );
    }

    #[test]
    fn json_survives_the_document_round_trip() {
        let value = serde_json::json!({"a": [null, true, 1, -1, 1.5, "x", {"b": {}}]});
        assert_eq!(json_from_document(&document_from_json(&value)), value);
    }
}
