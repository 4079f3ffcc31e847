//! The published API contract: an OpenAPI 3.1 document of the browser API and `/v1`, generated
//! from the types and handlers the server runs (utoipa), served at `/openapi.json` and checked
//! into `docs/openapi.json`.
//!
//! Each handler documents its own answers; the refusals any request can meet on the way (the
//! host, the token, the site, a malformed or oversized body, the limits, a store or a timeout)
//! are added to every operation here, in the shape of its API.

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};

use crate::conversations::{
    AttachmentView, ConversationList, ConversationView, Created, RenameBody, SourceView,
    ToolCallView, UsageSchema,
};
use crate::error::{ErrorBody, ErrorDetail, ErrorKind};
use crate::export::ExportFormat;
use crate::models::{ModelView, ModelsView};
use crate::openai::OpenAiErrorBody;
use crate::turns::{EditBody, SendBody, ToolCallData, ToolResultData, TurnDone, WholeTurn};
use crate::uploads::{Upload, UploadLimits};

/// The document: every operation and the schemas they name.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "bedrock-chat serve",
        description = "The browser chat's API (a visitor is its `bc_client` cookie) and the \
                       OpenAI-compatible `/v1` (when switched on with --openai-api)."
    ),
    paths(
        crate::conversations::create,
        crate::conversations::list,
        crate::conversations::get,
        crate::conversations::rename,
        crate::conversations::delete,
        crate::export::export,
        crate::uploads::attachment,
        crate::uploads::limits,
        crate::models::list,
        crate::turns::send,
        crate::turns::edit,
        crate::turns::retry,
        crate::turns::undo,
        crate::openai::chat_completions,
        crate::openai::models,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Created, ConversationList, ConversationView, UsageSchema,
        SendBody, EditBody, RenameBody, Upload, UploadLimits, AttachmentView, TurnDone,
        WholeTurn, ExportFormat, ToolCallData, ToolResultData, ToolCallView, OpenAiErrorBody,
        SourceView, ModelsView, ModelView,
    )),
    modifiers(&Refusals)
)]
pub struct ApiDoc;

/// The document as JSON, as `/openapi.json` serves it and `docs/openapi.json` holds it.
pub fn document() -> String {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    // utoipa 5.5 writes a link's fields in snake case (`operation_id`), which OpenAPI tools
    // reject ("missing both operationRef and operationId"); they are renamed here.
    if let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) {
        let links = paths
            .values_mut()
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut())
            .filter_map(|operation| operation.get_mut("responses"))
            .filter_map(|responses| responses.as_object_mut())
            .flat_map(|responses| responses.values_mut())
            .filter_map(|response| response.get_mut("links"))
            .filter_map(|links| links.as_object_mut())
            .flat_map(|links| links.values_mut())
            .filter_map(|link| link.as_object_mut());
        for link in links {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(from) {
                    link.insert(to.to_string(), value);
                }
            }
        }
    }
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// Adds what any request can be refused with to every operation, and the bearer scheme.
struct Refusals;

/// Every refusal on the way to a handler: (status, why).
const REFUSALS: &[(&str, &str)] = &[
    (
        "400",
        "The request is malformed: its body, a field or the message",
    ),
    (
        "401",
        "The server needs its access token (`Authorization: Bearer TOKEN`)",
    ),
    ("403", "A write from another site"),
    ("408", "The body was not sent in time"),
    ("413", "The body, or the conversation, is too large"),
    ("415", "The body is not `application/json`"),
    ("421", "The server does not answer to this host name"),
    ("422", "The body is JSON of the wrong shape"),
    (
        "429",
        "A rate or daily spending limit, or Bedrock throttled: wait `Retry-After` seconds",
    ),
    ("500", "A failure of the server's own"),
    (
        "503",
        "At capacity, shutting down, or the conversation store did not answer",
    ),
    ("504", "No answer in time"),
];

impl Modify for Refusals {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        link_created_conversation(document);
        for (path, item) in document.paths.paths.iter_mut() {
            let error = if path.starts_with("/v1/") {
                "OpenAiErrorBody"
            } else {
                "ErrorBody"
            };
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_refusals(operation, error);
            }
        }
    }
}

/// The id `POST /api/conversations` answers is what every operation on one conversation takes:
/// said as OpenAPI links (so clients and schemathesis can follow it), and the id's form as a
/// pattern on each `{id}`.
fn link_created_conversation(document: &mut Document) {
    let id_form = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some("^[0-9a-f]{32}$"))
        .build();
    let mut links = Vec::new();
    for (path, item) in document.paths.paths.iter_mut() {
        for operation in [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
        {
            for parameter in operation.parameters.iter_mut().flatten() {
                if parameter.name == "id" {
                    parameter.schema = Some(id_form.clone().into());
                }
            }
            if path.contains("{id}")
                && let Some(id) = &operation.operation_id
            {
                links.push(id.clone());
            }
        }
    }
    let Some(create) = document
        .paths
        .paths
        .get_mut("/api/conversations")
        .and_then(|item| item.post.as_mut())
    else {
        return;
    };
    if let Some(RefOr::T(created)) = create.responses.responses.get_mut("201") {
        for operation in links {
            let link = utoipa::openapi::link::LinkBuilder::new()
                .operation_id(operation.clone())
                .parameter("id", "$response.body#/id")
                .build();
            created.links.insert(operation, RefOr::T(link));
        }
    }
}

fn add_refusals(operation: &mut Operation, error: &str) {
    for (status, why) in REFUSALS {
        operation
            .responses
            .responses
            .entry((*status).to_string())
            .or_insert_with(|| {
                refusal(
                    &with_kinds(why, status),
                    error,
                    *status == "429" || *status == "503",
                )
            });
    }
    operation.security = Some(vec![
        utoipa::openapi::security::SecurityRequirement::default(),
        utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new()),
    ]);
}

/// `why`, then the error kinds answered with `status`, which the kind decides.
fn with_kinds(why: &str, status: &str) -> String {
    let kinds: Vec<String> = ErrorKind::ALL
        .iter()
        .filter(|kind| kind.status().as_str() == status)
        .map(|kind| format!("`{kind}`"))
        .collect();
    if kinds.is_empty() {
        return why.to_string();
    }
    format!("{why} (kind {})", kinds.join(", "))
}

fn refusal(why: &str, error: &str, waits: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(why).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(error)))
            .build(),
    );
    if waits {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(<u64 as utoipa::PartialSchema>::schema())
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    RefOr::T(response.build())
}
