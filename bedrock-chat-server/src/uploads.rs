//! Images and documents a visitor attaches to a message: how they arrive (base64 in the
//! message's JSON), how they are checked (by the library, from their bytes, never from a name or
//! a type the browser claims), and how the page reads them back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bedrock_chat::{
    Attachment, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_PER_MESSAGE, MAX_IMAGE_BYTES,
    MAX_IMAGES_PER_MESSAGE, MAX_MESSAGE_BYTES,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::identity::ClientId;
use crate::state::AppState;

/// The most files one message may carry: Bedrock's images and documents together.
const MOST_FILES: usize = MAX_IMAGES_PER_MESSAGE + MAX_DOCUMENTS_PER_MESSAGE;

/// One attached file: `{"name": "photo.png", "data": "<base64>"}`.
#[derive(Deserialize, ToSchema)]
pub struct Upload {
    /// The file's name (its extension tells DOCX from XLSX, and text from Markdown or CSV).
    name: String,
    /// Its bytes, base64 (standard alphabet, padded).
    data: String,
}

/// Decodes and checks a message's attachments, in order: each is read from its bytes and held
/// to Bedrock's limits, so a renamed executable or a 50 MB "image" is refused here, before the
/// conversation is touched or anything is spent.
///
/// # Errors
///
/// 422 `invalid_attachment` naming the file and what is wrong with it.
pub fn decode(uploads: Vec<Upload>) -> Result<Vec<Attachment>, ApiError> {
    if uploads.len() > MOST_FILES {
        return Err(invalid(format!(
            "{} files are attached; a message may carry at most {MAX_IMAGES_PER_MESSAGE} images \
             and {MAX_DOCUMENTS_PER_MESSAGE} documents",
            uploads.len()
        )));
    }
    let attachments = uploads
        .into_iter()
        .map(|upload| {
            let name = shown_name(&upload.name);
            // Base64 is 4 bytes for 3: anything longer than the largest file encoded is refused
            // before it is decoded.
            if upload.data.len() > MAX_DOCUMENT_BYTES.div_ceil(3) * 4 {
                return Err(invalid(format!(
                    "{name} is larger than any file Bedrock takes (images up to {MAX_IMAGE_BYTES} \
                     bytes, documents up to {MAX_DOCUMENT_BYTES})"
                )));
            }
            let bytes = STANDARD.decode(upload.data.as_bytes()).map_err(|_| {
                invalid(format!(
                    "{name}'s data is not base64; send the file's bytes in base64"
                ))
            })?;
            Attachment::from_bytes(bytes, &upload.name).map_err(|error| {
                let message = match error {
                    bedrock_chat::Error::InvalidInput { reason } => reason,
                    other => other.to_string(),
                };
                invalid(message)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let images = attachments.iter().filter(|a| a.is_image()).count();
    let documents = attachments.len() - images;
    if images > MAX_IMAGES_PER_MESSAGE || documents > MAX_DOCUMENTS_PER_MESSAGE {
        return Err(invalid(format!(
            "{images} images and {documents} documents are attached; a message may carry at most \
             {MAX_IMAGES_PER_MESSAGE} images and {MAX_DOCUMENTS_PER_MESSAGE} documents"
        )));
    }
    Ok(attachments)
}

/// A file name as it may appear in a message: one line, not too long.
fn shown_name(name: &str) -> String {
    let line: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    format!("{line:?}")
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorKind::InvalidAttachment, message)
}

/// `GET /api/limits`' answer: what the page may send, so it can refuse a file before uploading
/// it.
#[derive(Serialize, ToSchema)]
pub(crate) struct UploadLimits {
    /// The largest body of a message with its attachments (base64 is a third larger than the
    /// files).
    body_bytes: usize,
    /// The longest message text, in bytes.
    message_bytes: usize,
    /// The largest image.
    image_bytes: usize,
    /// The largest document.
    document_bytes: usize,
    /// Images per message.
    images_per_message: usize,
    /// Documents per message.
    documents_per_message: usize,
    /// Files one visitor may attach per hour.
    attachments_per_hour: u32,
    /// The largest conversation kept, as stored (attachments as base64).
    conversation_bytes: usize,
}

/// `GET /api/limits`.
#[utoipa::path(
    get,
    path = "/api/limits",
    tag = "conversations",
    responses((status = 200, description = "What a message may carry", body = UploadLimits))
)]
pub async fn limits(State(state): State<AppState>) -> Json<UploadLimits> {
    let limits = &state.config().limits;
    Json(UploadLimits {
        body_bytes: limits.message_body_bytes,
        message_bytes: MAX_MESSAGE_BYTES,
        image_bytes: MAX_IMAGE_BYTES,
        document_bytes: MAX_DOCUMENT_BYTES,
        images_per_message: MAX_IMAGES_PER_MESSAGE,
        documents_per_message: MAX_DOCUMENTS_PER_MESSAGE,
        attachments_per_hour: limits.attachments_per_hour,
        conversation_bytes: limits.conversation_bytes,
    })
}

/// `GET /api/conversations/{id}/messages/{message}/attachments/{attachment}`: the bytes of an
/// attached file, for the page's thumbnails and downloads.
///
/// Images are served as what they were sniffed to be (PNG, JPEG, GIF or WebP; never SVG, which
/// could carry script); everything else only as a download, in a sandbox, so an uploaded HTML
/// document can never run as the page's own origin.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/messages/{message}/attachments/{attachment}",
    tag = "conversations",
    params(
        ("id" = String, Path, description = "The conversation's id (32 hex digits)"),
        ("message" = usize, Path, description = "The message's index, from 0"),
        ("attachment" = usize, Path, description = "The attachment's index in the message, from 0")
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 404, description = "No such conversation, message or attachment for this visitor", body = ErrorBody)
    )
)]
pub async fn attachment(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    path: Result<Path<(String, usize, usize)>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    // Anything but an id the store made and two indexes is no such file.
    let Ok(Path((id, message, index))) = path else {
        return Err(ApiError::not_found());
    };
    if !crate::identity::is_random_id(&id) {
        return Err(ApiError::not_found());
    }
    let stored = state.store().load(&client, &id).await?;
    let attachment = stored
        .conversation
        .messages()
        .get(message)
        .and_then(|m| m.attachments().nth(index))
        .ok_or_else(ApiError::not_found)?;
    let disposition = if attachment.is_image() {
        "inline".to_string()
    } else {
        let name = attachment.name().unwrap_or("document");
        let ascii: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || " -_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!(
            "attachment; filename=\"{ascii}.{}\"",
            attachment.format_name()
        )
    };
    let mut response = attachment.bytes().to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(attachment.media_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The visitor's own file: kept by their browser only, never by a shared cache.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}
