//! Bedrock's wire format, as the fake server writes it: JSON bodies for Converse and errors, and
//! AWS event-stream frames for ConverseStream (`../shared/bedrock-wire.md` in the repository has
//! the recorded originals).

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{Value, json};

/// Real Bedrock pads every event payload with a `"p"` field of varying length so that frame sizes
/// do not reveal the text; the fake does the same so decoders meet realistic frames.
fn padding(seed: usize) -> String {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    ALPHABET[..(seed * 7 + 2) % ALPHABET.len()].to_string()
}

/// Token counts a reply reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WireUsage {
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: Option<u64>,
    pub(crate) cache_write: Option<u64>,
}

impl WireUsage {
    fn to_json(self) -> Value {
        let mut usage = json!({
            "inputTokens": self.input,
            "outputTokens": self.output,
            "serverToolUsage": {},
            "totalTokens": self.input + self.output + self.cache_read.unwrap_or(0) + self.cache_write.unwrap_or(0),
        });
        if let Some(read) = self.cache_read {
            usage["cacheReadInputTokens"] = json!(read);
        }
        if let Some(write) = self.cache_write {
            usage["cacheWriteInputTokens"] = json!(write);
        }
        usage
    }
}

/// The body of a successful Converse response: the text (if any, or if there is nothing else)
/// and the tool calls, as `(id, name, input JSON text)`.
pub(crate) fn converse_body(
    (thinking, text, cited): (Option<&str>, &str, &[(String, Value)]),
    tool_calls: &[(&str, &str, &str)],
    stop_reason: &str,
    (usage, trace, serving): (WireUsage, Option<&Value>, &Value),
    latency_ms: u64,
) -> Bytes {
    let mut content = Vec::new();
    if let Some(thinking) = thinking {
        content.push(json!({"reasoningContent": {"reasoningText": {
            "text": thinking, "signature": SIGNATURE,
        }}}));
    }
    if !text.is_empty() || (tool_calls.is_empty() && cited.is_empty()) {
        content.push(json!({"text": text}));
    }
    for (words, citation) in cited {
        content.push(json!({"citationsContent": {
            "content": [{"text": words}],
            "citations": [citation],
        }}));
    }
    for (id, name, input) in tool_calls {
        let input: Value = if input.trim().is_empty() {
            json!({})
        } else {
            // Input that is not JSON cannot travel in a whole reply; it arrives as a string.
            serde_json::from_str(input).unwrap_or_else(|_| json!(input))
        };
        content.push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
    }
    let mut body = json!({
        "metrics": {"latencyMs": latency_ms},
        "output": {"message": {"content": content, "role": "assistant"}},
        "stopReason": stop_reason,
        "usage": usage.to_json(),
    });
    if let Some(trace) = trace {
        body["trace"] = trace.clone();
    }
    add_serving(&mut body, serving);
    Bytes::from(body.to_string())
}

/// The body of an error response; its code travels in the `x-amzn-errortype` header.
pub(crate) fn error_body(message: &str) -> Bytes {
    Bytes::from(json!({ "message": message }).to_string())
}

/// The `x-amzn-errortype` header value for a code, as Bedrock spells it.
pub(crate) fn error_type_header(code: &str) -> String {
    format!("{code}:http://internal.amazon.com/coral/com.amazon.bedrock/")
}

fn frame(headers: &[(&str, &str)], payload: Value) -> Bytes {
    let mut message = Message::new(Bytes::from(payload.to_string()));
    for (name, value) in headers {
        message = message.add_header(Header::new(
            name.to_string(),
            HeaderValue::String(value.to_string().into()),
        ));
    }
    let mut buffer = Vec::new();
    // Encoding into a Vec only fails for frames over 16 MB, which the fake never writes.
    let _ = write_message_to(&message, &mut buffer);
    Bytes::from(buffer)
}

fn event(event_type: &str, mut payload: Value, seed: usize) -> Bytes {
    payload["p"] = json!(padding(seed));
    frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

pub(crate) fn message_start() -> Bytes {
    event("messageStart", json!({"role": "assistant"}), 0)
}

pub(crate) fn text_delta(text: &str, seed: usize) -> Bytes {
    text_delta_at(0, text, seed)
}

pub(crate) fn text_delta_at(index: usize, text: &str, seed: usize) -> Bytes {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": index, "delta": {"text": text}}),
        seed,
    )
}

/// A citation of the text block at `index`, as a stream carries it.
pub(crate) fn citation_delta(index: usize, citation: &Value, seed: usize) -> Bytes {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": index, "delta": {"citation": citation}}),
        seed,
    )
}

/// The signature the fake puts on reasoning, and expects back with it.
pub(crate) const SIGNATURE: &str = "EqoBCkgIARABGAIiQFake+Signature==";

/// A reasoning block streamed: its text in two pieces, its signature, its stop.
pub(crate) fn reasoning_frames(index: usize, text: &str) -> Vec<Bytes> {
    let middle = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let mut frames: Vec<Bytes> = [&text[..middle], &text[middle..]]
        .into_iter()
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"text": piece}}}),
                piece.len(),
            )
        })
        .collect();
    frames.push(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": SIGNATURE}}}),
        7,
    ));
    frames.push(content_block_stop(index));
    frames
}

pub(crate) fn content_block_stop(index: usize) -> Bytes {
    event("contentBlockStop", json!({"contentBlockIndex": index}), 3)
}

pub(crate) fn tool_use_start(index: usize, id: &str, name: &str) -> Bytes {
    event(
        "contentBlockStart",
        json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
        index + 11,
    )
}

pub(crate) fn tool_use_delta(index: usize, input: &str) -> Bytes {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": input}}}),
        index + input.len(),
    )
}

pub(crate) fn message_stop(stop_reason: &str) -> Bytes {
    event(
        "messageStop",
        json!({
            "additionalModelResponseFields": {"delta": {"stop_sequence": null}},
            "stopReason": stop_reason,
        }),
        4,
    )
}

pub(crate) fn metadata(
    (usage, trace, serving): (WireUsage, Option<&Value>, &Value),
    latency_ms: u64,
) -> Bytes {
    let mut payload = json!({"metrics": {"latencyMs": latency_ms}, "usage": usage.to_json()});
    if let Some(trace) = trace {
        payload["trace"] = trace.clone();
    }
    add_serving(&mut payload, serving);
    event("metadata", payload, 5)
}

/// The `serviceTier` and `performanceConfig` a reply reports, those of `serving` that are set.
fn add_serving(body: &mut Value, serving: &Value) {
    for key in ["serviceTier", "performanceConfig"] {
        if let Some(value) = serving.get(key).filter(|v| !v.is_null()) {
            body[key] = value.clone();
        }
    }
}

/// An exception frame, as Bedrock sends when a stream fails after it started.
pub(crate) fn exception(exception_type: &str, message: &str) -> Bytes {
    let mut payload = json!({ "message": message });
    if exception_type == "modelStreamErrorException" {
        payload["originalStatusCode"] = json!(500);
        payload["originalMessage"] = json!(message);
    }
    frame(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload,
    )
}

/// A frame whose payload was damaged in transit: its CRC no longer matches.
pub(crate) fn corrupt(frame: Bytes) -> Bytes {
    let mut bytes = frame.to_vec();
    // The byte just before the trailing CRC is payload.
    if let Some(index) = bytes.len().checked_sub(5) {
        bytes[index] ^= 0x5a;
    }
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn frames_decode_with_valid_crcs_and_real_headers() {
        let bytes = text_delta("OK", 1);
        let message = read_message_from(bytes.clone()).unwrap();
        let names: Vec<&str> = message
            .headers()
            .iter()
            .map(|h| h.name().as_str())
            .collect();
        assert_eq!(names, [":event-type", ":content-type", ":message-type"]);
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        assert_eq!(payload["delta"]["text"], "OK");
        assert!(read_message_from(corrupt(bytes)).is_err());
    }
}
