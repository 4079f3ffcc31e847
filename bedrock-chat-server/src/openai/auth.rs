//! Who may call `/v1`: the server's token, or one of the named API keys (whose name then goes
//! with the request, so each key is limited and charged apart); and no cross-site writes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::OpenAiError;
use crate::state::AppState;

/// Runs before the OpenAI-compatible endpoint: the bearer token and the request's site (its
/// clients keep no cookie), refused in OpenAI's error shape.
///
/// With named API keys (`--api-keys`), a caller must send one of them (or the server's token);
/// the key's name goes with the request, so each key is limited and charged apart.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let keys = &state.config().api_keys;
    let checked = if keys.is_empty() {
        crate::identity::check_token(&state, &request).map(|()| None)
    } else {
        let presented = crate::identity::bearer(&request).unwrap_or_default();
        match keys.find(presented) {
            Some(key) => Ok(Some(key.name.clone())),
            None => crate::identity::check_token(&state, &request).and_then(|()| {
                if state.config().auth_token.is_some() {
                    Ok(None)
                } else {
                    Err(crate::identity::unauthorized())
                }
            }),
        }
    };
    let checked = checked.and_then(|key| crate::identity::check_site(&request).map(|()| key));
    match checked {
        Ok(key) => {
            request.extensions_mut().insert(ApiCaller(key));
            next.run(request).await
        }
        Err(error) => crate::identity::refusal(OpenAiError::from(error).into_response()),
    }
}

/// The named API key a `/v1` request came with, if any (set by [`authorize`]).
#[derive(Clone, Debug, Default)]
pub struct ApiCaller(pub Option<String>);
