//! Where a server keeps conversations between turns: the [`ConversationStore`] trait and the
//! in-process [`MemoryStore`].
//!
//! A store holds [`SavedConversation`]s under an owner (a browser's client id, an API key) and
//! an unguessable id. Every operation names the owner, and a conversation of another owner is
//! [`StoreError::NotFound`], never "forbidden", so ids leak nothing. Saving is compare-and-set on
//! a version, so two servers that loaded the same conversation cannot overwrite each other; a
//! [`Lease`] lets one turn at a time run on a conversation, and expires on its own if its holder
//! dies. [`ChatSession::restore`](crate::ChatSession::restore) and
//! [`ChatSession::snapshot`](crate::ChatSession::snapshot) turn a stored conversation into a
//! session and back, without touching files.

mod memory;
#[cfg(feature = "redis")]
mod redis;
mod reply_lru;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::error::BoxError;
use crate::message::Role;
use crate::session::SavedConversation;

pub use memory::{MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_KEY_PREFIX, RedisStore, RedisStoreBuilder};

/// A conversation as a store keeps it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredConversation {
    /// Its id: random and unguessable.
    pub id: String,
    /// Its title: the start of its first message, or "New chat".
    pub title: String,
    /// When it last changed, in seconds since the Unix epoch.
    pub updated: u64,
    /// Its version, raised by every save; what [`ConversationStore::save`] compares.
    pub version: u64,
    /// The conversation itself.
    pub conversation: SavedConversation,
}

/// One entry of an owner's list of conversations.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConversationSummary {
    /// The conversation's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// When it last changed, in seconds since the Unix epoch.
    pub updated: u64,
}

/// The right to run one turn on one conversation, until it is released or expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The conversation.
    pub id: String,
    /// What proves the holder's right: only it can renew or release the lease.
    pub token: String,
}

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such conversation for this owner (it never existed, expired, was deleted, or belongs
    /// to someone else).
    #[error("no such conversation; it may have expired or been deleted")]
    NotFound,
    /// The conversation changed since it was loaded (another turn, another server).
    #[error("the conversation changed meanwhile; reload it and send again")]
    Conflict,
    /// Another turn is running on this conversation.
    #[error("a reply is already being written in this conversation; wait for it, then send again")]
    Busy,
    /// The conversation would be larger than the store allows.
    #[error(
        "the conversation is too long to keep ({bytes} bytes, more than {limit}); start a new chat"
    )]
    TooLarge {
        /// Its size as stored.
        bytes: usize,
        /// The largest allowed.
        limit: usize,
    },
    /// The store holds as much as it may (conversations in all, or bytes); nothing was
    /// changed. Conversations expire or are deleted to make room.
    #[error("{message}; try again later")]
    Full {
        /// What is full.
        message: String,
    },
    /// The store cannot be reached or failed; nothing was changed.
    #[error("the conversation store is unavailable ({message}); try again shortly")]
    Unavailable {
        /// What failed, without credentials.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl StoreError {
    /// True when trying again later may work.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Busy
                | StoreError::Conflict
                | StoreError::Full { .. }
                | StoreError::Unavailable { .. }
        )
    }
}

/// A place to keep conversations between turns, shared by every request of a server (and, for a
/// shared store such as Redis, by every instance).
///
/// Implementations must pass the contract tests in the crate's test suite (run against every
/// store): owners are isolated, saves are compare-and-set, leases are exclusive and expire.
#[async_trait]
pub trait ConversationStore: Send + Sync + std::fmt::Debug {
    /// Keeps a new conversation for `owner` under a new random id, at version 1.
    async fn create(
        &self,
        owner: &str,
        conversation: SavedConversation,
    ) -> Result<StoredConversation, StoreError>;

    /// The conversation `id` of `owner`, refreshing its expiry.
    async fn load(&self, owner: &str, id: &str) -> Result<StoredConversation, StoreError>;

    /// Replaces the conversation if its version is still `expected_version`, and returns the new
    /// version; [`StoreError::Conflict`] otherwise, with nothing changed.
    async fn save(
        &self,
        owner: &str,
        id: &str,
        expected_version: u64,
        conversation: SavedConversation,
    ) -> Result<u64, StoreError>;

    /// The owner's conversations, most recently changed first.
    async fn list(&self, owner: &str) -> Result<Vec<ConversationSummary>, StoreError>;

    /// Removes the conversation; [`StoreError::NotFound`] if the owner has no such conversation.
    async fn delete(&self, owner: &str, id: &str) -> Result<(), StoreError>;

    /// Takes the lease on a conversation for `ttl`; [`StoreError::Busy`] while another holds it.
    async fn lease(&self, owner: &str, id: &str, ttl: Duration) -> Result<Lease, StoreError>;

    /// Extends a lease this holder still has for another `ttl`; [`StoreError::Busy`] if it was
    /// lost (expired and taken by another).
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<(), StoreError>;

    /// Gives a lease back. Releasing a lease that expired, or that another now holds, does
    /// nothing.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Takes the lease on a conversation and loads it: what a turn does first. Errors as
    /// [`lease`](Self::lease) and [`load`](Self::load); on an error no lease is held.
    ///
    /// The default calls the two in turn; a networked store should override it to do both in
    /// one round trip, since every turn waits for it before anything is sent to the model.
    async fn lease_and_load(
        &self,
        owner: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<(Lease, StoredConversation), StoreError> {
        let lease = self.lease(owner, id, ttl).await?;
        match self.load(owner, id).await {
            Ok(stored) => Ok((lease, stored)),
            Err(error) => {
                let _ = self.release(&lease).await;
                Err(error)
            }
        }
    }

    /// Saves the conversation as [`save`](Self::save) does, then gives the lease back whether
    /// the save succeeded or not: what a turn does last.
    ///
    /// The default calls the two in turn; a networked store should override it to do both in
    /// one round trip. A release that fails is not an error (the lease expires on its own).
    async fn save_and_release(
        &self,
        lease: &Lease,
        owner: &str,
        expected_version: u64,
        conversation: SavedConversation,
    ) -> Result<u64, StoreError> {
        let saved = self
            .save(owner, &lease.id, expected_version, conversation)
            .await;
        let _ = self.release(lease).await;
        saved
    }

    /// Whether the store answers (for a readiness check).
    async fn ping(&self) -> Result<(), StoreError>;

    /// What `account` (a client, or the whole server) has spent today (UTC), in US dollars, as
    /// recorded by [`add_spending`](Self::add_spending). On a shared store every instance sees
    /// the same sum, so a daily cap holds across instances.
    async fn spent_today(&self, account: &str) -> Result<f64, StoreError>;

    /// Adds `usd` to what `account` spent today (UTC). `usd` may be negative: settling a
    /// [reservation](Self::reserve_spending) that cost less than reserved gives the rest back.
    async fn add_spending(&self, account: &str, usd: f64) -> Result<(), StoreError>;

    /// Reserves `usd` on every account of `caps` at once, atomically (on a shared store, across
    /// every instance): only if none of them would then be over its cap is anything added.
    /// Returns `None` when reserved, or the index in `caps` of the first account that would go
    /// over (nothing added then). Settle with [`add_spending`](Self::add_spending) once the
    /// real cost is known.
    ///
    /// This is what keeps turns started together from overshooting a cap: each reserves the
    /// most it can cost before it starts, so the sum of running turns can never pass the cap.
    async fn reserve_spending(
        &self,
        caps: &[Cap<'_>],
        usd: f64,
    ) -> Result<Option<usize>, StoreError>;

    /// Takes one event from each of `rates` at once, atomically: only if every one of them has
    /// room is anything taken. Returns `None` when taken, or the index of the first rate that
    /// is exhausted and how long until it has room again. Each rate is a GCRA (a token bucket
    /// of `limit` events refilled evenly over `period`); on a shared store the buckets are
    /// shared by every instance, so N instances do not allow N times the rate.
    async fn take_rate(&self, rates: &[Rate<'_>]) -> Result<Option<(usize, Duration)>, StoreError>;

    /// Takes a slot under `token` in each of `slots` at once, atomically, for `ttl` (renewed
    /// with [`renew_slots`](Self::renew_slots) while in use, so the slots of an instance that
    /// dies come back on their own). Returns `None` when taken, or the index of the first
    /// that is full (nothing taken then).
    async fn acquire_slots(
        &self,
        slots: &[Slots<'_>],
        token: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, StoreError>;

    /// Extends the slots `token` holds under each of `keys` for another `ttl`.
    async fn renew_slots(
        &self,
        keys: &[&str],
        token: &str,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Gives back the slots `token` holds under each of `keys`.
    async fn release_slots(&self, keys: &[&str], token: &str) -> Result<(), StoreError>;

    /// For the [`ReplyCache`](crate::ReplyCache): records that `asker` asked the question
    /// `key` (once, however often it asks; counting stops past `enough` others) and gives back
    /// how many *other* askers asked it, and the reply kept for it, if any. An entry lives
    /// `ttl` from its first ask. A store without a reply cache keeps nothing: `(0, None)`.
    async fn ask_cached_reply(
        &self,
        key: &str,
        asker: &str,
        enough: usize,
        ttl: Duration,
    ) -> Result<(usize, Option<String>), StoreError> {
        let _ = (key, asker, enough, ttl);
        Ok((0, None))
    }

    /// For the [`ReplyCache`](crate::ReplyCache): keeps `reply` for `key` for `ttl`, unless a
    /// reply is kept for it already (the first stays). A store without a reply cache keeps
    /// nothing.
    async fn put_cached_reply(
        &self,
        key: &str,
        reply: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let _ = (key, reply, ttl);
        Ok(())
    }

    /// For the [`ReplyCache`](crate::ReplyCache)'s semantic mode: remembers that the first
    /// question whose exact key is `key` has `embedding`, in `partition` (requests alike in all
    /// but their question), keeping the newest `most` of a partition, for `ttl`. A store
    /// without a reply cache keeps nothing.
    async fn add_cached_question(
        &self,
        partition: &str,
        key: &str,
        embedding: &[f32],
        most: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let _ = (partition, key, embedding, most, ttl);
        Ok(())
    }

    /// How many replies the [`ReplyCache`](crate::ReplyCache) keeps now (for a metric), or
    /// `None` when the store cannot tell cheaply. A store without a reply cache keeps none.
    async fn cached_reply_count(&self) -> Result<Option<u64>, StoreError> {
        Ok(Some(0))
    }

    /// The questions remembered in `partition`, newest first, as `(key, embedding)`.
    async fn cached_questions(&self, partition: &str) -> Result<Vec<CachedQuestion>, StoreError> {
        let _ = partition;
        Ok(Vec::new())
    }
}

/// A question the reply cache's semantic mode remembers: the exact key its answer is kept
/// under, and its embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedQuestion {
    /// The exact key of the request that asked it.
    pub key: String,
    /// Its embedding.
    pub embedding: Vec<f32>,
}

/// An account and its daily cap, for [`ConversationStore::reserve_spending`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cap<'a> {
    /// The account (a client, an address, an API key, the whole server).
    pub account: &'a str,
    /// US dollars it may spend per UTC day; `None` to count without a cap.
    pub usd: Option<f64>,
}

/// A rate for [`ConversationStore::take_rate`]: at most `limit` events per `period` under `key`,
/// `limit` of them at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate<'a> {
    /// What is limited (a client's turns, an address's new conversations, ...).
    pub key: &'a str,
    /// Events per period; at least 1.
    pub limit: u32,
    /// The period.
    pub period: Duration,
}

impl Rate<'_> {
    /// The even spacing of events (the GCRA's emission interval) and how far ahead of now the
    /// bucket may run (its burst tolerance), in milliseconds.
    pub(crate) fn interval_and_burst_ms(&self) -> (u64, u64) {
        let period = u64::try_from(self.period.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let interval = (period / u64::from(self.limit.max(1))).max(1);
        (interval, period.saturating_sub(interval))
    }
}

/// Concurrent slots for [`ConversationStore::acquire_slots`]: at most `max` held at once under
/// `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots<'a> {
    /// What is limited (an address's running replies, the whole server's, ...).
    pub key: &'a str,
    /// The most held at once.
    pub max: usize,
}

/// How long a store keeps a conversation after its last use, unless told otherwise: 24 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// How many conversations one owner keeps, unless told otherwise (making one more drops the
/// oldest): 100.
pub const DEFAULT_MAX_PER_OWNER: usize = 100;

/// How many conversations a store keeps in all, unless told otherwise: 100,000.
pub const DEFAULT_MAX_CONVERSATIONS: usize = 100_000;

/// The largest conversation a store keeps, as JSON bytes, unless told otherwise: 8 MiB.
pub const DEFAULT_MAX_CONVERSATION_BYTES: usize = 8 * 1024 * 1024;

/// The longest a conversation with no message yet is kept, whatever the TTL and however often
/// it is read: one hour after it was made. Empty conversations cost nothing to make, so this
/// bounds how many one address can hold (what it may create in an hour) rather than letting
/// them pile up for the TTL.
pub const EMPTY_TTL: Duration = Duration::from_secs(3600);

/// The longest time a store keeps a conversation or a lease; longer ones are cut to it. A
/// hundred years is "forever" for a chat, and keeps every expiry computable (an `Instant` or a
/// Redis expiry cannot be `Duration::MAX` away).
pub const LONGEST_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Today, as days since the Unix epoch (UTC).
pub(crate) fn today() -> u64 {
    now_secs() / 86_400
}

/// How long until the spending day (UTC) ends and daily totals start again from zero.
pub fn until_next_spending_day() -> Duration {
    Duration::from_secs(86_400 - now_secs() % 86_400)
}

/// The title of a conversation: the one the user gave it, else the first line of its first
/// message, shortened.
pub fn title_of(conversation: &SavedConversation) -> String {
    const LONGEST: usize = 60;
    if let Some(title) = conversation.title() {
        return title.to_string();
    }
    let Some(first) = conversation
        .messages()
        .iter()
        .find(|m| m.role() == Role::User)
    else {
        return "New chat".to_string();
    };
    let text = first.text();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() <= LONGEST {
        return line.to_string();
    }
    let mut short: String = line.chars().take(LONGEST - 1).collect();
    short.push('…');
    short
}

/// A new random, unguessable id: 128 bits from the operating system's generator.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
