//! Messages: who said what.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::attachment::Attachment;
use crate::citation::{Citation, CitedText, SearchResult};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person (or program) talking to the model.
    User,
    /// The model.
    Assistant,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        })
    }
}

/// One piece of a message's content.
///
/// The enum is `#[non_exhaustive]` so that more kinds (images, documents) can be added without
/// breaking callers; match with a wildcard arm. It serialises the way the Converse API spells
/// content blocks: `{"text": "..."}`, `{"toolUse": {...}}`, `{"toolResult": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text(String),
    /// The model asks for a tool to be called (in an assistant message).
    ToolUse(ToolUse),
    /// A tool's answer (in the user message right after the call).
    ToolResult(ToolResult),
    /// The model's reasoning before its answer (extended thinking), with the signature Bedrock
    /// needs to accept it back; `{"reasoningContent": {...}}`.
    ReasoningContent(Reasoning),
    /// Passages of a knowledge base's search for the model to cite (in a user message).
    SearchResult(SearchResult),
    /// Reply text with the citations of its sources (in an assistant message).
    CitationsContent(CitedText),
    /// An image or a document (in a user message); `{"image": {...}}` or `{"document": {...}}`.
    #[serde(untagged)]
    Attachment(Attachment),
}

/// The model's reasoning (extended thinking): its text and signature, or, when Bedrock
/// redacted it, the encrypted bytes to send back as they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Reasoning {
    /// Readable reasoning.
    ReasoningText {
        /// What the model thought.
        text: String,
        /// Bedrock's signature over it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// Reasoning Bedrock redacted.
    RedactedContent(#[serde(with = "crate::attachment::base64_bytes")] Vec<u8>),
}

impl Reasoning {
    /// The readable reasoning, if it was not redacted.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reasoning::ReasoningText { text, .. } => Some(text),
            Reasoning::RedactedContent(_) => None,
        }
    }
}

impl ContentBlock {
    /// The block's text, if it is a text block (cited text included).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text(text) => Some(text),
            ContentBlock::CitationsContent(cited) => Some(&cited.text),
            _ => None,
        }
    }

    /// The block's citations; none for a block that cites nothing.
    pub fn citations(&self) -> &[Citation] {
        match self {
            ContentBlock::CitationsContent(cited) => &cited.citations,
            _ => &[],
        }
    }

    /// The tool call, if the block is one.
    pub fn as_tool_use(&self) -> Option<&ToolUse> {
        match self {
            ContentBlock::ToolUse(call) => Some(call),
            _ => None,
        }
    }

    /// The tool result, if the block is one.
    pub fn as_tool_result(&self) -> Option<&ToolResult> {
        match self {
            ContentBlock::ToolResult(result) => Some(result),
            _ => None,
        }
    }

    /// True when the block carries nothing Bedrock would accept (an empty or whitespace-only text).
    pub fn is_blank(&self) -> bool {
        match self {
            ContentBlock::Text(text) => text.trim().is_empty(),
            ContentBlock::SearchResult(result) => {
                result.content.iter().all(|c| c.trim().is_empty())
            }
            _ => false,
        }
    }

    /// About how many bytes the block takes in a request: its text, or its JSON.
    pub(crate) fn size_bytes(&self) -> usize {
        match self {
            ContentBlock::Text(text) => text.len(),
            ContentBlock::CitationsContent(cited) => cited.text.len(),
            ContentBlock::SearchResult(result) => result.size_bytes(),
            ContentBlock::ToolUse(call) => call.name.len() + call.input.to_string().len() + 32,
            ContentBlock::Attachment(attachment) => attachment.estimated_text_bytes(),
            ContentBlock::ReasoningContent(reasoning) => reasoning.text().map_or(256, str::len),
            ContentBlock::ToolResult(result) => {
                result
                    .content
                    .iter()
                    .map(|c| match c {
                        ToolResultContent::Text(text) => text.len(),
                        ToolResultContent::Json(value) => value.to_string().len(),
                        // As an attached image counts: about 1,600 tokens at most.
                        ToolResultContent::Image { .. } => 4800,
                    })
                    .sum::<usize>()
                    + 32
            }
        }
    }
}

/// Where a streamed tool call's input that was not a JSON object is kept (as
/// `{"_invalid_input": "<the text>"}`), so the history stays one Bedrock accepts while the call
/// is answered with an error.
pub(crate) const INVALID_INPUT_KEY: &str = "_invalid_input";

/// A call the model asks for: which tool, with what input, under an id its result must carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolUse {
    /// The id Bedrock gave the call; the result names it.
    #[serde(rename = "toolUseId")]
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The input, a JSON object (as the tool's schema asks).
    pub input: serde_json::Value,
}

impl ToolUse {
    /// A call of `name` with `input`, under `id`.
    pub fn new(id: impl Into<String>, name: impl Into<String>, input: serde_json::Value) -> Self {
        ToolUse {
            id: id.into(),
            name: name.into(),
            input,
        }
    }
}

/// A tool's answer to one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolResult {
    /// The id of the call this answers.
    pub tool_use_id: String,
    /// What the tool returned (or the error, for the model to act on).
    pub content: Vec<ToolResultContent>,
    /// Whether the call succeeded.
    pub status: ToolResultStatus,
}

impl ToolResult {
    /// A successful result.
    pub fn success(tool_use_id: impl Into<String>, content: ToolResultContent) -> Self {
        Self::success_parts(tool_use_id, vec![content])
    }

    /// A successful result of several parts (text and images, say), in order.
    pub fn success_parts(tool_use_id: impl Into<String>, content: Vec<ToolResultContent>) -> Self {
        ToolResult {
            tool_use_id: tool_use_id.into(),
            content,
            status: ToolResultStatus::Success,
        }
    }

    /// A failed call, with a message the model can act on.
    pub fn error(tool_use_id: impl Into<String>, message: impl Into<String>) -> Self {
        ToolResult {
            tool_use_id: tool_use_id.into(),
            content: vec![ToolResultContent::Text(message.into())],
            status: ToolResultStatus::Error,
        }
    }

    /// True for a failed call.
    pub fn is_error(&self) -> bool {
        self.status == ToolResultStatus::Error
    }

    /// The result's content as text: text as is, JSON serialised.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .map(|c| match c {
                ToolResultContent::Text(text) => text.clone(),
                ToolResultContent::Json(value) => value.to_string(),
                ToolResultContent::Image { format, bytes } => {
                    format!("[image ({format:?}, {} KB)]", bytes.len().div_ceil(1000))
                        .to_lowercase()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One piece of a tool's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ToolResultContent {
    /// Text.
    Text(String),
    /// A JSON value.
    Json(serde_json::Value),
    /// An image (a screenshot, a chart) for the model to look at.
    Image {
        /// Its format.
        format: crate::attachment::ImageFormat,
        /// Its bytes (base64 in JSON).
        #[serde(with = "crate::attachment::base64_bytes")]
        bytes: Vec<u8>,
    },
}

/// Whether a tool call succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolResultStatus {
    /// The tool ran and returned its output.
    Success,
    /// The tool failed, or could not be called; the content says why.
    Error,
}

/// A message in a conversation: a role and one or more content blocks.
///
/// Cloning is cheap: the content is shared, not copied, so a turn can hand its history to a
/// request without copying every message of a long conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MessageFields")]
pub struct Message {
    role: Role,
    // Shared because messages never change once made: a request, a snapshot and the history
    // all hold the same blocks.
    content: Arc<[ContentBlock]>,
    // What every turn asks of every message of the history it sends (the context window's
    // sizes, where exchanges begin), kept beside the pointer rather than read from the blocks:
    // the blocks are the message's own memory, cold on a long conversation, where a turn missed
    // the cache once per message to read them. (Held in what was padding: a `Message` is no
    // larger.)
    #[serde(skip)]
    size: u32,
    #[serde(skip)]
    tool_results: bool,
}

/// A message as it is written in a saved conversation.
#[derive(Deserialize)]
struct MessageFields {
    role: Role,
    content: Arc<[ContentBlock]>,
}

impl From<MessageFields> for Message {
    fn from(fields: MessageFields) -> Self {
        Message::with_content(fields.role, fields.content)
    }
}

impl Message {
    /// A message from `role` with the given content blocks.
    pub fn new(role: Role, content: Vec<ContentBlock>) -> Self {
        Message::with_content(role, content.into())
    }

    /// The one place a message is made.
    fn with_content(role: Role, content: Arc<[ContentBlock]>) -> Self {
        let size = content.iter().map(ContentBlock::size_bytes).sum::<usize>();
        let tool_results =
            role == Role::User && content.iter().any(|b| b.as_tool_result().is_some());
        Message {
            role,
            content,
            size: u32::try_from(size).unwrap_or(u32::MAX),
            tool_results,
        }
    }

    /// A user message holding one text block.
    pub fn user(text: impl Into<String>) -> Self {
        Message::from_blocks(Role::User, [ContentBlock::Text(text.into())])
    }

    /// An assistant message holding one text block.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message::from_blocks(Role::Assistant, [ContentBlock::Text(text.into())])
    }

    /// A message of the blocks `blocks` yields. Most messages are one block, which is then
    /// allocated once rather than gathered in a `Vec` and copied into the shared slice.
    pub(crate) fn from_blocks(role: Role, blocks: impl IntoIterator<Item = ContentBlock>) -> Self {
        let mut blocks = blocks.into_iter();
        let content: Arc<[ContentBlock]> = match (blocks.next(), blocks.next()) {
            (None, _) => Arc::new([]),
            (Some(only), None) => Arc::new([only]),
            (Some(first), Some(second)) => [first, second].into_iter().chain(blocks).collect(),
        };
        Message::with_content(role, content)
    }

    /// Whether `other` is this very message (a clone of it), not merely an equal one: the same
    /// role and the same shared content. Compares two pointers, reads no content.
    pub(crate) fn is_same(&self, other: &Message) -> bool {
        self.role == other.role && Arc::ptr_eq(&self.content, &other.content)
    }

    /// How many clones of this message there are (the history, requests, the caller's).
    #[cfg(test)]
    pub(crate) fn holders(&self) -> usize {
        Arc::strong_count(&self.content)
    }

    /// Who wrote the message.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The content blocks, in order.
    pub fn content(&self) -> &[ContentBlock] {
        &self.content
    }

    /// All text blocks joined together.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for block in self.content.iter() {
            if let Some(text) = block.as_text() {
                out.push_str(text);
            }
        }
        out
    }

    /// Every citation in the message, in order.
    pub fn citations(&self) -> impl Iterator<Item = &Citation> {
        self.content.iter().flat_map(ContentBlock::citations)
    }

    /// The knowledge-base passages the message carries, in order.
    pub fn search_results(&self) -> impl Iterator<Item = &SearchResult> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::SearchResult(r) => Some(r),
            _ => None,
        })
    }

    /// The number of bytes of text the message carries.
    pub fn text_len(&self) -> usize {
        self.content
            .iter()
            .filter_map(ContentBlock::as_text)
            .map(str::len)
            .sum()
    }

    /// A user message with attachments (images and documents) and text. The attachments come
    /// first, as Claude reads best.
    pub fn user_with_attachments(text: impl Into<String>, attachments: Vec<Attachment>) -> Self {
        let mut content: Vec<ContentBlock> = attachments
            .into_iter()
            .map(ContentBlock::Attachment)
            .collect();
        let text = text.into();
        if !text.is_empty() {
            content.push(ContentBlock::Text(text));
        }
        Message::new(Role::User, content)
    }

    /// The attachments in the message, in order.
    pub fn attachments(&self) -> impl Iterator<Item = &Attachment> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::Attachment(a) => Some(a),
            _ => None,
        })
    }

    /// The tool calls in the message, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUse> {
        self.content.iter().filter_map(ContentBlock::as_tool_use)
    }

    /// The tool results in the message, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.content.iter().filter_map(ContentBlock::as_tool_result)
    }

    /// True for a user message that answers tool calls rather than starting an exchange.
    pub fn is_tool_results(&self) -> bool {
        self.tool_results
    }

    /// True when any block is a tool call or a tool result.
    pub fn has_tool_blocks(&self) -> bool {
        self.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)))
    }

    /// About how many bytes the message takes in a request, for token estimates.
    pub(crate) fn size_bytes(&self) -> usize {
        self.size as usize
    }

    /// True when some text block holds more than whitespace. (Looked at block by block:
    /// joining the text to check it would copy the message.)
    pub(crate) fn has_text(&self) -> bool {
        self.content
            .iter()
            .filter_map(ContentBlock::as_text)
            .any(|text| !text.trim().is_empty())
    }

    /// True when the message has no content, or any block is blank.
    pub(crate) fn has_blank_content(&self) -> bool {
        self.content.is_empty() || self.content.iter().any(ContentBlock::is_blank)
    }
}

/// Refuses text with control characters other than tab and line breaks, naming `what` holds it.
///
/// Such characters are almost always pasted terminal escapes or binary data: the model can do
/// nothing useful with them, and echoed back to a terminal they could rewrite what the user sees.
/// Checked where text enters a conversation (a new message, a system prompt, a loaded file), not
/// on every request, so a long conversation is not scanned again each turn.
pub(crate) fn check_control_characters(what: &str, text: &str) -> crate::Result<()> {
    if !has_suspect_byte(text.as_bytes()) {
        return Ok(());
    }
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        None => Ok(()),
        Some((position, c)) => Err(crate::Error::InvalidInput {
            reason: format!(
                "{what} contains a control character (U+{:04X} at character {}); remove it and try again",
                u32::from(c),
                position + 1
            ),
        }),
    }
}

/// Whether `bytes` hold a byte that may begin a control character other than tab and line
/// breaks: every such character is below 0x20 or 0x7F itself, or is U+0080..U+009F, which UTF-8
/// writes as 0xC2 then a second byte. A pass over the bytes without decoding a character clears
/// nearly all text.
///
/// The bytes are tested 16 at a time with no early exit inside a block, a loop the compiler turns
/// into a few vector instructions per block; a search that stops at the first hit (`any`) is
/// compiled byte by byte, about ten instructions a byte (callgrind: 315 for a 30-byte question).
fn has_suspect_byte(bytes: &[u8]) -> bool {
    let suspect =
        |b: u8| (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r') | (b == 0x7F) | (b == 0xC2);
    let any_in = |block: &[u8]| block.iter().fold(false, |found, &b| found | suspect(b));
    let mut blocks = bytes.chunks_exact(16);
    if blocks.by_ref().any(any_in) {
        return true;
    }
    // The last few bytes padded with spaces to a whole block, so they are tested the same way.
    let rest = blocks.remainder();
    let mut last = [b' '; 16];
    last[..rest.len()].copy_from_slice(rest);
    any_in(&last)
}

/// [`check_control_characters`] on every message of a conversation, naming the message.
pub(crate) fn check_conversation_text(messages: &[Message]) -> crate::Result<()> {
    for (index, message) in messages.iter().enumerate() {
        check_control_characters(
            &format!("message {index} ({})", message.role()),
            &message.text(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_is_found_wherever_it_is() {
        // Every length around the 16-byte blocks, every position, and each kind of byte that
        // may begin one: found at its position, in the remainder as in a block.
        for len in 0..50 {
            let clean = "a".repeat(len);
            assert!(check_control_characters("t", &clean).is_ok());
            assert!(check_control_characters("t", &format!("\t{clean}\r\n")).is_ok());
            for at in 0..len {
                for bad in ['\u{1b}', '\u{7f}', '\u{85}', '\0'] {
                    let mut text: Vec<char> = clean.chars().collect();
                    text[at] = bad;
                    let text: String = text.into_iter().collect();
                    let error = check_control_characters("t", &text)
                        .unwrap_err()
                        .to_string();
                    assert!(
                        error.contains(&format!("at character {}", at + 1)),
                        "{len} {at} {bad:?}: {error}"
                    );
                }
            }
        }
        // 0xC2 also begins ordinary characters (U+00A0..U+00BF), which are not refused.
        assert!(check_control_characters("t", &"\u{a0}é£".repeat(20)).is_ok());
    }

    #[test]
    fn from_blocks_keeps_every_block_in_order() {
        let text = |t: &str| ContentBlock::Text(t.into());
        for n in 0..4 {
            let blocks: Vec<ContentBlock> = (0..n).map(|i| text(&i.to_string())).collect();
            let message = Message::from_blocks(Role::Assistant, blocks.clone());
            assert_eq!(message.content(), blocks.as_slice(), "{n} blocks");
            assert_eq!(message.role(), Role::Assistant);
        }
    }

    #[test]
    fn the_byte_check_refuses_exactly_the_control_characters_for_every_character() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let refused = check_control_characters("t", &format!("a{c}é")).is_err();
            let control = c.is_control() && !matches!(c, '\t' | '\n' | '\r');
            assert_eq!(refused, control, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn a_message_keeps_its_size_and_kind_where_padding_was_and_loads_them_anew() {
        assert_eq!(
            std::mem::size_of::<Message>(),
            3 * std::mem::size_of::<usize>()
        );
        let messages = [
            Message::user("héllo"),
            Message::assistant("a longer answer"),
            Message::new(
                Role::User,
                vec![ContentBlock::ToolResult(ToolResult::error(
                    "id-1",
                    "no such city",
                ))],
            ),
        ];
        for message in messages {
            let blocks: usize = message.content().iter().map(ContentBlock::size_bytes).sum();
            assert_eq!(message.size_bytes(), blocks);
            let tool_results = message.role() == Role::User
                && message
                    .content()
                    .iter()
                    .any(|b| b.as_tool_result().is_some());
            assert_eq!(message.is_tool_results(), tool_results);
            let json = serde_json::to_string(&message).unwrap_or_else(|e| panic!("{e}"));
            assert!(!json.contains("size"), "{json}");
            let loaded: Message = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                loaded, message,
                "the same size and kind, computed on loading"
            );
        }
    }

    #[test]
    fn serialises_like_the_converse_api() {
        let json = serde_json::to_value(Message::user("Hi")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"role": "user", "content": [{"text": "Hi"}]})
        );
    }

    #[test]
    fn blank_content_is_detected() {
        assert!(Message::user("  \n").has_blank_content());
        assert!(Message::new(Role::User, vec![]).has_blank_content());
        assert!(!Message::user("x").has_blank_content());
    }
}
