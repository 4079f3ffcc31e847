//! Structured output: replies that are JSON of a given shape.
//!
//! Bedrock constrains a reply to a JSON schema through Converse's `outputConfig` on the models
//! that support it; on the others the same schema becomes a tool the model is made to call,
//! whose input is the reply. [`ChatSession::send_structured`](crate::ChatSession::send_structured)
//! picks the way and parses the reply into a Rust type.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The shape a reply must have: a JSON schema with a name (and, optionally, what it is for).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputSchema {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    schema: Value,
}

/// The longest schema name Bedrock takes (it names a tool in the fallback, which has this limit).
const MAX_NAME_CHARS: usize = 64;

/// The largest schema taken, as JSON: far more than any reply's shape needs, and small enough
/// that a schema cannot be the bulk of a request's (billed) input.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

impl OutputSchema {
    /// A schema named `name` (letters, digits, `_` and `-`, at most 64), made ready for Bedrock's
    /// constrained decoding (see [`schema`](Self::schema)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad name, or a schema that is not a JSON object describing
    /// an object (`"type": "object"`), as both ways of asking need.
    pub fn new(name: impl Into<String>, schema: Value) -> Result<Self> {
        let name = name.into();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            let shown: String = name.chars().take(MAX_NAME_CHARS + 1).collect();
            return Err(Error::invalid_input(format!(
                "{shown:?} cannot name an output schema: use 1 to {MAX_NAME_CHARS} letters, \
                 digits, '_' or '-'"
            )));
        }
        let size = schema.to_string().len();
        if size > MAX_SCHEMA_BYTES {
            return Err(Error::invalid_input(format!(
                "the output schema is {size} bytes of JSON, more than the {MAX_SCHEMA_BYTES} taken"
            )));
        }
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(Error::invalid_input(
                "an output schema must describe a JSON object (\"type\": \"object\"); wrap \
                 other values in an object's property",
            ));
        }
        Ok(OutputSchema {
            name,
            description: None,
            schema: prepare(schema),
        })
    }

    /// The schema of `T`, from its `JsonSchema` derive, named after the type.
    pub fn of<T: schemars::JsonSchema>() -> Self {
        let schema = schemars::SchemaGenerator::default()
            .into_root_schema_for::<T>()
            .to_value();
        let name: String = T::schema_name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_NAME_CHARS)
            .collect();
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        // A non-object type (a bare enum, a number) cannot be a reply's shape: say so when it is
        // used rather than here, as `of` is infallible; Bedrock's message names it too.
        OutputSchema {
            name: if name.is_empty() {
                "reply".to_string()
            } else {
                name
            },
            description,
            schema: prepare(schema),
        }
    }

    /// Sets what the reply is for, which the model reads. Default is the type's doc comment
    /// (for [`of`](Self::of)), else none.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the reply is for, if said.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The schema as sent: without `$schema`, every object closed to properties it does not
    /// list (`"additionalProperties": false`, which constrained decoding requires), and without
    /// the number and length limits it does not take (`minimum`, `maxLength`, `format` on
    /// numbers, ...); those are checked when the reply is parsed into the type.
    pub fn schema(&self) -> &Value {
        &self.schema
    }
}

/// Keywords constrained decoding refuses; the parse into the Rust type still checks what they
/// meant (a `u8` refuses 300 whatever the schema said).
const UNSUPPORTED: [&str; 9] = [
    "$schema",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
];

/// String formats Claude's constrained decoding knows; any other `format` is dropped.
const STRING_FORMATS: [&str; 9] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "uri",
    "ipv4",
    "uuid",
];

fn prepare(mut schema: Value) -> Value {
    close(&mut schema);
    schema
}

fn close(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in UNSUPPORTED {
                map.remove(key);
            }
            let string_type = map.get("type").and_then(Value::as_str) == Some("string");
            if map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| !string_type || !STRING_FORMATS.contains(&f))
            {
                map.remove("format");
            }
            if map
                .get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|n| n > 1)
            {
                map.remove("minItems");
            }
            let is_object = map.get("type").and_then(Value::as_str) == Some("object")
                || map.contains_key("properties");
            if is_object && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for child in map.values_mut() {
                close(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}

/// How a session asks for a reply of a schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StructuredMode {
    /// Converse's `outputConfig` for the models known to support it (Claude 4.5 and newer, and
    /// models of other makers), a forced tool call for the others; and a tool call after
    /// Bedrock refuses `outputConfig` for a model, from then on. The default.
    #[default]
    Auto,
    /// Always `outputConfig` (constrained decoding: the reply is valid JSON of the schema).
    OutputConfig,
    /// Always a tool call the model is made to make, whose input is the reply (any model with
    /// tool use; the schema is followed as closely as the model manages).
    ToolCall,
}

impl StructuredMode {
    /// How [`Auto`](Self::Auto) asks `model_id` for a structured reply:
    /// [`OutputConfig`](Self::OutputConfig) for the models known to take it (Claude 4.5 and
    /// newer, Opus 4.1, other makers' models), [`ToolCall`](Self::ToolCall) for older Claude.
    pub fn for_model(model_id: &str) -> Self {
        if supports_output_config(model_id) {
            StructuredMode::OutputConfig
        } else {
            StructuredMode::ToolCall
        }
    }
}

/// Whether a model is known to take `outputConfig`. Claude before 4.5 (Opus 4.1 aside) does not.
pub(crate) fn supports_output_config(model_id: &str) -> bool {
    let Some(at) = model_id.find("claude-") else {
        return true;
    };
    let name = &model_id[at + "claude-".len()..];
    // Versions come as `sonnet-4-5`, `opus-4-1`, `3-5-sonnet`, `haiku-4-5`, `sonnet-4-6`, ...
    let numbers: Vec<u32> = name
        .split(['-', '.', ':', '@'])
        .take_while(|part| part.len() <= 2 || !part.chars().all(|c| c.is_ascii_digit()))
        .filter_map(|part| part.parse().ok())
        .collect();
    match numbers.as_slice() {
        [major, ..] if *major >= 5 => true,
        [4, minor, ..] => *minor >= 5 || (*minor == 1 && name.starts_with("opus")),
        _ => false,
    }
}

/// The JSON of a reply as the schema's object: the text itself (`outputConfig`), with any
/// Markdown code fence a model without constrained decoding put around it taken off.
pub(crate) fn reply_json(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(inner) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let inner = inner.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

/// Parses a reply's JSON into `T`, or says why not, keeping the raw text.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(reply_json(text)).map_err(|error| Error::StructuredReply {
        type_name: std::any::type_name::<T>().into(),
        reason: error.to_string(),
        raw: text.to_string(),
    })
}

/// A value of `schema` with every field filled in the simplest way (the first enum value, an
/// empty string, zero, one item per array), used by the fake Bedrock to answer a structured
/// request in the schema's shape.
#[cfg(feature = "testing")]
pub(crate) fn example_of(
    schema: &Value,
    defs: &std::collections::BTreeMap<String, Value>,
) -> Value {
    example_at(schema, defs, 0)
}

/// How deep [`example_of`] follows a schema: a `$ref` to itself (a tree's node) would go on
/// for ever, and a stranger's schema may be built to.
#[cfg(feature = "testing")]
const MAX_EXAMPLE_DEPTH: usize = 16;

#[cfg(feature = "testing")]
fn example_at(
    schema: &Value,
    defs: &std::collections::BTreeMap<String, Value>,
    depth: usize,
) -> Value {
    if depth > MAX_EXAMPLE_DEPTH {
        return Value::Null;
    }
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .rsplit('/')
            .next()
            .and_then(|name| defs.get(name))
            .unwrap_or(&Value::Null),
        None => schema,
    };
    if let Some(first) = resolved
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        return first.clone();
    }
    if let Some(constant) = resolved.get("const") {
        return constant.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = resolved.get(key).and_then(Value::as_array).and_then(|v| {
            v.iter()
                .find(|s| s.get("type") != Some(&Value::from("null")))
        }) {
            return example_at(first, defs, depth + 1);
        }
    }
    let kind = match resolved.get("type") {
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        Some(Value::String(kind)) => kind,
        _ => "object",
    };
    match kind {
        "object" => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = resolved.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), example_at(property, defs, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => Value::Array(
            resolved
                .get("items")
                .map(|items| vec![example_at(items, defs, depth + 1)])
                .unwrap_or_default(),
        ),
        "string" => Value::from("example"),
        "integer" => Value::from(1),
        "number" => Value::from(1.5),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

/// The `$defs` of a root schema, for [`example_of`].
#[cfg(feature = "testing")]
pub(crate) fn definitions(schema: &Value) -> std::collections::BTreeMap<String, Value> {
    ["$defs", "definitions"]
        .iter()
        .filter_map(|key| schema.get(*key).and_then(Value::as_object))
        .flat_map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, schemars::JsonSchema, Deserialize)]
    #[allow(dead_code)]
    /// A city and how many live there.
    struct City {
        name: String,
        population: u32,
        nicknames: Vec<String>,
        country: Option<Country>,
    }

    #[derive(Debug, schemars::JsonSchema, Deserialize)]
    #[allow(dead_code)]
    struct Country {
        code: String,
    }

    #[test]
    fn a_type_schema_is_closed_and_stripped_of_what_bedrock_refuses() {
        let schema = OutputSchema::of::<City>();
        assert_eq!(schema.name(), "City");
        assert_eq!(
            schema.description(),
            Some("A city and how many live there.")
        );
        let text = schema.schema().to_string();
        for refused in ["$schema", "minimum", "uint32"] {
            assert!(!text.contains(refused), "{refused} in {text}");
        }
        assert_eq!(schema.schema()["additionalProperties"], Value::Bool(false));
        assert_eq!(
            schema.schema()["$defs"]["Country"]["additionalProperties"],
            Value::Bool(false)
        );
    }

    #[test]
    fn bad_names_and_non_object_schemas_are_refused() {
        let object = serde_json::json!({"type": "object"});
        assert!(OutputSchema::new("ok_name-1", object.clone()).is_ok());
        for name in ["", "has space", "dots.no", &"x".repeat(65)] {
            assert!(OutputSchema::new(name, object.clone()).is_err(), "{name}");
        }
        let err = OutputSchema::new("n", serde_json::json!({"type": "string"})).unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
    }

    #[test]
    fn models_that_take_output_config_are_told_apart() {
        for (id, supports) in [
            ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", true),
            ("anthropic.claude-haiku-4-5-20251001-v1:0", true),
            ("eu.anthropic.claude-sonnet-4-6", true),
            ("anthropic.claude-opus-4-1-20250805-v1:0", true),
            ("anthropic.claude-sonnet-4-20250514-v1:0", false),
            ("anthropic.claude-3-5-sonnet-20240620-v1:0", false),
            ("anthropic.claude-3-haiku-20240307-v1:0", false),
            ("amazon.nova-pro-v1:0", true),
        ] {
            assert_eq!(supports_output_config(id), supports, "{id}");
        }
    }

    #[test]
    fn a_reply_parses_with_or_without_a_code_fence_and_a_bad_one_keeps_its_text() {
        let city: City =
            parse("```json\n{\"name\":\"Lyon\",\"population\":522000,\"nicknames\":[],\"country\":null}\n```")
                .unwrap();
        assert_eq!(city.population, 522_000);
        let err = parse::<City>("{\"name\": \"Lyon\", \"population\": -3}").unwrap_err();
        assert_eq!(
            err.raw_reply(),
            Some("{\"name\": \"Lyon\", \"population\": -3}")
        );
        assert!(err.to_string().contains("City"), "{err}");
    }

    #[cfg(feature = "testing")]
    #[test]
    fn the_example_of_a_schema_parses_as_its_type() {
        let schema = OutputSchema::of::<City>();
        let defs = definitions(schema.schema());
        let value = example_of(schema.schema(), &defs);
        let city: City = serde_json::from_value(value).unwrap();
        assert_eq!(city.nicknames.len(), 1);
        assert!(city.country.is_some());
        // A schema that refers to itself ends rather than recursing for ever.
        let tree = serde_json::json!({
            "type": "object",
            "properties": {"child": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}}
        });
        let mut depth = 0;
        let mut node = &example_of(&tree, &definitions(&tree));
        while let Some(child) = node.get("child") {
            depth += 1;
            node = child;
        }
        assert!((1..=MAX_EXAMPLE_DEPTH + 1).contains(&depth), "{depth}");
    }
}
