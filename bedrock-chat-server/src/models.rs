//! `GET /api/models`: the models a visitor may pick for a conversation, with a name and a price
//! to choose by.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// `GET /api/models`'s answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ModelsView {
    /// The id new conversations start with.
    default: String,
    /// Every model a message may name, the default first.
    models: Vec<ModelView>,
}

/// One model of the picker.
#[derive(Serialize, ToSchema)]
pub(crate) struct ModelView {
    /// The id a message names (`model`).
    id: String,
    /// A name to show: "Claude Haiku 4.5 (US)".
    label: String,
    /// US dollars per million input and output tokens (`$3/$15`), when the server has a price.
    price: Option<String>,
}

/// `GET /api/models`.
#[utoipa::path(
    get,
    path = "/api/models",
    tag = "conversations",
    responses((status = 200, description = "The models a message may name", body = ModelsView))
)]
pub async fn list(State(state): State<AppState>) -> Json<ModelsView> {
    let settings = state.settings();
    let prices = &settings.prices;
    // What a turn is charged: the list price times the tier's and the latency's factors.
    let factor = settings
        .service_tier
        .map_or(1.0, bedrock_chat::ServiceTier::price_factor)
        * settings
            .latency
            .map_or(1.0, bedrock_chat::Latency::price_factor);
    let models = state
        .offered_models()
        .into_iter()
        .map(|id| {
            let price = prices.price_for(&id).map(|p| {
                bedrock_chat::ModelPrice::new(p.input * factor, p.output * factor).label()
            });
            ModelView {
                label: bedrock_chat::model_label(&id),
                id,
                price,
            }
        })
        .collect();
    Json(ModelsView {
        default: state.settings().model_id.clone(),
        models,
    })
}

/// `requested` if a visitor may pick it.
pub(crate) fn offered(state: &AppState, requested: &str) -> Result<String, ApiError> {
    if state.offered_models().iter().any(|m| m == requested) {
        return Ok(requested.to_string());
    }
    Err(ApiError::new(
        ErrorKind::ModelNotFound,
        format!(
            "the model {:?} is not offered here; GET /api/models lists those that are",
            requested.chars().take(200).collect::<String>()
        ),
    ))
}
