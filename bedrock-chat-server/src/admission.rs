//! The one admission path of every turn, for the browser chat and `/v1` alike, in one order:
//! rate (visitor, address, server), spending (reserved), capacity (fair share of reply slots).
//! What it gives back, a [`Permit`], is settled with the turn's real cost however the turn ends.
//!
//! Every count is the store's, so on a shared store (Redis) the limits hold across instances.
//! Every per-visitor limit is kept per client address as well: a new cookie resets nothing.

use std::net::IpAddr;
use std::time::Duration;

use bedrock_chat::{Cap, Rate, Slots, StoreError, until_next_spending_day};

use crate::client_addr::address_key;
use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Who is asking: the visitor (a cookie's client id, or an API key) if known, and the client's
/// address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visitor {
    /// `client:ID` for a browser, `key:NAME` for an API key; `None` for a caller known only by
    /// its address.
    pub id: Option<String>,
    /// `addr:ADDRESS` (an IPv6 address by its /64).
    pub address: String,
}

impl Visitor {
    /// A browser visitor with the client id of its cookie.
    pub fn browser(client: &str, address: IpAddr) -> Self {
        Visitor {
            id: Some(format!("client:{client}")),
            address: format!("addr:{}", address_key(address)),
        }
    }

    /// An API caller: by its key when it sent one, else by its address only.
    pub fn api(key: Option<&str>, address: IpAddr) -> Self {
        Visitor {
            id: key.map(|key| format!("key:{key}")),
            address: format!("addr:{}", address_key(address)),
        }
    }
}

const SERVER: &str = "server";

/// What a request may do before it is admitted, beside taking a turn: create a conversation.
///
/// # Errors
///
/// 429 `rate_limited` with a wait, or the store's error.
pub async fn admit_create(state: &AppState, visitor: &Visitor) -> Result<(), ApiError> {
    let limits = &state.config().limits;
    let hour = Duration::from_secs(3600);
    let keys = keys("create", visitor);
    let mut rates = vec![Rate {
        key: &keys[0],
        limit: limits.conversations_per_hour,
        period: hour,
    }];
    if let Some(visitor) = keys.get(1) {
        rates.push(Rate {
            key: visitor,
            limit: limits.conversations_per_hour,
            period: hour,
        });
    }
    rates.retain(|rate| rate.limit != u32::MAX);
    counted(match state.store().take_rate(&rates).await {
        Err(error) => Err(error.into()),
        Ok(None) => Ok(()),
        Ok(Some((_, wait))) => Err(ApiError::waiting(
            ErrorKind::RateLimited,
            format!(
                "too many new conversations from your address; wait {} and try again, or keep \
                 using the ones you have",
                describe_wait(wait)
            ),
            wait,
        )),
    })
}

/// Takes a search from the visitor's and the address's allowance: a search reads every
/// conversation the visitor has, so a script repeating it would make the store read for it
/// without end.
///
/// # Errors
///
/// 429 `rate_limited` with a wait, or the store's error.
pub async fn admit_search(state: &AppState, visitor: &Visitor) -> Result<(), ApiError> {
    let limit = state.config().limits.searches_per_minute;
    if limit == u32::MAX {
        return Ok(());
    }
    let keys = keys("search", visitor);
    let rates: Vec<Rate<'_>> = keys
        .iter()
        .map(|key| Rate {
            key,
            limit,
            period: Duration::from_secs(60),
        })
        .collect();
    counted(match state.store().take_rate(&rates).await? {
        None => Ok(()),
        Some((_, wait)) => Err(ApiError::waiting(
            ErrorKind::RateLimited,
            format!(
                "too many searches in the last minute; wait {} and search again",
                describe_wait(wait)
            ),
            wait,
        )),
    })
}

/// Takes `count` attached files from the visitor's and the address's hourly allowance, one by
/// one (a rate counts events): a message refused part-way has spent what it took, as a flood
/// should.
///
/// # Errors
///
/// 429 `rate_limited` with a wait, or the store's error.
pub async fn admit_attachments(
    state: &AppState,
    visitor: &Visitor,
    count: usize,
) -> Result<(), ApiError> {
    let limit = state.config().limits.attachments_per_hour;
    if count == 0 || limit == u32::MAX {
        return Ok(());
    }
    let keys = keys("attach", visitor);
    let rates: Vec<Rate<'_>> = keys
        .iter()
        .map(|key| Rate {
            key,
            limit,
            period: Duration::from_secs(3600),
        })
        .collect();
    for _ in 0..count {
        if let Some((_, wait)) = state.store().take_rate(&rates).await? {
            return counted(Err(ApiError::waiting(
                ErrorKind::RateLimited,
                format!(
                    "too many files attached in the last hour (at most {limit}); wait {} and                      send again, or send the message without them",
                    describe_wait(wait)
                ),
                wait,
            )));
        }
    }
    Ok(())
}

/// Counts a refusal by its limit (for the metrics: refusals by limit); other failures (the
/// store's) are not refusals.
fn counted<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(error) = &result
        && matches!(
            error.kind,
            ErrorKind::RateLimited
                | ErrorKind::DailyBudget
                | ErrorKind::AtCapacity
                | ErrorKind::StoreFull
        )
    {
        crate::telemetry::refused(error.kind);
    }
    result
}

/// `[ADDRESS-key, VISITOR-key?]` for one kind of count.
fn keys(kind: &str, visitor: &Visitor) -> Vec<String> {
    let mut keys = vec![format!("{kind}:{}", visitor.address)];
    if let Some(id) = &visitor.id {
        keys.push(format!("{kind}:{id}"));
    }
    keys
}

/// Admits a turn that can cost at most `most_usd`: takes a turn from each rate, reserves
/// `most_usd` on every spending account, and takes a reply slot; or says which limit refused.
/// Nothing is held when it refuses (a rate's turn, once taken, is spent).
///
/// # Errors
///
/// 429 `rate_limited` or `daily_budget`, 503 `at_capacity`, or the store's error.
pub async fn admit_turn(
    state: &AppState,
    visitor: &Visitor,
    most_usd: f64,
) -> Result<Permit, ApiError> {
    admit_rate(state, visitor).await?;
    admit_cost(state, visitor, most_usd).await
}

/// The first step of [`admit_turn`], for a caller that must do work between the steps (load
/// the conversation to know what the turn can cost): takes a turn from each rate, so a flood
/// is refused before it costs a store read.
///
/// # Errors
///
/// 429 `rate_limited`, or the store's error.
pub async fn admit_rate(state: &AppState, visitor: &Visitor) -> Result<(), ApiError> {
    counted(take_turn_rate(state, visitor).await)
}

async fn take_turn_rate(state: &AppState, visitor: &Visitor) -> Result<(), ApiError> {
    let limits = &state.config().limits;
    let minute = Duration::from_secs(60);
    let turn_keys = keys("turns", visitor);
    let server_turns = format!("turns:{SERVER}");
    let mut rates = vec![
        Rate {
            key: &server_turns,
            limit: limits.server_turns_per_minute,
            period: minute,
        },
        Rate {
            key: &turn_keys[0],
            limit: limits.address_turns_per_minute,
            period: minute,
        },
    ];
    if let (Some(key), Some(id)) = (turn_keys.get(1), &visitor.id) {
        rates.push(Rate {
            key,
            limit: state.visitor_rate(id),
            period: minute,
        });
    }
    // A limit of u32::MAX is no limit (`Limits::unlimited`): not counted at all, since a rate
    // spaces its events at least a millisecond apart.
    rates.retain(|rate| rate.limit != u32::MAX);
    if let Some((index, wait)) = state.store().take_rate(&rates).await? {
        let who = if rates[index].key == server_turns {
            "this server is taking as many messages as it can"
        } else {
            "too many messages"
        };
        return Err(ApiError::waiting(
            ErrorKind::RateLimited,
            format!("{who}; wait {} and send again", describe_wait(wait)),
            wait,
        ));
    }

    Ok(())
}

/// The rest of [`admit_turn`]: reserves `most_usd` on every spending account and takes a
/// reply slot.
///
/// # Errors
///
/// 429 `daily_budget`, 503 `at_capacity`, or the store's error.
pub async fn admit_cost(
    state: &AppState,
    visitor: &Visitor,
    most_usd: f64,
) -> Result<Permit, ApiError> {
    counted(reserve_cost(state, visitor, most_usd).await)
}

async fn reserve_cost(
    state: &AppState,
    visitor: &Visitor,
    most_usd: f64,
) -> Result<Permit, ApiError> {
    let limits = &state.config().limits;
    // Spending: the most the turn can cost, reserved on every account at once.
    let mut accounts = vec![SERVER.to_string(), visitor.address.clone()];
    let mut caps = vec![limits.server_daily_usd, limits.address_daily_usd];
    if let Some(id) = &visitor.id {
        accounts.push(id.clone());
        caps.push(state.visitor_cap(id));
    }
    let reservation: Vec<Cap<'_>> = accounts
        .iter()
        .zip(&caps)
        .map(|(account, usd)| Cap { account, usd: *usd })
        .collect();
    if let Some(index) = state
        .store()
        .reserve_spending(&reservation, most_usd)
        .await?
    {
        let cap = caps[index].unwrap_or_default();
        let whose = if index == 0 {
            "this server has reached its spending limit for today"
        } else {
            "you have reached your spending limit for today"
        };
        let mut refused = ApiError::waiting(
            ErrorKind::DailyBudget,
            format!(
                "{whose} (${cap:.2}; a message can cost up to ${most_usd:.4}); try again after \
                 midnight UTC"
            ),
            until_next_spending_day(),
        );
        // Not before tomorrow: a program that retries on `retryable` would only be refused
        // again, so it is told not to.
        refused.retryable = false;
        return Err(refused);
    }

    // Capacity: a slot of the server's, of the address's and of the visitor's.
    let token = uuid::Uuid::new_v4().simple().to_string();
    let slot_keys: Vec<String> = std::iter::once(format!("replies:{SERVER}"))
        .chain(keys("replies", visitor))
        .collect();
    let maxima = [
        limits.concurrent_turns,
        limits.concurrent_turns_per_address,
        limits.concurrent_turns_per_visitor,
    ];
    let slots: Vec<Slots<'_>> = slot_keys
        .iter()
        .zip(maxima)
        .map(|(key, max)| Slots { key, max })
        .collect();
    let taken = state
        .store()
        .acquire_slots(&slots, &token, state.config().turn_lease)
        .await;
    let mut permit = Permit {
        state: state.clone(),
        accounts,
        reserved: most_usd,
        slot_keys,
        token,
        settled: false,
    };
    match taken {
        Ok(None) => Ok(permit),
        Ok(Some(index)) => {
            permit.settle(0.0).await;
            let message = if index == 0 {
                "the server is writing as many replies as it can; try again in a moment"
            } else {
                "you have as many replies being written as you may at once; wait for one to finish"
            };
            let mut error = ApiError::new(ErrorKind::AtCapacity, message);
            error.retry_after = Some(Duration::from_secs(2));
            Err(error)
        }
        Err(error) => {
            permit.settle(0.0).await;
            Err(error.into())
        }
    }
}

/// "12 s", "3 min": a wait for a person.
fn describe_wait(wait: Duration) -> String {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs.div_ceil(60))
    }
}

/// An admitted turn: the spending reserved for it and its reply slots. Settle it with what
/// the turn cost once that is known ([`settle`](Self::settle)): the reservation becomes the
/// real cost and the slots are given back. Dropped unsettled (a task that panicked), the
/// slots are given back and the reservation stays, counted at the most the turn could cost.
#[derive(Debug)]
pub struct Permit {
    state: AppState,
    accounts: Vec<String>,
    reserved: f64,
    slot_keys: Vec<String>,
    token: String,
    settled: bool,
}

impl Permit {
    /// Keeps the reply slots while the turn runs (called at the lease's pace), so those of an
    /// instance that dies lapse on their own.
    pub async fn renew(&self) {
        let keys: Vec<&str> = self.slot_keys.iter().map(String::as_str).collect();
        if let Err(error) = self
            .state
            .store()
            .renew_slots(&keys, &self.token, self.state.config().turn_lease)
            .await
        {
            tracing::warn!(%error, "could not renew a turn's reply slots");
        }
    }

    /// The turn cost `cost_usd`: each account is charged that instead of what was reserved,
    /// and the slots are given back. A store that fails here is logged: the reply is over.
    pub async fn settle(&mut self, cost_usd: f64) {
        if self.settled {
            return;
        }
        self.settled = true;
        let store = self.state.store();
        let delta = cost_usd - self.reserved;
        let keys: Vec<&str> = self.slot_keys.iter().map(String::as_str).collect();
        let settle = async {
            if delta != 0.0 {
                futures::future::join_all(
                    self.accounts
                        .iter()
                        .map(|account| store.add_spending(account, delta)),
                )
                .await
                .into_iter()
                .collect::<Result<Vec<()>, StoreError>>()
                .map(drop)
            } else {
                Ok(())
            }
        };
        let (settled, released) = tokio::join!(settle, store.release_slots(&keys, &self.token));
        if let Err(error) = settled.and(released) {
            tracing::warn!(%error, "could not settle a turn's spending and slots");
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let state = self.state.clone();
        let keys = std::mem::take(&mut self.slot_keys);
        let token = std::mem::take(&mut self.token);
        runtime.spawn(async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let _ = state.store().release_slots(&keys, &token).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_a_person_would_say_them() {
        assert_eq!(describe_wait(Duration::from_millis(10)), "1 s");
        assert_eq!(describe_wait(Duration::from_secs(30)), "30 s");
        assert_eq!(describe_wait(Duration::from_secs(3000)), "50 min");
    }
}
