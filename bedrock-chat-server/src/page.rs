//! The page and its assets, embedded in the binary: no CDN, no build step, works offline.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const INDEX: &str = include_str!("../assets/index.html");
const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// What the page may load and run: only its own files. Model text is put in the page as text,
/// never as HTML; this policy is the second line of defence.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn with_headers(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /`: the page, with the operator's notice (if any) at the top of its body.
pub async fn index(State(state): State<AppState>) -> Response {
    match &state.config().notice {
        None => with_headers(INDEX, "text/html; charset=utf-8"),
        Some(notice) => {
            let banner = format!(
                "<body>\n<section class=\"site-notice\" aria-label=\"Notice\"><p>{}</p></section>",
                escape_html(notice)
            );
            let mut response = with_headers("", "text/html; charset=utf-8");
            *response.body_mut() = INDEX.replacen("<body>", &banner, 1).into();
            response
        }
    }
}

/// Text made safe to put between HTML tags.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `GET /assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.css" => with_headers(CSS, "text/css; charset=utf-8"),
        "app.js" => with_headers(JS, "text/javascript; charset=utf-8"),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
