//! Amazon Titan Text Embeddings V2 through `InvokeModel`: the vectors the reply cache's
//! semantic mode compares questions by.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::primitives::Blob;
use serde::Deserialize;

use super::BedrockClient;
use super::errors::{CallContext, from_sdk_error};
use crate::embedder::Embedder;
use crate::error::{Error, Result};

/// The embeddings model [`TitanEmbedder`] calls unless told otherwise.
pub const DEFAULT_EMBEDDING_MODEL: &str = "amazon.titan-embed-text-v2:0";

/// An [`Embedder`] on Bedrock: Amazon Titan Text Embeddings V2 (or another model that takes
/// `{"inputText", "dimensions", "normalize"}` and answers `{"embedding"}`), through
/// `InvokeModel`. It costs $0.02 per million tokens of text. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TitanEmbedder {
    client: BedrockClient,
    model_id: String,
    dimensions: u32,
}

impl TitanEmbedder {
    /// Embeddings from [`DEFAULT_EMBEDDING_MODEL`], 256 dimensions, through `client`.
    pub fn new(client: BedrockClient) -> Self {
        TitanEmbedder {
            client,
            model_id: DEFAULT_EMBEDDING_MODEL.to_string(),
            dimensions: 256,
        }
    }

    /// The embeddings model. Default is [`DEFAULT_EMBEDDING_MODEL`].
    #[must_use]
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = model_id.into();
        self
    }

    /// The vectors' length: 256, 512 or 1024 for Titan V2. Default is 256, plenty to tell
    /// questions apart.
    #[must_use]
    pub fn dimensions(mut self, dimensions: u32) -> Self {
        self.dimensions = dimensions;
        self
    }
}

#[derive(Deserialize)]
struct Answer {
    embedding: Vec<f32>,
}

#[async_trait]
impl Embedder for TitanEmbedder {
    async fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let body = serde_json::json!({
            "inputText": text,
            "dimensions": self.dimensions,
            "normalize": true,
        });
        let shared = &self.client.shared;
        let output = shared
            .sdk
            .invoke_model()
            .model_id(&self.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .map_err(|err| {
                from_sdk_error(
                    err,
                    CallContext {
                        model_id: &self.model_id,
                        region: &shared.region,
                        request_id: None,
                        endpoint: shared.endpoint.as_deref(),
                    },
                )
            })?;
        let answer: Answer = serde_json::from_slice(output.body().as_ref()).map_err(|e| {
            Error::invalid_input(format!(
                "{} did not answer with an embedding ({e})",
                self.model_id
            ))
        })?;
        Ok(answer.embedding)
    }
}
