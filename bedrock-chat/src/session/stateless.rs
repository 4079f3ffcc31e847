//! One request without a session, for a gateway whose caller keeps the conversation (such as an
//! OpenAI-compatible endpoint): the same retries, the same stream rule, no history.

use super::call::Route;
use super::streamed_turn::open_until_text;
use crate::client::ModelClient;
use crate::context::TokenEstimator;
use crate::error::Result;
use crate::event_stream::EventStream;
use crate::message::Message;
use crate::request::{ChatRequest, CheckedRequest};
use crate::response::{ChatResponse, TokenUsage};
use crate::retry::{RetryObserver, RetryPolicy};
use crate::settings::DEFAULT_MAX_TOKENS;

/// Sends `request` (checked already: see [`ChatRequest::checked`]) and waits for the whole
/// reply, retrying under `policy`.
///
/// # Errors
///
/// The error of the last attempt.
pub async fn converse_once(
    client: &dyn ModelClient,
    request: &CheckedRequest,
    policy: &RetryPolicy,
    observer: Option<&RetryObserver>,
) -> Result<ChatResponse> {
    policy
        .run(observer, || Route::of(client).converse(request.request()))
        .await
}

/// Sends `request` and returns its stream once the first text has arrived, retrying under
/// `policy` any failure before that (never after: the caller would see text twice). A failure
/// later is the stream's last item.
///
/// # Errors
///
/// As [`converse_once`].
pub async fn converse_stream_once(
    client: &dyn ModelClient,
    request: &CheckedRequest,
    policy: &RetryPolicy,
    observer: Option<&RetryObserver>,
) -> Result<EventStream> {
    let opened = policy
        .run(observer, || {
            open_until_text(Route::of(client), request.request())
        })
        .await?;
    Ok(opened.into_events())
}

/// An estimate of what `request` is billed when its reply is cut off after `output_text_bytes`
/// bytes of text and Bedrock's own count never arrived (a client that hung up mid-stream): the
/// input from the size of its text and tool definitions, leaning high, and the output from the
/// text received. With `output_text_bytes` of `None`, the most it can be billed: every token of its
/// `max_tokens` (or [`DEFAULT_MAX_TOKENS`](crate::DEFAULT_MAX_TOKENS)) written, which is what a
/// server reserves against a spending cap before sending it.
pub fn estimate_usage(request: &ChatRequest, output_text_bytes: Option<usize>) -> TokenUsage {
    let estimator = TokenEstimator::default();
    // Tool definitions are read (and billed) as input too: names, descriptions and schemas.
    let tool_bytes: usize = request.tool_config().map_or(0, |config| {
        config
            .tools
            .iter()
            .map(|tool| {
                tool.name.len() + tool.description.len() + tool.input_schema.to_string().len()
            })
            .sum()
    });
    // So is an output schema, which constrained decoding reads with the request.
    let schema_bytes = request
        .output_schema()
        .map_or(0, |schema| schema.schema().to_string().len());
    let text_bytes = request.system().map_or(0, str::len)
        + tool_bytes
        + schema_bytes
        + request
            .messages()
            .iter()
            .map(Message::size_bytes)
            .sum::<usize>();
    let input = estimator.tokens(text_bytes, request.messages().len());
    let output = match output_text_bytes {
        Some(bytes) => estimator.tokens(bytes, 0),
        None => u64::from(request.inference().max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    };
    TokenUsage::new(input, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ToolChoice, ToolConfig, ToolSpec};

    /// Found by attacking the server: 600 KB of tool descriptions were not counted, so a `/v1`
    /// caller could be admitted under a cap that the call then passed.
    #[test]
    fn tool_definitions_count_as_input() {
        let bare = ChatRequest::new("m", vec![Message::user("hi")]);
        let big = ToolSpec::new(
            "t",
            "x".repeat(600_000),
            serde_json::json!({"type": "object"}),
        );
        let with_tools = bare
            .clone()
            .with_tool_config(Some(ToolConfig::new(vec![big], ToolChoice::Auto)));
        let without = estimate_usage(&bare, Some(0)).input_tokens;
        let with = estimate_usage(&with_tools, Some(0)).input_tokens;
        assert!(with >= without + 190_000, "{without} -> {with}");
    }
}
