//! Messages: who said what.

use serde::{Deserialize, Serialize};

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
/// Only text exists today. The enum is `#[non_exhaustive]` so that images, documents and tool use
/// can be added without breaking callers; match with a wildcard arm. It serialises the way the
/// Converse API spells content blocks: `{"text": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text(String),
}

impl ContentBlock {
    /// The block's text, if it is a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text(text) => Some(text),
        }
    }

    /// True when the block carries nothing Bedrock would accept (an empty or whitespace-only text).
    pub fn is_blank(&self) -> bool {
        match self {
            ContentBlock::Text(text) => text.trim().is_empty(),
        }
    }
}

/// A message in a conversation: a role and one or more content blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    role: Role,
    content: Vec<ContentBlock>,
}

impl Message {
    /// A message from `role` with the given content blocks.
    pub fn new(role: Role, content: Vec<ContentBlock>) -> Self {
        Message { role, content }
    }

    /// A user message holding one text block.
    pub fn user(text: impl Into<String>) -> Self {
        Message::new(Role::User, vec![ContentBlock::Text(text.into())])
    }

    /// An assistant message holding one text block.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message::new(Role::Assistant, vec![ContentBlock::Text(text.into())])
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
        for block in &self.content {
            if let Some(text) = block.as_text() {
                out.push_str(text);
            }
        }
        out
    }

    /// The number of bytes of text the message carries.
    pub fn text_len(&self) -> usize {
        self.content
            .iter()
            .filter_map(ContentBlock::as_text)
            .map(str::len)
            .sum()
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
