//! Conversations on disk: versioned JSON, written atomically.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::message::Message;
use crate::request::{Ending, InferenceConfig, validate_conversation};
use crate::response::TokenUsage;

/// The `format` field every saved conversation carries, so a stray JSON file is recognised.
const FORMAT: &str = "bedrock-chat/conversation";

/// The newest format version this build writes and reads.
pub const CONVERSATION_FORMAT_VERSION: u32 = 1;

/// A conversation and its settings, as saved to disk.
///
/// The JSON carries a `format` marker and a `version`; a file from a newer version of the crate
/// is refused with a message saying so, rather than half-read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedConversation {
    format: String,
    version: u32,
    model_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    system_prompt: Option<String>,
    #[serde(default)]
    inference: InferenceConfig,
    messages: Vec<Message>,
    #[serde(default)]
    usage: TokenUsage,
}

pub(super) struct Parts {
    pub(super) model_id: String,
    pub(super) system_prompt: Option<String>,
    pub(super) inference: InferenceConfig,
    pub(super) messages: Vec<Message>,
}

impl SavedConversation {
    pub(super) fn new(
        model_id: String,
        system_prompt: Option<String>,
        inference: InferenceConfig,
        messages: Vec<Message>,
        usage: TokenUsage,
    ) -> Self {
        SavedConversation {
            format: FORMAT.to_string(),
            version: CONVERSATION_FORMAT_VERSION,
            model_id,
            system_prompt,
            inference,
            messages,
            usage,
        }
    }

    /// The saved messages, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The model id the conversation was held with.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The system prompt, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    /// The tokens the conversation's session had used when it was saved.
    pub fn usage(&self) -> TokenUsage {
        self.usage
    }

    pub(super) fn into_parts(self) -> Parts {
        Parts {
            model_id: self.model_id,
            system_prompt: self.system_prompt,
            inference: self.inference,
            messages: self.messages,
        }
    }

    /// The conversation as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and checks a saved conversation. Any bytes are safe to pass: the result is a
    /// conversation a request can be built from, or an error that says what is wrong.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        Self::parse(json).map_err(|(reason, source)| Error::ConversationFile {
            path: "<memory>".into(),
            reason,
            source,
        })
    }

    fn parse(json: &[u8]) -> std::result::Result<Self, (String, Option<crate::error::BoxError>)> {
        // Read the version before the body, so that a newer file is reported as newer rather
        // than as malformed.
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u32>,
        }
        let header: Header = serde_json::from_slice(json).map_err(|e| {
            (
                "is not a saved conversation (not valid JSON)".to_string(),
                Some(e.into()),
            )
        })?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err((
                "is not a bedrock-chat conversation (no format marker)".to_string(),
                None,
            ));
        }
        match header.version {
            Some(v) if v > CONVERSATION_FORMAT_VERSION => {
                return Err((
                    format!(
                        "was written by a newer bedrock-chat (format version {v}; this build reads up to {CONVERSATION_FORMAT_VERSION}); upgrade to load it"
                    ),
                    None,
                ));
            }
            Some(v) if v >= 1 => {}
            _ => return Err(("has no valid format version".to_string(), None)),
        }
        let saved: SavedConversation = serde_json::from_slice(json)
            .map_err(|e| ("is damaged and cannot be read".to_string(), Some(e.into())))?;
        saved.validate().map_err(|e| {
            (
                format!("holds a conversation that cannot be continued: {e}"),
                None,
            )
        })?;
        Ok(saved)
    }

    /// Checks that the conversation can be continued: whole exchanges, alternating roles, no
    /// blank messages, a model id and settings in range.
    pub fn validate(&self) -> Result<()> {
        if self.model_id.trim().is_empty() {
            return Err(Error::invalid_input(
                "the saved conversation has no model id",
            ));
        }
        validate_conversation(&self.messages, Ending::Assistant)?;
        self.inference.validate()
    }

    /// Reads a conversation file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::ConversationFile {
            path: path.to_path_buf(),
            reason: "cannot be read".to_string(),
            source: Some(e.into()),
        })?;
        Self::parse(&bytes).map_err(|(reason, source)| Error::ConversationFile {
            path: path.to_path_buf(),
            reason,
            source,
        })
    }

    /// Writes the conversation to `path`, replacing it atomically: the JSON goes to a temporary
    /// file in the same directory, which is flushed to disk and then renamed over `path`. A crash
    /// or a full disk leaves the old file intact. The file is readable only by its owner.
    pub fn write(&self, path: &Path) -> Result<()> {
        let fail = |reason: &str, e: std::io::Error| Error::ConversationFile {
            path: path.to_path_buf(),
            reason: reason.to_string(),
            source: Some(e.into()),
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // tempfile creates the file with mode 0600 on Unix, before any data is written.
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
            fail(
                "cannot be written (cannot create a file in its directory)",
                e,
            )
        })?;
        file.write_all(self.to_json().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| fail("cannot be written", e))?;
        file.persist(path)
            .map_err(|e| fail("cannot be replaced", e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SavedConversation {
        SavedConversation::new(
            "m".into(),
            Some("be brief".into()),
            InferenceConfig::new().max_tokens(10),
            vec![Message::user("hi"), Message::assistant("hello")],
            TokenUsage::new(3, 4),
        )
    }

    #[test]
    fn round_trips_through_json() {
        let saved = sample();
        assert_eq!(
            SavedConversation::from_json(saved.to_json().as_bytes()).unwrap(),
            saved
        );
    }

    #[test]
    fn newer_versions_are_refused_with_a_clear_message() {
        let json = sample()
            .to_json()
            .replace("\"version\": 1", "\"version\": 9");
        let err = SavedConversation::from_json(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("newer bedrock-chat"), "{err}");
    }

    #[test]
    fn broken_alternation_and_garbage_are_refused() {
        let mut saved = sample();
        saved.messages.swap(0, 1);
        let err = SavedConversation::from_json(saved.to_json().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("cannot be continued"), "{err}");
        assert!(SavedConversation::from_json(b"{\"format\": ").is_err());
        assert!(SavedConversation::from_json(b"[]").is_err());
        assert!(SavedConversation::from_json(&[0xff, 0xfe]).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Any bytes at all: a conversation or an error, never a panic.
        #[test]
        fn the_loader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = SavedConversation::from_json(&bytes);
        }

        /// A valid file cut or damaged anywhere is refused or still valid, never a panic, and a
        /// loaded result always passes validation.
        #[test]
        fn damaged_files_are_refused_cleanly(cut in 0usize..400, flip in 0usize..400, byte in proptest::prelude::any::<u8>()) {
            let mut json = sample().to_json().into_bytes();
            if flip < json.len() {
                json[flip] = byte;
            }
            json.truncate(cut.max(1).min(json.len()));
            if let Ok(saved) = SavedConversation::from_json(&json) {
                proptest::prop_assert!(saved.validate().is_ok());
            }
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.json");
        sample().write(&path).unwrap();
        // A directory where the file's directory should be: the write cannot happen.
        let blocked = dir.path().join("chat.json").join("inner.json");
        assert!(sample().write(&blocked).is_err());
        assert_eq!(SavedConversation::read(&path).unwrap(), sample());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_owner_only_and_replace_the_old_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.json");
        std::fs::write(&path, "old").unwrap();
        sample().write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(SavedConversation::read(&path).unwrap(), sample());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
