//! What keeps a public chatbot alive in public: a per-client request rate, and spending caps per
//! client and for the whole server per day.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use bedrock_chat::{ConversationStore, StoreError};
use tokio::time::Instant;

use crate::error::ApiError;

/// The server's limits. Every field has a default that suits a small public deployment.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest request body of the browser chat's API. Default is 1 MiB plus room for JSON.
    pub body_bytes: usize,
    /// The largest request body of the OpenAI-compatible API, whose callers send the whole
    /// conversation, images included (as base64 `data:` URLs, a third larger than the image).
    /// Default is 20 MiB: several images at Bedrock's 3.75 MB limit.
    pub openai_body_bytes: usize,
    /// Messages (turns) one client may send per minute. Default is 20.
    pub turns_per_minute: u32,
    /// Replies being written at once, over all clients. Default is 64.
    pub concurrent_turns: usize,
    /// US dollars one client may spend per UTC day; `None` for no cap. Default is $5.
    pub client_daily_usd: Option<f64>,
    /// US dollars the whole server may spend per UTC day; `None` for no cap. Default is none.
    pub server_daily_usd: Option<f64>,
    /// How long a conversation is kept after its last use. Default is 24 hours.
    pub conversation_ttl: Duration,
    /// Conversations one client keeps (the oldest goes). Default is 100.
    pub conversations_per_client: usize,
    /// The longest time to the response head of any request. Streams are not limited once
    /// they have started. Default is 30 seconds.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: bedrock_chat::MAX_MESSAGE_BYTES + 64 * 1024,
            openai_body_bytes: 20 * 1024 * 1024,
            turns_per_minute: 20,
            concurrent_turns: 64,
            client_daily_usd: Some(5.0),
            server_daily_usd: None,
            conversation_ttl: Duration::from_secs(24 * 3600),
            conversations_per_client: 100,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A token bucket per client: `per_minute` turns, refilled continuously.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter of `per_minute` turns per client.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    /// Takes one turn from `client`'s bucket, or says how long to wait for one.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute.max(1));
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Full buckets carry no information: forget them so memory stays bounded.
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity
            });
        }
        let (tokens, at) = buckets.entry(client.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

/// Refuses a turn when the client or the whole server has reached its cap today. The sums are
/// the store's, so on a shared store (Redis) the caps hold across every instance.
///
/// # Errors
///
/// A 402 naming which cap was reached, or the store's error.
pub async fn check_spending(
    store: &dyn ConversationStore,
    client: &str,
    limits: &Limits,
) -> Result<(), ApiError> {
    let refuse =
        |message: String| ApiError::new(StatusCode::PAYMENT_REQUIRED, "daily_budget", message);
    // Both sums at once: each is a round trip to a shared store. Each gives its cap when reached.
    let reached = |cap: Option<f64>, account: String| async move {
        match cap {
            Some(cap) => Ok((store.spent_today(&account).await? >= cap).then_some(cap)),
            None => Ok::<_, StoreError>(None),
        }
    };
    let (server, client) = tokio::join!(
        reached(limits.server_daily_usd, SERVER_ACCOUNT.to_string()),
        reached(limits.client_daily_usd, client_account(client)),
    );
    if let Some(cap) = server? {
        return Err(refuse(format!(
            "this server has reached its spending limit for today (${cap:.2}); try again tomorrow"
        )));
    }
    if let Some(cap) = client? {
        return Err(refuse(format!(
            "you have reached your spending limit for today (${cap:.2}); try again tomorrow"
        )));
    }
    Ok(())
}

/// Adds what a turn cost to the client's and the server's sums for today. A store that fails
/// here is logged, not reported: the reply has already been given.
pub async fn record_spending(store: &dyn ConversationStore, client: &str, usd: f64) {
    let accounts = [SERVER_ACCOUNT.to_string(), client_account(client)];
    let added = futures::future::join_all(
        accounts
            .iter()
            .map(|account| store.add_spending(account, usd)),
    )
    .await;
    for error in added.into_iter().filter_map(Result::err) {
        tracing::warn!(%error, "could not record spending");
    }
}

const SERVER_ACCOUNT: &str = "server";

fn client_account(client: &str) -> String {
    format!("client:{client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_refills_over_time() {
        let limiter = RateLimiter::new(2);
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        assert!(limiter.check("b").is_ok(), "clients are limited apart");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(limiter.check("a").is_ok());
    }

    #[tokio::test]
    async fn spending_caps_hold_per_client_and_for_the_server() {
        let store = bedrock_chat::MemoryStore::new();
        let limits = Limits {
            client_daily_usd: Some(1.0),
            server_daily_usd: Some(1.5),
            ..Limits::default()
        };
        record_spending(&store, "a", 1.0).await;
        let refused = check_spending(&store, "a", &limits).await.unwrap_err();
        assert!(refused.message.contains("you have reached"), "{refused:?}");
        assert!(check_spending(&store, "b", &limits).await.is_ok());
        record_spending(&store, "b", 0.5).await;
        let refused = check_spending(&store, "b", &limits).await.unwrap_err();
        assert!(refused.message.contains("this server"), "{refused:?}");
    }
}
