//! `bedrock-chat healthcheck URL`: the container's own health check, with no shell tools in the
//! image (no curl, no wget): one GET over HTTP/1.1, healthy on a 2xx within five seconds.

use std::time::Duration;

use axum::http::{Request, Uri, header};
use hyper_util::rt::TokioIo;

/// How long the whole check may take; a container platform's own timeout is usually longer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks `url` (`http://127.0.0.1:8080/readyz`) once.
///
/// # Errors
///
/// What went wrong, for the platform's log: a URL that is not `http://HOST:PORT/PATH`, no
/// connection, no answer in time, or a status other than 2xx.
pub async fn check_health(url: &str) -> Result<(), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL ({e}); use http://127.0.0.1:8080/readyz"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "{url:?}: only http:// is checked (the server's own port, inside the container)"
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("{url:?} names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
    let check = async move {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("{url}: {e}"))?;
        tokio::spawn(connection);
        let request = Request::get(path)
            .header(header::HOST, authority)
            .body(String::new())
            .map_err(|e| format!("{url}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{url} answered {}", response.status()))
        }
    };
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .map_err(|_| format!("no answer within {CHECK_TIMEOUT:?}"))?
}
