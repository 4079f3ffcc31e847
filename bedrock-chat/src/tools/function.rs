//! A tool from a typed async function.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Tool, ToolError, ToolOutput};
use crate::error::Result;
use crate::tool_spec::ToolSpec;

type Handler = dyn Fn(serde_json::Value) -> BoxFuture<'static, std::result::Result<ToolOutput, ToolError>>
    + Send
    + Sync;

/// A tool made from an async function whose input is a `serde::Deserialize` type.
///
/// The input schema comes from the type's `schemars::JsonSchema` implementation
/// ([`FunctionTool::new`]) or is written by hand ([`FunctionTool::with_schema`]). Input the model
/// writes that does not fit the type never reaches the function: the model gets an error result
/// naming what is wrong, and can try again. The function's output is any `Serialize` value (a
/// `String` is sent as text, a struct as JSON); its error is anything that displays, sent back to
/// the model as a failed result.
///
/// ```
/// use bedrock_chat::FunctionTool;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// Adds two numbers.
/// #[derive(Deserialize, JsonSchema)]
/// struct Sum {
///     /// The first number.
///     a: f64,
///     /// The second number.
///     b: f64,
/// }
///
/// let add = FunctionTool::new("add", "Adds two numbers exactly", |sum: Sum| async move {
///     Ok::<_, String>(sum.a + sum.b)
/// })?;
/// # Ok::<(), bedrock_chat::Error>(())
/// ```
#[derive(Clone)]
pub struct FunctionTool {
    spec: ToolSpec,
    handler: Arc<Handler>,
}

impl FunctionTool {
    /// A tool named `name`, described by `description`, running `function` on input of type
    /// `I`, whose JSON Schema is derived with `schemars`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a name Bedrock would refuse
    /// (letters, digits, `_` and `-`, 1 to 64 characters), an empty description, or a type whose
    /// schema is not an object.
    pub fn new<I, O, E, F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        function: F,
    ) -> Result<Self>
    where
        I: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        O: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<O, E>> + Send + 'static,
    {
        let mut schema = serde_json::to_value(schemars::schema_for!(I)).unwrap_or_default();
        if let Some(map) = schema.as_object_mut() {
            // Noise for the model: the draft the schema follows, and the type's Rust name.
            map.remove("$schema");
            map.remove("title");
        }
        Self::with_schema(name, description, schema, function)
    }

    /// Like [`new`](Self::new), with a JSON Schema written by hand; it must describe what `I`
    /// accepts, and its top level must be `{"type": "object", ...}`.
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new).
    pub fn with_schema<I, O, E, F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: serde_json::Value,
        function: F,
    ) -> Result<Self>
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<O, E>> + Send + 'static,
    {
        let spec = ToolSpec::new(name, description, input_schema);
        spec.validate()?;
        let _input: PhantomData<I> = PhantomData;
        let handler = move |input: serde_json::Value| -> BoxFuture<'static, _> {
            // A tool without input gets no input at all from some models: read it as `{}`.
            let input = if input.is_null() {
                serde_json::Value::Object(serde_json::Map::new())
            } else {
                input
            };
            match serde_json::from_value::<I>(input) {
                Err(error) => Box::pin(std::future::ready(Err(ToolError::new(format!(
                    "the input does not match the tool's schema: {error}"
                ))))),
                Ok(input) => {
                    let call = function(input);
                    Box::pin(async move {
                        match call.await {
                            Ok(output) => serde_json::to_value(output)
                                .map(ToolOutput::json)
                                .map_err(|e| {
                                    ToolError::new(format!("the tool's output is not JSON: {e}"))
                                }),
                            Err(error) => Err(ToolError::new(error.to_string())),
                        }
                    })
                }
            }
        };
        Ok(FunctionTool {
            spec,
            handler: Arc::new(handler),
        })
    }
}

#[async_trait]
impl Tool for FunctionTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call(&self, input: serde_json::Value) -> std::result::Result<ToolOutput, ToolError> {
        (self.handler)(input).await
    }
}

impl fmt::Debug for FunctionTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionTool")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, schemars::JsonSchema)]
    struct Sum {
        a: f64,
        b: f64,
    }

    fn add() -> FunctionTool {
        FunctionTool::new(
            "add",
            "adds",
            |s: Sum| async move { Ok::<_, String>(s.a + s.b) },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn typed_input_is_checked_before_the_function_runs() {
        let tool = add();
        let spec = tool.spec();
        assert_eq!(spec.input_schema["type"], "object");
        assert!(spec.input_schema["properties"]["a"].is_object());
        assert!(spec.input_schema.get("$schema").is_none());
        assert_eq!(
            tool.call(json!({"a": 1, "b": 2.5})).await.unwrap(),
            ToolOutput::text("3.5")
        );
        let error = tool.call(json!({"a": "one"})).await.unwrap_err();
        assert!(error.message().contains("does not match"), "{error}");
    }

    #[test]
    fn bad_names_are_refused_when_the_tool_is_made() {
        let made = FunctionTool::new("add numbers", "adds", |s: Sum| async move {
            Ok::<_, String>(s.a + s.b)
        });
        assert!(made.is_err());
    }
}
