//! What a request tells the model about tools: their names, descriptions and input schemas, and
//! how the model must choose among them (Converse's `toolConfig`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest tool name Bedrock accepts.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// A tool as the model sees it: a name, what it does, and the JSON Schema of its input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolSpec {
    /// The name the model calls it by: letters, digits, `_` and `-`, 1 to 64 characters.
    pub name: String,
    /// What the tool does and when to use it; the model reads this to decide.
    pub description: String,
    /// The JSON Schema of the tool's input, whose top level is `{"type": "object", ...}`.
    pub input_schema: serde_json::Value,
}

impl ToolSpec {
    /// A tool named `name` that does what `description` says, taking input that matches
    /// `input_schema`.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: serde_json::Value,
    ) -> Self {
        ToolSpec {
            name: name.into(),
            description: description.into(),
            input_schema,
        }
    }

    /// Checks the name and the schema against Bedrock's rules.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the rule broken.
    pub fn validate(&self) -> Result<()> {
        check_tool_name(&self.name)?;
        if self.description.trim().is_empty() {
            return Err(Error::invalid_input(format!(
                "tool {:?} has no description; the model needs one to know when to call it",
                self.name
            )));
        }
        if self.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(Error::invalid_input(format!(
                "the input schema of tool {:?} must be a JSON Schema whose top level is \
                 {{\"type\": \"object\"}}",
                self.name
            )));
        }
        Ok(())
    }
}

/// Checks a tool name: letters, digits, `_` and `-`, 1 to 64 characters.
pub(crate) fn check_tool_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "{name:?} is not a valid tool name: use 1 to {MAX_TOOL_NAME_LEN} letters, digits, \
             '_' or '-'"
        )))
    }
}

/// How the model must choose among the tools.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides whether to call a tool.
    #[default]
    Auto,
    /// The model must call at least one tool.
    Any,
    /// The model must call this tool.
    Tool(String),
}

/// The tools of a request and the choice rule (Converse's `toolConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolConfig {
    /// The tools, at least one.
    pub tools: Vec<ToolSpec>,
    /// How the model must choose.
    #[serde(default)]
    pub choice: ToolChoice,
}

impl ToolConfig {
    /// The given tools, chosen among as `choice` says.
    pub fn new(tools: Vec<ToolSpec>, choice: ToolChoice) -> Self {
        ToolConfig { tools, choice }
    }

    /// Checks every tool, that names are unique, and that a named choice names one of them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the rule broken.
    pub fn validate(&self) -> Result<()> {
        if self.tools.is_empty() {
            return Err(Error::invalid_input(
                "a tool configuration needs at least one tool",
            ));
        }
        for (index, tool) in self.tools.iter().enumerate() {
            tool.validate()?;
            if self.tools[..index].iter().any(|t| t.name == tool.name) {
                return Err(Error::invalid_input(format!(
                    "two tools are named {:?}; names must be unique",
                    tool.name
                )));
            }
        }
        if let ToolChoice::Tool(name) = &self.choice
            && !self.tools.iter().any(|t| &t.name == name)
        {
            return Err(Error::invalid_input(format!(
                "the tool choice names {name:?}, which is not one of the tools"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_bedrocks_pattern() {
        for good in ["get_weather", "a", "calc-2", &"x".repeat(64)] {
            assert!(check_tool_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "get weather",
            "wetter.abrufen",
            "émoji",
            &"x".repeat(65),
        ] {
            assert!(check_tool_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configs_are_checked() {
        let tool = |name: &str| ToolSpec::new(name, "does it", json!({"type": "object"}));
        assert!(
            ToolConfig::new(vec![tool("a"), tool("b")], ToolChoice::Tool("b".into()))
                .validate()
                .is_ok()
        );
        assert!(
            ToolConfig::new(vec![tool("a"), tool("a")], ToolChoice::Auto)
                .validate()
                .is_err()
        );
        assert!(
            ToolConfig::new(vec![tool("a")], ToolChoice::Tool("c".into()))
                .validate()
                .is_err()
        );
        assert!(ToolConfig::new(vec![], ToolChoice::Any).validate().is_err());
        let array_schema = ToolSpec::new("a", "d", json!({"type": "array"}));
        assert!(array_schema.validate().is_err());
    }
}
