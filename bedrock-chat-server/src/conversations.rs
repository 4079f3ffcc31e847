//! `/api/conversations`: create, list, read and delete this client's conversations.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bedrock_chat::{Role, SavedConversation, StoredConversation, TokenUsage};
use serde::Serialize;
use serde_json::json;

use crate::admission::Visitor;
use crate::client_addr::ClientIp;
use crate::error::ApiError;
use crate::identity::ClientId;
use crate::state::AppState;

/// One message as the page shows it.
#[derive(Serialize)]
struct MessageView {
    role: &'static str,
    text: String,
}

/// `GET /api/conversations/{id}`'s answer.
#[derive(Serialize)]
pub(crate) struct ConversationView {
    id: String,
    title: String,
    updated: u64,
    model: String,
    messages: Vec<MessageView>,
    usage: TokenUsage,
    cost_usd: Option<f64>,
}

/// What a conversation's tokens cost at the server's prices (`None` for an unpriced model).
pub(crate) fn cost_of(state: &AppState, model: &str, usage: &TokenUsage) -> Option<f64> {
    state
        .settings()
        .prices
        .price_for(model)
        .map(|price| price.cost(usage))
}

pub(crate) fn view(state: &AppState, stored: &StoredConversation) -> ConversationView {
    let conversation: &SavedConversation = &stored.conversation;
    ConversationView {
        id: stored.id.clone(),
        title: stored.title.clone(),
        updated: stored.updated,
        model: conversation.model_id().to_string(),
        messages: conversation
            .messages()
            .iter()
            .map(|m| MessageView {
                role: match m.role() {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                text: m.text(),
            })
            .collect(),
        usage: conversation.usage(),
        cost_usd: cost_of(state, conversation.model_id(), &conversation.usage()),
    }
}

/// `POST /api/conversations` → `201 {"id": …}`.
pub async fn create(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ClientIp(address): ClientIp,
    // Read and ignored: a body left unread makes hyper close the keep-alive connection after
    // the response (API clients send `{}`), and the client's next request on it fails.
    _body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    // Rate-limited by address as well as by visitor: a script without cookies cannot fill the
    // store for everyone.
    crate::admission::admit_create(&state, &Visitor::browser(&client, address)).await?;
    let session = state.new_session()?;
    let stored = state.store().create(&client, session.snapshot()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": stored.id, "title": stored.title, "updated": stored.updated})),
    ))
}

/// `GET /api/conversations` → this client's list, newest first.
pub async fn list(
    State(state): State<AppState>,
    ClientId(client): ClientId,
) -> Result<impl IntoResponse, ApiError> {
    let list = state.store().list(&client).await?;
    Ok(Json(json!({"conversations": list})))
}

/// The conversation id in a request's path. Ids are made by the store (32 hex digits); anything
/// else is answered 404 before the store is asked, so a made-up path never becomes part of a
/// storage key (on Redis a `{` or `}` in it would even move the key's cluster slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConversationId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        if crate::identity::is_random_id(&id) {
            Ok(ConversationId(id))
        } else {
            Err(ApiError::not_found())
        }
    }
}

/// `GET /api/conversations/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
) -> Result<impl IntoResponse, ApiError> {
    let stored = state.store().load(&client, &id).await?;
    Ok(Json(view(&state, &stored)))
}

/// `DELETE /api/conversations/{id}` → 204.
pub async fn delete(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
    _body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    state.store().delete(&client, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
