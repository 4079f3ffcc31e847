//! Model discovery: the listing of what a region offers for chat (the control plane SDK against
//! the fake's `ListInferenceProfiles` and `ListFoundationModels`), and the error for a bare id
//! that runs only through a profile.

use bedrock_chat::Error;
use bedrock_chat::testing::FAKE_APPLICATION_PROFILE_ARN;

use crate::support::Harness;

#[tokio::test]
async fn the_listing_has_profiles_then_chat_models_and_marks_what_runs_on_demand() {
    let h = Harness::start().await;
    let client = h.fake.client().await.unwrap();
    let listing = client.model_catalog().await.list().await.unwrap();
    let ids: Vec<&str> = listing.models.iter().map(|m| m.id.as_str()).collect();
    assert!(
        ids.contains(&"global.anthropic.claude-sonnet-4-6"),
        "{ids:?}"
    );
    assert!(ids.contains(&FAKE_APPLICATION_PROFILE_ARN), "{ids:?}");
    assert!(
        !ids.iter().any(|id| id.contains("titan-embed")),
        "no embedding models: {ids:?}"
    );
    let first_model = listing
        .models
        .iter()
        .position(|m| m.kind == "model")
        .unwrap();
    assert!(
        listing.models[..first_model]
            .iter()
            .all(|m| m.kind != "model")
    );
    let bare = listing.find("anthropic.claude-sonnet-4-6").unwrap();
    assert!(!bare.on_demand, "Sonnet 4.6 runs only through a profile");
    assert!(listing.find("amazon.nova-pro-v1:0").unwrap().on_demand);
    let legacy = listing
        .find("anthropic.claude-3-haiku-20240307-v1:0")
        .unwrap();
    assert!(legacy.legacy);
    let profile = listing.find("us.anthropic.claude-sonnet-4-6").unwrap();
    assert_eq!(profile.price_label().as_deref(), Some("$3.3/$16.5"));
    let mut profiles = listing.profiles_for("anthropic.claude-sonnet-4-6");
    profiles.sort_unstable();
    assert_eq!(
        profiles,
        [
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
            "eu.anthropic.claude-sonnet-4-6",
            "global.anthropic.claude-sonnet-4-6",
            "us.anthropic.claude-sonnet-4-6"
        ]
    );
}

#[tokio::test]
async fn a_bare_id_that_runs_only_through_a_profile_names_the_profiles() {
    let h = Harness::start().await;
    let mut session = h
        .builder()
        .await
        .model_id("anthropic.claude-sonnet-4-6")
        .retry_policy(bedrock_chat::RetryPolicy::none())
        .build()
        .unwrap();
    let error = session.send("Hello").await.unwrap_err();
    assert!(
        matches!(error, Error::InferenceProfileRequired { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("global.anthropic.claude-sonnet-4-6"),
        "{text}"
    );
    assert!(text.contains("eu.anthropic.claude-sonnet-4-6"), "{text}");
}
