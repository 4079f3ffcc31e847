//! The fake's control plane: the models and inference profiles of its region, as
//! `ListFoundationModels` and `ListInferenceProfiles` answer.

use serde_json::{Value, json};

/// The region the fake's listings are of.
const REGION: &str = "us-east-1";

/// A foundation model: id, name, provider, input and output modalities, inference types.
type Model = (
    &'static str,
    &'static str,
    &'static str,
    Modalities,
    Modalities,
    Modalities,
);
type Modalities = &'static [&'static str];

/// The region's foundation models.
const MODELS: &[Model] = &[
    (
        "anthropic.claude-sonnet-4-6",
        "Claude Sonnet 4.6",
        "Anthropic",
        &["TEXT", "IMAGE"],
        &["TEXT"],
        &["INFERENCE_PROFILE"],
    ),
    (
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "Claude Haiku 4.5",
        "Anthropic",
        &["TEXT", "IMAGE"],
        &["TEXT"],
        &["INFERENCE_PROFILE"],
    ),
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "Claude 3 Haiku",
        "Anthropic",
        &["TEXT", "IMAGE"],
        &["TEXT"],
        &["ON_DEMAND", "INFERENCE_PROFILE"],
    ),
    (
        "amazon.nova-pro-v1:0",
        "Nova Pro",
        "Amazon",
        &["TEXT", "IMAGE", "VIDEO"],
        &["TEXT"],
        &["ON_DEMAND", "INFERENCE_PROFILE"],
    ),
    (
        "amazon.titan-embed-text-v2:0",
        "Titan Text Embeddings V2",
        "Amazon",
        &["TEXT"],
        &["EMBEDDING"],
        &["ON_DEMAND"],
    ),
];

/// System-defined profiles: the prefix and the model.
const PROFILES: &[(&str, &str)] = &[
    ("global", "anthropic.claude-sonnet-4-6"),
    ("us", "anthropic.claude-sonnet-4-6"),
    ("eu", "anthropic.claude-sonnet-4-6"),
    ("us", "anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("us", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("us", "amazon.nova-pro-v1:0"),
    ("us", "amazon.titan-embed-text-v2:0"),
];

/// The application inference profile the fake's account has made.
pub const FAKE_APPLICATION_PROFILE_ARN: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";

/// Whether `model_id` can be called only through a profile: its bare id fails on demand.
pub(super) fn profile_only(model_id: &str) -> bool {
    MODELS
        .iter()
        .any(|(id, .., types)| *id == model_id && !types.contains(&"ON_DEMAND"))
}

fn model_arn(model_id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}::foundation-model/{model_id}")
}

/// `ListFoundationModels`.
pub(super) fn foundation_models() -> Value {
    let summaries: Vec<Value> = MODELS
        .iter()
        .map(|(id, name, provider, input, output, types)| {
            json!({
                "modelArn": model_arn(id),
                "modelId": id,
                "modelName": name,
                "providerName": provider,
                "inputModalities": input,
                "outputModalities": output,
                "responseStreamingSupported": true,
                "customizationsSupported": [],
                "inferenceTypesSupported": types,
                "modelLifecycle": {"status": if id.contains("claude-3-haiku") { "LEGACY" } else { "ACTIVE" }},
            })
        })
        .collect();
    json!({ "modelSummaries": summaries })
}

/// `ListInferenceProfiles`, of the type `typeEquals` (the `type` query parameter) asks for (system-defined by default), a
/// page of `maxResults` from `nextToken` (an index, as the fake writes it).
pub(super) fn inference_profiles(query: &str) -> Value {
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    };
    let all: Vec<Value> = if param("type").as_deref() == Some("APPLICATION") {
        vec![json!({
            "inferenceProfileName": "support-bot",
            "description": "The support team's chat, for cost allocation",
            "inferenceProfileArn": FAKE_APPLICATION_PROFILE_ARN,
            "inferenceProfileId": "a1b2c3d4e5f6",
            "models": [{"modelArn": model_arn("anthropic.claude-sonnet-4-6")}],
            "status": "ACTIVE",
            "type": "APPLICATION",
        })]
    } else {
        PROFILES
            .iter()
            .map(|(prefix, model)| {
                let name = MODELS.iter().find(|m| m.0 == *model).map_or(*model, |m| m.1);
                let id = format!("{prefix}.{model}");
                json!({
                    "inferenceProfileName": format!("{} {name}", match *prefix {
                        "global" => "Global".to_string(),
                        other => other.to_uppercase(),
                    }),
                    "inferenceProfileArn": format!("arn:aws:bedrock:{REGION}:123456789012:inference-profile/{id}"),
                    "inferenceProfileId": id,
                    "models": [{"modelArn": model_arn(model)}],
                    "status": "ACTIVE",
                    "type": "SYSTEM_DEFINED",
                })
            })
            .collect()
    };
    let start: usize = param("nextToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let size: usize = param("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .max(1);
    let end = (start + size).min(all.len());
    let mut page = json!({ "inferenceProfileSummaries": all.get(start..end).unwrap_or_default() });
    if end < all.len() {
        page["nextToken"] = json!(end.to_string());
    }
    page
}
