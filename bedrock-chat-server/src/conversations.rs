//! `/api/conversations`: create, list (and search), read, rename and delete this client's
//! conversations.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bedrock_chat::{Role, SavedConversation, StoredConversation, TokenUsage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admission::Visitor;
use crate::client_addr::ClientIp;
use crate::error::{ApiError, ErrorBody, ErrorKind};
use crate::identity::ClientId;
use crate::state::AppState;

/// One message as the page shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct MessageView {
    /// `user` or `assistant`.
    role: &'static str,
    /// Its text (attachments and tool blocks left out).
    text: String,
    /// Its images and documents, in order.
    attachments: Vec<AttachmentView>,
    /// The operator's tools the model called in this message, with what they answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallView>,
    /// The sources the reply cites, numbered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources: Vec<SourceView>,
}

/// A source a reply cites, as the page shows it under the reply.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct SourceView {
    /// Its number, from 1, in order of first citation.
    number: usize,
    /// Its title (a document's name).
    title: Option<String>,
    /// Where it lives, as text: an `s3://` URI, a web address, a page.
    location: Option<String>,
    /// `location` again when it may be a link: only an `https:` address is.
    link: Option<String>,
    /// The words the reply relies on, each once (at most three, 300 characters each).
    quotes: Vec<String>,
}

impl From<&bedrock_chat::Source> for SourceView {
    fn from(source: &bedrock_chat::Source) -> Self {
        SourceView {
            number: source.number,
            title: source.title.clone(),
            location: source.location.clone(),
            link: source.link().map(str::to_string),
            quotes: source
                .quotes
                .iter()
                .take(3)
                .map(|q| q.chars().take(300).collect())
                .collect(),
        }
    }
}

/// A tool call as the page shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ToolCallView {
    name: String,
    input: serde_json::Value,
    /// Whether it succeeded; `null` when its result is not in the conversation.
    ok: Option<bool>,
    /// The result as text, at most 2,000 characters.
    result: Option<String>,
}

/// An attached file as the page shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AttachmentView {
    /// `image` or `document`.
    kind: &'static str,
    /// A document's name with its extension (`report.pdf`); `image` for an image.
    name: String,
    /// `png`, `pdf`, ...
    format: &'static str,
    /// Its size.
    bytes: usize,
    /// Where its bytes are (`GET`).
    url: String,
}

/// `GET /api/conversations/{id}`'s answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ConversationView {
    id: String,
    title: String,
    /// When it last changed, in seconds since the Unix epoch.
    updated: u64,
    model: String,
    messages: Vec<MessageView>,
    #[schema(value_type = UsageSchema)]
    usage: TokenUsage,
    /// At the server's prices; `null` for a model without one.
    cost_usd: Option<f64>,
}

/// Tokens, as Bedrock counts them (the library's `TokenUsage`).
#[derive(ToSchema)]
#[schema(as = Usage)]
#[allow(dead_code, non_snake_case)]
pub(crate) struct UsageSchema {
    inputTokens: u64,
    outputTokens: u64,
    cacheReadInputTokens: Option<u64>,
    cacheWriteInputTokens: Option<u64>,
}

/// `POST /api/conversations`' answer: the new conversation.
#[derive(Serialize, ToSchema)]
pub(crate) struct Created {
    id: String,
    title: String,
    updated: u64,
}

/// `GET /api/conversations`' answer: this visitor's conversations, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct ConversationList {
    conversations: Vec<Summary>,
}

/// One entry of the list.
#[derive(Serialize, ToSchema)]
pub(crate) struct Summary {
    id: String,
    title: String,
    updated: u64,
    /// When searching: the words found in its text, with some text around them.
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
}

/// `GET /api/conversations?q=…`.
#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct ListQuery {
    /// Words to find (every one, in any case) in a conversation's title or text; without it,
    /// every conversation.
    q: Option<String>,
}

/// The longest search accepted: words enough for any real search, and a bound on the work.
const MOST_SEARCH_BYTES: usize = 200;

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
            .enumerate()
            // Tool results belong to the calls of the message before; they are shown there.
            .filter(|(_, m)| !m.is_tool_results())
            .map(|(index, m)| MessageView {
                tool_calls: m
                    .tool_uses()
                    .map(|call| {
                        let result = conversation
                            .messages()
                            .get(index + 1)
                            .into_iter()
                            .flat_map(|next| next.tool_results())
                            .find(|r| r.tool_use_id == call.id);
                        ToolCallView {
                            name: call.name.clone(),
                            input: call.input.clone(),
                            ok: result.map(|r| !r.is_error()),
                            result: result.map(|r| r.text().chars().take(2_000).collect()),
                        }
                    })
                    .collect(),
                sources: bedrock_chat::Sources::of(m.citations())
                    .list()
                    .iter()
                    .map(SourceView::from)
                    .collect(),
                role: match m.role() {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                text: m.text(),
                attachments: m
                    .attachments()
                    .enumerate()
                    .map(|(n, a)| AttachmentView {
                        kind: if a.is_image() { "image" } else { "document" },
                        // Bedrock keeps a document's name without its extension; a person
                        // downloading it wants it back.
                        name: a.name().map_or_else(
                            || "image".to_string(),
                            |name| format!("{name}.{}", a.format_name()),
                        ),
                        format: a.format_name(),
                        bytes: a.len(),
                        url: format!(
                            "/api/conversations/{}/messages/{index}/attachments/{n}",
                            stored.id
                        ),
                    })
                    .collect(),
            })
            .collect(),
        usage: conversation.usage(),
        cost_usd: cost_of(state, conversation.model_id(), &conversation.usage()),
    }
}

/// `POST /api/conversations` → `201 {"id": …}`.
#[utoipa::path(
    post,
    path = "/api/conversations",
    tag = "conversations",
    description = "Starts a conversation for this visitor (a `bc_client` cookie is set when the request had none).",
    responses((status = 201, description = "Created", body = Created))
)]
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
        Json(Created {
            id: stored.id,
            title: stored.title,
            updated: stored.updated,
        }),
    ))
}

/// `GET /api/conversations` → this client's list, newest first.
#[utoipa::path(
    get,
    path = "/api/conversations",
    tag = "conversations",
    params(ListQuery),
    responses(
        (status = 200, description = "This visitor's conversations", body = ConversationList),
        (status = 400, description = "A search longer than 200 bytes", body = ErrorBody),
        (status = 429, description = "Too many searches in the last minute", body = ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ClientIp(address): ClientIp,
    Query(query): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let words = match query.q.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(q) if q.len() > MOST_SEARCH_BYTES => {
            return Err(ApiError::new(
                ErrorKind::InvalidInput,
                format!("the search is longer than {MOST_SEARCH_BYTES} bytes; use fewer words"),
            ));
        }
        Some(q) => q.split_whitespace().map(str::to_lowercase).collect(),
    };
    if !words.is_empty() {
        crate::admission::admit_search(&state, &Visitor::browser(&client, address)).await?;
    }
    let list = state.store().list(&client).await?;
    let mut conversations = Vec::with_capacity(list.len());
    for c in list {
        let mut snippet = None;
        if !words.is_empty() {
            // A visitor keeps at most `conversations_per_client` conversations: reading each
            // is bounded work, and only their own.
            let stored = match state.store().load(&client, &c.id).await {
                Ok(stored) => stored,
                Err(bedrock_chat::StoreError::NotFound) => continue,
                Err(error) => return Err(error.into()),
            };
            match crate::search::find(&words, &c.title, &stored.conversation) {
                Some(found) => snippet = found,
                None => continue,
            }
        }
        conversations.push(Summary {
            id: c.id,
            title: c.title,
            updated: c.updated,
            snippet,
        });
    }
    Ok(Json(ConversationList { conversations }))
}

/// `{"title": …}`; an empty title gives the conversation its automatic one again.
#[derive(Deserialize, ToSchema)]
pub struct RenameBody {
    /// The new title: one line, at most 200 characters; `""` for the automatic title.
    title: String,
}

/// `PATCH /api/conversations/{id}`: renames the conversation.
#[utoipa::path(
    patch,
    path = "/api/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id (32 hex digits)")),
    request_body = RenameBody,
    responses(
        (status = 200, description = "The renamed conversation", body = ConversationView),
        (status = 400, description = "A title of two lines, or too long", body = ErrorBody),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody),
        (status = 409, description = "A reply is being written in it", body = ErrorBody)
    )
)]
pub async fn rename(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
    body: Result<Json<RenameBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let title = match body {
        Ok(Json(body)) => body.title,
        Err(rejection) => {
            return Err(ApiError::unreadable_body(
                &rejection,
                r#"{"title": "Trip"}"#,
            ));
        }
    };
    let title = Some(title.trim().to_string()).filter(|t| !t.is_empty());
    let view = change(
        &state,
        &client,
        &id,
        |session| Ok(session.set_title(title)?),
    )
    .await?;
    Ok(Json(view))
}

/// Changes a stored conversation under its lease, as a turn would hold it, so the change and a
/// reply saved at the same time cannot lose each other: `edit` is applied to a session holding
/// it, and the conversation is saved (compare-and-set) only when `edit` succeeds.
pub(crate) async fn change(
    state: &AppState,
    client: &str,
    id: &str,
    edit: impl FnOnce(&mut bedrock_chat::ChatSession) -> Result<(), ApiError>,
) -> Result<ConversationView, ApiError> {
    let store = state.store();
    let (lease, stored) = store
        .lease_and_load(client, id, state.config().turn_lease)
        .await?;
    let changed = (|| {
        let mut session = state.new_session()?;
        session.restore(stored.conversation.clone())?;
        edit(&mut session)?;
        Ok::<_, ApiError>(session.snapshot())
    })();
    let conversation = match changed {
        Ok(conversation) => conversation,
        Err(error) => {
            let _ = store.release(&lease).await;
            return Err(error);
        }
    };
    store
        .save_and_release(&lease, client, stored.version, conversation)
        .await?;
    // Read back for the title and time the store gave it.
    let stored = store.load(client, id).await?;
    Ok(view(state, &stored))
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
#[utoipa::path(
    get,
    path = "/api/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id (32 hex digits)")),
    responses(
        (status = 200, description = "The conversation", body = ConversationView),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
) -> Result<impl IntoResponse, ApiError> {
    let stored = state.store().load(&client, &id).await?;
    Ok(Json(view(&state, &stored)))
}

/// `DELETE /api/conversations/{id}` → 204.
#[utoipa::path(
    delete,
    path = "/api/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "The conversation's id (32 hex digits)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such conversation for this visitor", body = ErrorBody)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ClientId(client): ClientId,
    ConversationId(id): ConversationId,
    _body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    state.store().delete(&client, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
