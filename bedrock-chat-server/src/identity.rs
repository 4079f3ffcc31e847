//! Who is asking, and whether to answer: the host asked for (an allow-list against DNS
//! rebinding), the client's address (through trusted proxies), a random client id in a cookie
//! (conversations belong to it), an optional bearer token that closes the whole API, and a
//! refusal of cross-site requests that change anything.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::client_addr::{ClientIp, PeerAddr};
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Runs before routing: a request for a host not on the list is refused with 421 (Misdirected
/// Request), before it can reach a handler or the model.
pub async fn check_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // One Host, and an absolute-form request's own authority must agree with it: either may
    // be what a proxy or the application reads.
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next().and_then(|v| v.to_str().ok());
    let single = hosts.next().is_none();
    let authority = request.uri().authority().map(|a| a.as_str());
    let host = match (host, authority) {
        (Some(host), Some(authority)) if !host.eq_ignore_ascii_case(authority) => None,
        (host, authority) => host.or(authority),
    };
    // Health checks come by address, not by name (an ALB's says `Host: 10.0.1.23:8080`, a
    // container's own `127.0.0.1:8080`), and their answer changes nothing and tells nothing.
    let health_check = matches!(request.uri().path(), "/healthz" | "/readyz")
        && matches!(*request.method(), Method::GET | Method::HEAD);
    if health_check
        || (single && host.is_some_and(|host| state.config().allowed_hosts.allows(host)))
    {
        return next.run(request).await;
    }
    ApiError::new(
        ErrorKind::UnknownHost,
        "this server does not answer to that host name; the operator lists the names it \
         answers to with --allowed-hosts",
    )
    .into_response()
}

/// Runs before routing: finds the client's address and puts it in the request as [`ClientIp`].
pub async fn locate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<PeerAddr>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |p| p.0.ip());
    let client = state
        .config()
        .trusted_proxies
        .client(peer, request.headers());
    request.extensions_mut().insert(ClientIp(client));
    next.run(request).await
}

/// The cookie that carries the client id.
pub const COOKIE: &str = "bc_client";

/// The id of the client making a request: 32 random hex digits from its cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId(pub String);

/// 32 hex digits (128 random bits): the form of client ids and of the store's conversation ids.
pub(crate) fn is_random_id(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The client id of the `bc_client` cookie, if a well-formed one was sent.
///
/// Not axum-extra's `CookieJar` (the `cookie` crate): it would parse and percent-decode every
/// cookie of every request into a jar to find one, whose value is then checked to be 32 hex
/// digits anyway; this split finds that one cookie without allocating for the others, and
/// anything not of that form (encoded, quoted, or a `cookie`-crate edge case) is simply not a
/// client id. Likewise the one `Set-Cookie` below is a constant form with one 32-hex value.
fn cookie_client_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && is_random_id(value))
        .map(|(_, value)| value.to_string())
}

/// Compares in time that does not depend on where the strings differ (`subtle`), so a token
/// cannot be guessed byte by byte.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    given.ct_eq(expected).into()
}

/// A request from another site, which the browser would send with the visitor's cookie.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// The bearer token a request carries, if any.
pub(crate) fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// 401, saying how to authenticate.
pub(crate) fn unauthorized() -> ApiError {
    ApiError::new(
        ErrorKind::Unauthorized,
        "this server needs an access token: send it as `Authorization: Bearer TOKEN`",
    )
}

/// The bearer token check.
pub(crate) fn check_token(state: &AppState, request: &Request) -> Result<(), ApiError> {
    if let Some(token) = state.config().auth_token.as_deref() {
        let given = bearer(request).unwrap_or_default();
        if !same_secret(given.as_bytes(), token.as_bytes()) {
            return Err(unauthorized());
        }
    }
    Ok(())
}

/// Refuses a request that changes something and comes from another site.
pub(crate) fn check_site(request: &Request) -> Result<(), ApiError> {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_state && is_cross_site(request.headers()) {
        return Err(ApiError::new(
            ErrorKind::CrossSite,
            "requests from other sites are refused",
        ));
    }
    Ok(())
}

/// Runs before every API handler: checks the bearer token and the request's site, and gives the
/// handler a [`ClientId`], setting the cookie on the response when the client had none.
pub async fn identify(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Err(error) = check_token(&state, &request).and_then(|()| check_site(&request)) {
        return refusal(error.into_response());
    }
    let existing = cookie_client_id(request.headers());
    let id = existing.clone().unwrap_or_else(bedrock_chat_new_id);
    request.extensions_mut().insert(ClientId(id.clone()));
    let mut response = next.run(request).await;
    if existing.is_none() {
        let secure = if state.config().secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let max_age = 400 * 24 * 3600;
        let cookie =
            format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A 401 tells the client which scheme to use.
pub(crate) fn refusal(mut response: Response) -> Response {
    if response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn bedrock_chat_new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ClientId>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "the request has no client id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"token", b"token"));
        assert!(!same_secret(b"toke", b"token"));
        assert!(!same_secret(b"tokenx", b"token"));
        assert!(!same_secret(b"", b"token"));
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        assert!(!is_cross_site(&headers(&[("host", "a:1")])), "curl");
        assert!(!is_cross_site(&headers(&[
            ("host", "a:1"),
            ("origin", "http://a:1"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "a:1"),
            ("origin", "http://evil.example")
        ])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[
            ("host", "a"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn only_well_formed_ids_are_taken_from_cookies() {
        let mut map = HeaderMap::new();
        map.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; bc_client=0123456789abcdef0123456789abcdef"),
        );
        assert_eq!(
            cookie_client_id(&map).as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        map.insert(
            header::COOKIE,
            HeaderValue::from_static("bc_client=../../etc"),
        );
        assert_eq!(cookie_client_id(&map), None);
    }
}
