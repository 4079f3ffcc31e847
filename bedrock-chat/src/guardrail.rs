//! Amazon Bedrock Guardrails: which guardrail checks a conversation, and what it found.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A guardrail to apply to every request (Converse's `guardrailConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GuardrailConfig {
    /// The guardrail's id or ARN.
    pub id: String,
    /// Its version: a number, or `DRAFT`.
    pub version: String,
    /// Whether Bedrock returns what the guardrail assessed. Default is
    /// [`GuardrailTraceMode::Enabled`], so an intervention can be explained.
    #[serde(default)]
    pub trace: GuardrailTraceMode,
    /// For streamed replies, when the guardrail checks the text. Default is
    /// [`StreamProcessingMode::Sync`].
    #[serde(default)]
    pub stream_processing: StreamProcessingMode,
}

impl GuardrailConfig {
    /// Guardrail `id` at `version`, with its trace on and synchronous stream processing.
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> Self {
        GuardrailConfig {
            id: id.into(),
            version: version.into(),
            trace: GuardrailTraceMode::default(),
            stream_processing: StreamProcessingMode::default(),
        }
    }

    /// Sets the trace mode. Default is [`GuardrailTraceMode::Enabled`].
    #[must_use]
    pub fn trace(mut self, trace: GuardrailTraceMode) -> Self {
        self.trace = trace;
        self
    }

    /// Sets the stream processing mode. Default is [`StreamProcessingMode::Sync`].
    #[must_use]
    pub fn stream_processing(mut self, mode: StreamProcessingMode) -> Self {
        self.stream_processing = mode;
        self
    }

    /// Checks the id and the version.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty id, or a version that is neither a number nor
    /// `DRAFT`.
    pub fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() {
            return Err(Error::invalid_input("the guardrail id is empty"));
        }
        let version = self.version.trim();
        let numbered = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
        if version != "DRAFT" && !numbered {
            return Err(Error::invalid_input(format!(
                "guardrail version {version:?} must be a number or DRAFT"
            )));
        }
        Ok(())
    }
}

impl std::str::FromStr for GuardrailConfig {
    type Err = Error;

    /// `ID:VERSION`, such as `gr-abc123:1` or `gr-abc123:DRAFT` (an ARN's own colons are kept:
    /// the version follows the last one).
    fn from_str(text: &str) -> Result<Self> {
        let (id, version) = text.trim().rsplit_once(':').ok_or_else(|| {
            Error::invalid_input(format!(
                "{text:?} is not a guardrail; give ID:VERSION, such as gr-abc123:1 or gr-abc123:DRAFT"
            ))
        })?;
        let config = GuardrailConfig::new(id, version);
        config.validate()?;
        Ok(config)
    }
}

/// How much of its assessment a guardrail reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GuardrailTraceMode {
    /// No trace.
    Disabled,
    /// What the guardrail found.
    #[default]
    Enabled,
    /// Everything it assessed, found or not.
    EnabledFull,
}

/// When a guardrail checks a streamed reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamProcessingMode {
    /// Before each piece reaches the caller (a little slower).
    #[default]
    Sync,
    /// Alongside: text may arrive before the guardrail intervenes.
    Async,
}

/// What a guardrail found, from a reply's trace: why it acted, and each policy that matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GuardrailTrace {
    /// Why the guardrail acted, as Bedrock puts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_reason: Option<String>,
    /// What the model's reply was replaced with, if it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_output: Vec<String>,
    /// Each policy match, in the input and in the output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<GuardrailFinding>,
}

/// One policy match of a guardrail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GuardrailFinding {
    /// `input` (the conversation sent) or `output` (the model's reply).
    pub source: String,
    /// The policy: `topic`, `content`, `word`, `managed_word`, `pii` or `regex`.
    pub policy: String,
    /// What matched: a topic's name, a filter type (`VIOLENCE`), a word, a PII type.
    pub name: String,
    /// What the guardrail did: `BLOCKED`, `ANONYMIZED`, `NONE`.
    pub action: String,
}
