//! Conversations on disk: versioned JSON, written atomically.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::message::{Message, check_control_characters, check_conversation_text};
use crate::request::{Ending, InferenceConfig, validate_conversation};
use crate::response::TokenUsage;

/// The `format` field every saved conversation carries, so a stray JSON file is recognised.
const FORMAT: &str = "bedrock-chat/conversation";

/// The newest format version this build writes and reads. Version 2 added tool calls, tool
/// results, images and documents; version 3 a title given by the user. Each file is written at
/// the oldest version that holds it (a conversation of text only without a title is still
/// version 1), so older builds read what they can and say "upgrade" for the rest.
pub const CONVERSATION_FORMAT_VERSION: u32 = 3;

/// The longest title a conversation may be given, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// The largest conversation file read. A conversation near this size would not fit any model's
/// context window anyway, and the limit keeps `/load /dev/zero` or a huge stray file from
/// exhausting memory: the file is never read past it.
pub const MAX_CONVERSATION_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Checks a conversation's title: not blank, one line, at most [`MAX_TITLE_CHARS`].
pub(super) fn check_title(title: &str) -> Result<()> {
    if title.trim().is_empty() {
        return Err(Error::invalid_input(
            "the title is blank; give it some text, or none for the automatic title",
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            "the title holds a line break or a control character; keep it to one line",
        ));
    }
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(Error::invalid_input(format!(
            "the title is {chars} characters long, more than {MAX_TITLE_CHARS}; shorten it"
        )));
    }
    Ok(())
}

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
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    system_prompt: Option<String>,
    #[serde(default)]
    inference: InferenceConfig,
    messages: Vec<Message>,
    #[serde(default)]
    usage: TokenUsage,
}

pub(super) struct Parts {
    pub(super) title: Option<String>,
    pub(super) model_id: String,
    pub(super) system_prompt: Option<String>,
    pub(super) inference: InferenceConfig,
    pub(super) messages: Vec<Message>,
    pub(super) usage: TokenUsage,
}

impl SavedConversation {
    pub(super) fn new(
        title: Option<String>,
        model_id: String,
        system_prompt: Option<String>,
        inference: InferenceConfig,
        messages: Vec<Message>,
        usage: TokenUsage,
    ) -> Self {
        let text_only = messages
            .iter()
            .all(|m| m.content().iter().all(|b| b.as_text().is_some()));
        let version = match (&title, text_only) {
            (Some(_), _) => 3,
            (None, false) => 2,
            (None, true) => 1,
        };
        SavedConversation {
            format: FORMAT.to_string(),
            version,
            title,
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

    /// The title the user gave the conversation, if any (see [`ChatSession::set_title`]).
    ///
    /// [`ChatSession::set_title`]: crate::ChatSession::set_title
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The model id the conversation was held with.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The system prompt, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    /// The inference settings the conversation was held with.
    pub fn inference(&self) -> &InferenceConfig {
        &self.inference
    }

    /// The tokens the conversation's session had used when it was saved.
    pub fn usage(&self) -> TokenUsage {
        self.usage
    }

    pub(super) fn into_parts(self) -> Parts {
        Parts {
            title: self.title,
            model_id: self.model_id,
            system_prompt: self.system_prompt,
            inference: self.inference,
            messages: self.messages,
            usage: self.usage,
        }
    }

    /// The conversation as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses and checks a saved conversation. Any bytes are safe to pass: the result is a
    /// conversation a request can be built from, or an error that says what is wrong.
    ///
    /// # Errors
    ///
    /// [`Error::ConversationFile`] saying what is wrong: not JSON, not a conversation, a newer or
    /// damaged format version, or a conversation that cannot be continued.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        Self::parse(json).map_err(|(reason, source)| Error::ConversationFile {
            path: "<memory>".into(),
            reason,
            source,
        })
    }

    fn parse(json: &[u8]) -> std::result::Result<Self, (String, Option<crate::error::BoxError>)> {
        // A byte-order mark is what some editors put first; it changes nothing.
        let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json);
        // Read the marker and the version before the body, so that a newer file is reported as
        // newer, and a damaged version as damaged, rather than either as malformed.
        let header: serde_json::Value = serde_json::from_slice(json).map_err(|e| {
            let reason = if std::str::from_utf8(json).is_err() {
                "is not a saved conversation (not UTF-8 text)"
            } else {
                "is not a saved conversation (not valid JSON)"
            };
            (reason.to_string(), Some(e.into()))
        })?;
        let Some(header) = header.as_object() else {
            return Err((
                "is not a saved conversation (JSON, but not an object)".to_string(),
                None,
            ));
        };
        if header.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err((
                "is not a bedrock-chat conversation (no format marker)".to_string(),
                None,
            ));
        }
        match header.get("version") {
            None => return Err(("has no format version".to_string(), None)),
            Some(version) => match version.as_u64() {
                Some(v) if v > u64::from(CONVERSATION_FORMAT_VERSION) => {
                    return Err((
                        format!(
                            "was written by a newer bedrock-chat (format version {v}; this build reads up to {CONVERSATION_FORMAT_VERSION}); upgrade to load it"
                        ),
                        None,
                    ));
                }
                Some(v) if v >= 1 => {}
                _ => {
                    return Err((
                        format!(
                            "has a damaged format version ({version}; expected a whole number from 1 to {CONVERSATION_FORMAT_VERSION})"
                        ),
                        None,
                    ));
                }
            },
        }
        let mut saved: SavedConversation = serde_json::from_slice(json).map_err(|e| {
            (
                format!("is damaged and cannot be read ({e})"),
                Some(e.into()),
            )
        })?;
        // A blank prompt is no prompt: sent as is, Bedrock would refuse every turn.
        saved.system_prompt = saved.system_prompt.filter(|p| !p.trim().is_empty());
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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] or [`Error::Config`] naming the first problem.
    pub fn validate(&self) -> Result<()> {
        if self.model_id.trim().is_empty() {
            return Err(Error::invalid_input(
                "the saved conversation has no model id",
            ));
        }
        validate_conversation(&self.messages, Ending::Assistant)?;
        check_conversation_text(&self.messages)?;
        if let Some(prompt) = &self.system_prompt {
            check_control_characters("the system prompt", prompt)?;
        }
        if let Some(title) = &self.title {
            check_title(title)?;
        }
        self.inference.validate()
    }

    /// Reads a conversation file.
    ///
    /// # Errors
    ///
    /// [`Error::ConversationFile`] saying what is wrong: the file or its folder does not exist,
    /// it is a directory or not a regular file (a device or a pipe is never read), permission is
    /// denied, it is larger than [`MAX_CONVERSATION_FILE_BYTES`], or its content is not a
    /// conversation that can be continued.
    pub fn read(path: &Path) -> Result<Self> {
        use std::io::Read;
        let fail =
            |reason: String, source: Option<crate::error::BoxError>| Error::ConversationFile {
                path: path.to_path_buf(),
                reason,
                source,
            };
        let unreadable = |e: std::io::Error| {
            fail(
                format!("cannot be read: {}", describe_io_error(path, &e)),
                Some(e.into()),
            )
        };
        let metadata = std::fs::metadata(path).map_err(unreadable)?;
        if metadata.is_dir() {
            return Err(fail("is a folder, not a file".to_string(), None));
        }
        if !metadata.is_file() {
            return Err(fail(
                "is not a regular file (a device, pipe or socket); only saved conversations are read"
                    .to_string(),
                None,
            ));
        }
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let mut bytes = Vec::new();
        file.take(MAX_CONVERSATION_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > MAX_CONVERSATION_FILE_BYTES {
            return Err(fail(
                format!(
                    "is larger than {} MiB, more than any saved conversation; it is not one",
                    MAX_CONVERSATION_FILE_BYTES / (1024 * 1024)
                ),
                None,
            ));
        }
        Self::parse(&bytes).map_err(|(reason, source)| fail(reason, source))
    }

    /// Writes the conversation to `path`, replacing it atomically: the JSON goes to a temporary
    /// file in the same directory, which is flushed to disk and then renamed over `path`. A crash
    /// or a full disk leaves the old file intact. The file is readable only by its owner.
    ///
    /// Only a saved conversation is ever replaced: a path that holds anything else (another
    /// kind of file, a folder, a device) is left alone and reported. To ask before replacing a
    /// conversation, check [`Path::exists`] first, as the REPL does.
    ///
    /// # Errors
    ///
    /// [`Error::ConversationFile`] when `path` holds something that is not a saved conversation,
    /// or the file cannot be written (the message says why: folder missing, permission denied,
    /// disk full, ...). The old file, if any, is then unchanged.
    pub fn write(&self, path: &Path) -> Result<()> {
        let fail = |reason: &str, e: std::io::Error| Error::ConversationFile {
            path: path.to_path_buf(),
            reason: format!("{reason}: {}", describe_io_error(path, &e)),
            source: Some(e.into()),
        };
        match std::fs::metadata(path) {
            Ok(_) => {
                if let Err(error) = Self::read(path) {
                    let reason = match &error {
                        Error::ConversationFile { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    };
                    return Err(Error::ConversationFile {
                        path: path.to_path_buf(),
                        reason: format!(
                            "was not replaced: it {reason}, and only a saved conversation is ever overwritten; choose another name"
                        ),
                        source: None,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail("cannot be written", e)),
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // tempfile creates the file with mode 0600 on Unix, before any data is written.
        let mut file =
            tempfile::NamedTempFile::new_in(dir).map_err(|e| fail("cannot be written", e))?;
        file.write_all(self.to_json().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| fail("cannot be written", e))?;
        file.persist(path)
            .map_err(|e| fail("cannot be replaced", e.error))?;
        Ok(())
    }
}

/// Says why an I/O error happened to the file at `path`, in the words a person would use.
pub(crate) fn describe_io_error(path: &Path, error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                format!("the folder {} does not exist", dir.display())
            }
            _ => "it does not exist".to_string(),
        },
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        ErrorKind::IsADirectory => "it is a folder, not a file".to_string(),
        ErrorKind::NotADirectory => "part of its path is a file, not a folder".to_string(),
        ErrorKind::StorageFull => "the disk is full".to_string(),
        ErrorKind::ReadOnlyFilesystem => "the file system is read-only".to_string(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SavedConversation {
        SavedConversation::new(
            None,
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
    fn a_title_is_kept_and_written_as_version_3() {
        let mut saved = sample();
        saved.title = Some("Opening hours".into());
        saved.version = 3;
        let json = saved.to_json();
        assert!(json.contains("\"version\": 3"), "{json}");
        let read = SavedConversation::from_json(json.as_bytes()).unwrap();
        assert_eq!(read.title(), Some("Opening hours"));
        // Without a title the same conversation is version 1, readable by older builds.
        assert!(sample().to_json().contains("\"version\": 1"));
        let bad = json.replace("Opening hours", "two\\nlines");
        let err = SavedConversation::from_json(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("one line"), "{err}");
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
        let mut old = sample();
        old.messages[1] = Message::assistant("an older reply");
        old.write(&path).unwrap();
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

    #[test]
    fn a_byte_order_mark_is_accepted_and_damaged_versions_are_named() {
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(sample().to_json().as_bytes());
        assert_eq!(SavedConversation::from_json(&bom).unwrap(), sample());
        for damaged in ["\"1\"", "-1", "1.5", "null", "0"] {
            let json = sample()
                .to_json()
                .replace("\"version\": 1", &format!("\"version\": {damaged}"));
            let err = SavedConversation::from_json(json.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains("damaged format version"),
                "{damaged}: {err}"
            );
        }
        let err = SavedConversation::from_json(b"[1, 2]").unwrap_err();
        assert!(err.to_string().contains("not an object"), "{err}");
    }

    #[test]
    fn loaded_text_is_checked_for_control_characters_and_a_blank_prompt_is_none() {
        let json = sample().to_json().replace("hello", "hel\\u0000lo");
        let err = SavedConversation::from_json(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("control character"), "{err}");
        let json = sample()
            .to_json()
            .replace("be brief", "be \\u001b[2J brief");
        let err = SavedConversation::from_json(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("system prompt"), "{err}");
        let json = sample().to_json().replace("be brief", "  ");
        let saved = SavedConversation::from_json(json.as_bytes()).unwrap();
        assert_eq!(saved.system_prompt(), None);
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read_and_the_reason_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let reason = |path: &Path| SavedConversation::read(path).unwrap_err().to_string();
        assert!(reason(Path::new("/dev/zero")).contains("not a regular file"));
        assert!(reason(dir.path()).contains("is a folder"));
        assert!(reason(&dir.path().join("nope.json")).contains("does not exist"));
        let missing = dir.path().join("missing").join("chat.json");
        assert!(reason(&missing).contains("folder"), "{}", reason(&missing));
        let huge = dir.path().join("huge.json");
        let file = std::fs::File::create(&huge).unwrap();
        file.set_len(MAX_CONVERSATION_FILE_BYTES + 10).unwrap();
        assert!(reason(&huge).contains("larger than"), "{}", reason(&huge));
    }

    #[cfg(unix)]
    #[test]
    fn a_write_never_replaces_anything_but_a_saved_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "my notes").unwrap();
        let err = sample().write(&notes).unwrap_err();
        assert!(err.to_string().contains("was not replaced"), "{err}");
        assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
        let err = sample().write(Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        {
            use std::os::unix::fs::FileTypeExt;
            assert!(
                std::fs::metadata("/dev/null")
                    .unwrap()
                    .file_type()
                    .is_char_device()
            );
        }
        let err = sample().write(dir.path()).unwrap_err();
        assert!(err.to_string().contains("folder"), "{err}");
        // A saved conversation is replaced.
        let chat = dir.path().join("chat.json");
        sample().write(&chat).unwrap();
        sample().write(&chat).unwrap();
        let missing = dir.path().join("missing").join("chat.json");
        let err = sample().write(&missing).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
