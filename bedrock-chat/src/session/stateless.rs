//! One request without a session, for a gateway whose caller keeps the conversation (such as an
//! OpenAI-compatible endpoint): the same retries, the same stream rule, no history.

use super::call::Route;
use super::streamed_turn::open_until_text;
use crate::client::ModelClient;
use crate::error::Result;
use crate::event_stream::EventStream;
use crate::request::ChatRequest;
use crate::response::ChatResponse;
use crate::retry::{RetryObserver, RetryPolicy};

/// Sends `request` (checked first, as a session would) and waits for the whole reply, retrying
/// under `policy`.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for a request Bedrock would refuse (no
/// request is then sent); otherwise the error of the last attempt.
pub async fn converse_once(
    client: &dyn ModelClient,
    request: &ChatRequest,
    policy: &RetryPolicy,
    observer: Option<&RetryObserver>,
) -> Result<ChatResponse> {
    request.validate()?;
    policy
        .run(observer, || Route::of(client).converse(request))
        .await
}

/// Sends `request` and returns its stream once the first text has arrived, retrying under
/// `policy` any failure before that (never after: the caller would see text twice). A failure
/// later is the stream's last item.
///
/// # Errors
///
/// As [`converse_once`].
pub async fn converse_stream_once(
    client: &dyn ModelClient,
    request: &ChatRequest,
    policy: &RetryPolicy,
    observer: Option<&RetryObserver>,
) -> Result<EventStream> {
    request.validate()?;
    let opened = policy
        .run(observer, || open_until_text(Route::of(client), request))
        .await?;
    Ok(opened.into_events())
}
