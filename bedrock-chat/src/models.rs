//! [`ModelCatalog`]: the models and inference profiles a region offers for chat, from Bedrock's
//! control plane (`ListInferenceProfiles`, `ListFoundationModels` in `aws-sdk-bedrock`).

use std::fmt;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrock::types as sdk;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ServiceDetails};
use crate::pricing::{ModelPrice, PriceTable};

/// The models a region offers for chat, as [`ModelCatalog::list`] found them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelListing {
    /// Inference profiles first (the way to call newer models), then foundation models; each
    /// group by provider and name.
    pub models: Vec<OfferedModel>,
}

/// One model or inference profile a chat can name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OfferedModel {
    /// The id to chat with: a profile id (`us.anthropic.claude-...`), an application profile's
    /// ARN, or a foundation model id.
    pub id: String,
    /// Its name, as Bedrock gives it.
    pub name: String,
    /// Who makes the model (`Anthropic`, `Amazon`, ...), when known.
    pub provider: Option<String>,
    /// The foundation model behind it (the id itself for a foundation model).
    pub model_id: String,
    /// `profile` (system-defined inference profile), `application` (an application inference
    /// profile) or `model` (a foundation model).
    pub kind: String,
    /// Whether a chat can call it by this id without provisioned throughput: true for every
    /// profile; for a foundation model, whether it is offered on demand (many newer models are
    /// offered only through a profile, and their bare id fails).
    pub on_demand: bool,
    /// Whether it is retired soon (lifecycle `LEGACY`).
    pub legacy: bool,
    /// What it costs per million tokens, when the price table knows it.
    pub price: Option<ModelPrice>,
}

impl OfferedModel {
    /// The price as people compare it: `$3/$15` per million input and output tokens.
    pub fn price_label(&self) -> Option<String> {
        self.price.as_ref().map(ModelPrice::label)
    }
}

impl ModelListing {
    /// The entry for `id`, if the listing has it.
    pub fn find(&self, id: &str) -> Option<&OfferedModel> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The ids of the profiles that call `model_id` (a bare foundation model id), for the error
    /// that a bare id cannot be called on demand.
    pub fn profiles_for(&self, model_id: &str) -> Vec<&str> {
        self.models
            .iter()
            .filter(|m| m.kind != "model" && m.model_id == model_id)
            .map(|m| m.id.as_str())
            .collect()
    }
}

/// Lists what a region offers for chat.
///
/// ```no_run
/// use bedrock_chat::BedrockClient;
///
/// # async fn run() -> bedrock_chat::Result<()> {
/// let client = BedrockClient::from_env().await?;
/// for model in client.model_catalog().await.list().await?.models {
///     println!("{:60} {}{}", model.id, model.name, if model.on_demand { "" } else { " (profile only)" });
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ModelCatalog {
    client: aws_sdk_bedrock::Client,
    region: String,
    prices: PriceTable,
}

impl ModelCatalog {
    /// A catalog on the standard AWS configuration chain (as
    /// [`BedrockClient::from_env`](crate::BedrockClient::from_env) reads it).
    pub async fn from_env() -> Self {
        Self::from_sdk_config(&aws_config::defaults(BehaviorVersion::latest()).load().await)
    }

    /// A catalog for a configuration the caller loaded.
    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        ModelCatalog {
            client: aws_sdk_bedrock::Client::new(config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            prices: PriceTable::builtin(),
        }
    }

    /// Prices the listing with `prices`. Default is [`PriceTable::builtin`].
    #[must_use]
    pub fn with_prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// The profiles and models of the region that take text and give text (the ones a chat can
    /// use), active or legacy.
    ///
    /// # Errors
    ///
    /// [`Error::AccessDenied`]-like advice as [`Error::Service`] when the identity may not list
    /// (`bedrock:ListInferenceProfiles`, `bedrock:ListFoundationModels`); transport errors.
    pub async fn list(&self) -> Result<ModelListing> {
        let foundation = self
            .client
            .list_foundation_models()
            .send()
            .await
            .map_err(|e| self.error("ListFoundationModels", e))?;
        let chat_models: Vec<&sdk::FoundationModelSummary> = foundation
            .model_summaries()
            .iter()
            .filter(|m| is_chat_model(m))
            .collect();
        let mut models = Vec::new();
        for kind in [
            sdk::InferenceProfileType::SystemDefined,
            sdk::InferenceProfileType::Application,
        ] {
            let mut next: Option<String> = None;
            loop {
                let page = self
                    .client
                    .list_inference_profiles()
                    .type_equals(kind.clone())
                    .max_results(1000)
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(|e| self.error("ListInferenceProfiles", e))?;
                for profile in page.inference_profile_summaries() {
                    if profile.status != sdk::InferenceProfileStatus::Active {
                        continue;
                    }
                    let model_id = profile
                        .models
                        .first()
                        .and_then(|m| m.model_arn.as_deref())
                        .map(model_id_of_arn)
                        .unwrap_or_default()
                        .to_string();
                    let known = chat_models.iter().find(|m| m.model_id == model_id);
                    // A profile of a model this region does not list as a chat model (an
                    // embedding model's, or one only other regions list) is left out, unless
                    // it is the caller's own application profile.
                    if known.is_none() && kind == sdk::InferenceProfileType::SystemDefined {
                        continue;
                    }
                    let application = kind == sdk::InferenceProfileType::Application;
                    models.push(OfferedModel {
                        id: if application {
                            profile.inference_profile_arn.clone()
                        } else {
                            profile.inference_profile_id.clone()
                        },
                        name: profile.inference_profile_name.clone(),
                        provider: known.and_then(|m| m.provider_name.clone()),
                        price: self.prices.price_for(&profile.inference_profile_id),
                        model_id,
                        kind: if application {
                            "application"
                        } else {
                            "profile"
                        }
                        .to_string(),
                        on_demand: true,
                        legacy: known.is_some_and(|m| is_legacy(m)),
                    });
                }
                next = page.next_token().map(str::to_string);
                if next.is_none() {
                    break;
                }
            }
        }
        for model in &chat_models {
            models.push(OfferedModel {
                id: model.model_id.clone(),
                name: model
                    .model_name
                    .clone()
                    .unwrap_or_else(|| model.model_id.clone()),
                provider: model.provider_name.clone(),
                model_id: model.model_id.clone(),
                kind: "model".to_string(),
                on_demand: model
                    .inference_types_supported()
                    .contains(&sdk::InferenceType::OnDemand),
                legacy: is_legacy(model),
                price: self.prices.price_for(&model.model_id),
            });
        }
        models.sort_by(|a, b| {
            (a.kind == "model", &a.provider, &a.name, &a.id).cmp(&(
                b.kind == "model",
                &b.provider,
                &b.name,
                &b.id,
            ))
        });
        Ok(ModelListing { models })
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        operation: &str,
        error: SdkError<E>,
    ) -> Error {
        let code = error.code().map(str::to_string);
        let said = error.message().unwrap_or("no message").to_string();
        let message = match code.as_deref() {
            Some("AccessDeniedException") => format!(
                "{operation} was refused in {} ({said}); allow bedrock:ListInferenceProfiles and \
                 bedrock:ListFoundationModels for this identity",
                self.region
            ),
            Some(_) => format!("{operation} failed in {}: {said}", self.region),
            None => format!(
                "{operation} could not reach Bedrock in {} (check the network, or \
                 AWS_ENDPOINT_URL_BEDROCK)",
                self.region
            ),
        };
        let request_id =
            aws_sdk_bedrock::operation::RequestId::request_id(&error).map(str::to_string);
        Error::Service {
            code,
            details: ServiceDetails::new(message, request_id),
            source: Box::new(error),
        }
    }
}

impl fmt::Debug for ModelCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelCatalog")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A person's name for a model or profile id, for a picker that has no listing at hand:
/// `us.anthropic.claude-haiku-4-5-20251001-v1:0` is "Claude Haiku 4.5 (US)",
/// `anthropic.claude-3-5-sonnet-20240620-v1:0` "Claude 3.5 Sonnet", an application profile's
/// ARN "Application profile a1b2c3".
pub fn model_label(id: &str) -> String {
    if id.starts_with("arn:") {
        let name = id.rsplit('/').next().unwrap_or(id);
        return format!("Application profile {name}");
    }
    // The profile's prefix (`us`, `global`), as the price table reads it.
    let rest = crate::pricing::strip_profile(id);
    let scope = (rest.len() < id.len()).then(|| &id[..id.len() - rest.len() - 1]);
    let name = rest.split_once('.').map_or(rest, |(_, name)| name);
    let name = name.split(':').next().unwrap_or(name);
    let mut words: Vec<String> = Vec::new();
    let mut number = String::new();
    for part in name.split('-') {
        let is_version = part.len() > 1
            && part.starts_with('v')
            && part[1..].bytes().all(|b| b.is_ascii_digit());
        let is_date = part.len() == 8 && part.bytes().all(|b| b.is_ascii_digit());
        if part.is_empty() || is_version || is_date {
            continue;
        }
        if part.bytes().all(|b| b.is_ascii_digit()) {
            if !number.is_empty() {
                number.push('.');
            }
            number.push_str(part);
            continue;
        }
        if !number.is_empty() {
            words.push(std::mem::take(&mut number));
        }
        let mut chars = part.chars();
        words.push(
            chars
                .next()
                .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect()),
        );
    }
    if !number.is_empty() {
        words.push(number);
    }
    let label = words.join(" ");
    match scope {
        Some("global") => format!("{label} (global)"),
        Some(scope) => format!("{label} ({})", scope.to_uppercase()),
        None => label,
    }
}

/// Takes text and gives text: a model a chat can use (not an embedding or image model).
fn is_chat_model(model: &sdk::FoundationModelSummary) -> bool {
    let has = |modalities: &[sdk::ModelModality]| modalities.contains(&sdk::ModelModality::Text);
    has(model.input_modalities()) && has(model.output_modalities())
}

fn is_legacy(model: &sdk::FoundationModelSummary) -> bool {
    model
        .model_lifecycle
        .as_ref()
        .is_some_and(|l| l.status == sdk::FoundationModelLifecycleStatus::Legacy)
}

/// `arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-x` to `anthropic.claude-x`.
fn model_id_of_arn(arn: &str) -> &str {
    arn.rsplit_once("foundation-model/")
        .map_or(arn, |(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_arn_gives_its_id() {
        assert_eq!(
            model_id_of_arn(
                "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-6"
            ),
            "anthropic.claude-sonnet-4-6"
        );
        assert_eq!(model_id_of_arn("odd"), "odd");
    }

    #[test]
    fn ids_read_as_names() {
        for (id, label) in [
            (
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                "Claude Haiku 4.5 (US)",
            ),
            (
                "global.anthropic.claude-sonnet-4-6",
                "Claude Sonnet 4.6 (global)",
            ),
            (
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "Claude 3.5 Sonnet",
            ),
            ("amazon.nova-pro-v1:0", "Nova Pro"),
            (
                "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc",
                "Application profile abc",
            ),
        ] {
            assert_eq!(model_label(id), label, "{id}");
        }
    }

    #[test]
    fn prices_read_as_people_compare_them() {
        let model = OfferedModel {
            id: "x".into(),
            name: "x".into(),
            provider: None,
            model_id: "x".into(),
            kind: "model".into(),
            on_demand: true,
            legacy: false,
            price: Some(ModelPrice::new(3.0, 15.0)),
        };
        assert_eq!(model.price_label().as_deref(), Some("$3/$15"));
        let cheap = OfferedModel {
            price: Some(ModelPrice::new(0.8, 4.0)),
            ..model
        };
        assert_eq!(cheap.price_label().as_deref(), Some("$0.8/$4"));
    }
}
