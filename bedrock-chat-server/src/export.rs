//! `GET /api/conversations/{id}/export`: a conversation to take away, as Markdown to read or as
//! the library's JSON, which `bedrock-chat` loads again (`/load`).

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::conversations::ConversationId;
use crate::error::{ApiError, ErrorBody};
use crate::identity::ClientId;
use crate::state::AppState;

/// The form of an export.
#[derive(Clone, Copy, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExportFormat {
    /// Markdown, for people.
    #[default]
    Markdown,
    /// The library's saved conversation (`bedrock-chat` loads it with `/load`).
    Json,
}

/// `?format=markdown|json`.
#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct ExportQuery {
    /// `markdown` (the default) or `json`.
    #[serde(default)]
    format: ExportFormat,
}

/// `GET /api/conversations/{id}/export`.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/export",
    tag = "conversations",
    params(
        ("id" = String, Path, description = "The conversation's id (32 hex digits)"),
        ExportQuery
    ),
    responses(
        (status = 200, description = "The conversation as a download", content(
            (String = "text/markdown"),
            (String = "application/json")
        )),
        (status = 400, description = "A format other than markdown or json", body = ErrorBody),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody)
    )
)]
pub async fn export(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(Query(query)) = query else {
        return Err(ApiError::new(
            crate::error::ErrorKind::InvalidInput,
            "the export format is `markdown` or `json` (`?format=markdown`)",
        ));
    };
    let stored = state.store().load(&client, &id).await?;
    let (body, content_type, extension) = match query.format {
        ExportFormat::Markdown => (
            stored.conversation.to_markdown(),
            "text/markdown; charset=utf-8",
            "md",
        ),
        ExportFormat::Json => (stored.conversation.to_json(), "application/json", "json"),
    };
    let disposition = format!(
        "attachment; filename=\"{}.{extension}\"",
        file_stem(&stored.title)
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A file name from a title: letters, digits, `-` and `_` (a title may hold quotes, slashes or
/// any script; the header must stay one safe token), at most 60 characters.
fn file_stem(title: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let stem = stem.trim_matches('_');
    if stem.is_empty() {
        "conversation".to_string()
    } else {
        stem.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    #[test]
    fn file_names_are_safe_whatever_the_title() {
        assert_eq!(file_stem("Trip to Paris"), "Trip_to_Paris");
        assert_eq!(file_stem("\"; rm -rf /\r\n"), "rm_-rf");
        assert_eq!(file_stem("日本"), "conversation");
    }
}
