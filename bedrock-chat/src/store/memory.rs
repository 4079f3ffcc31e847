//! `MemoryStore`: conversations in the server's own memory, for one instance.
//!
//! Kept as mini-redis's `db.rs` keeps its keys: a map of entries, and beside it the indexes that
//! let every operation touch only what it needs. An expiry index (ordered by expiry) lets
//! expired conversations be purged from its front, and a per-owner index (ordered by last use)
//! lets an owner's list and its oldest conversation be found without scanning the store. Every
//! removal goes through [`Inner::remove`], which keeps the byte count and the indexes exact.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::reply_lru::ReplyLru;
use super::{
    CachedQuestion, Cap, ConversationStore, ConversationSummary, LONGEST_TTL, Lease, Rate, Slots,
    StoreError, StoredConversation, new_id, now_secs, title_of,
};
use crate::session::SavedConversation;

/// Conversations in this process's memory: nothing to install, lost on restart, not shared
/// between instances. Every conversation expires `ttl` after its last use; an owner keeps at
/// most `max_per_owner` (the oldest is dropped to make room), the store at most
/// `max_conversations` (a new one is refused past it), and one conversation at most
/// `max_bytes` as JSON.
///
/// Cloning is cheap; clones share the conversations.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    /// The reply cache's entries, under a lock of their own: a cache lookup never waits on a
    /// conversation's save.
    replies: Arc<Mutex<ReplyLru>>,
    limits: Limits,
}

#[derive(Clone, Copy, Debug)]
struct Limits {
    ttl: Duration,
    max_per_owner: usize,
    max_conversations: usize,
    max_bytes: usize,
    max_total_bytes: usize,
    max_reply_bytes: usize,
}

#[derive(Default)]
struct Inner {
    conversations: HashMap<String, Entry>,
    /// `(expires, id)` of every conversation: expired ones are at the front.
    expiry: BTreeSet<(Instant, String)>,
    /// Per owner, `(used, id)` of its conversations: the oldest first.
    owners: HashMap<String, BTreeSet<(u64, String)>>,
    leases: HashMap<String, (String, Instant)>,
    /// The sum of the conversations' sizes, kept as they change so no save has to add them up.
    total_bytes: usize,
    /// The last `Entry::used` given out.
    clock: u64,
    /// Today's spending per account, and the day it is for.
    spending: (u64, HashMap<String, f64>),
    /// Per rate key, the GCRA's theoretical arrival time of the next event.
    rates: HashMap<String, Instant>,
    /// The size of `rates` at which its stale entries are next dropped.
    rates_purge_at: usize,
    /// Per slots key, the tokens holding a slot and until when.
    slots: HashMap<String, HashMap<String, Instant>>,
}

struct Entry {
    /// When it was last used, in the store's own order (seconds are too coarse to tell which of
    /// two conversations is older).
    used: u64,
    owner: String,
    stored: StoredConversation,
    bytes: usize,
    expires: Instant,
    /// No message yet: kept [`EMPTY_TTL`](super::EMPTY_TTL) from its making, not refreshed.
    empty: bool,
}

/// Builds a [`MemoryStore`]. Made by [`MemoryStore::builder`].
#[must_use]
#[derive(Debug)]
pub struct MemoryStoreBuilder {
    limits: Limits,
}

impl MemoryStoreBuilder {
    /// How long a conversation is kept after its last use, at most [`LONGEST_TTL`]. Default is
    /// 24 hours.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.limits.ttl = ttl.min(LONGEST_TTL);
        self
    }

    /// The most conversations one owner keeps; making one more drops the oldest. Default is 100.
    pub fn max_per_owner(mut self, max: usize) -> Self {
        self.limits.max_per_owner = max.max(1);
        self
    }

    /// The most conversations in the store; past it new ones are refused. Default is 100,000.
    pub fn max_conversations(mut self, max: usize) -> Self {
        self.limits.max_conversations = max.max(1);
        self
    }

    /// The largest conversation kept, as JSON bytes. Default is 8 MiB.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.limits.max_bytes = max;
        self
    }

    /// The most memory all conversations may take, as JSON bytes; past it new turns are refused
    /// until conversations expire. Default is 512 MiB.
    pub fn max_total_bytes(mut self, max: usize) -> Self {
        self.limits.max_total_bytes = max;
        self
    }

    /// The most memory the [`ReplyCache`](crate::ReplyCache)'s entries may take; past it the
    /// least recently used go first. Default is 64 MiB.
    pub fn max_reply_bytes(mut self, max: usize) -> Self {
        self.limits.max_reply_bytes = max;
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        MemoryStore {
            inner: Arc::default(),
            replies: Arc::new(Mutex::new(ReplyLru::new(self.limits.max_reply_bytes))),
            limits: self.limits,
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl MemoryStore {
    /// A store with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts building a store with other limits.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            limits: Limits {
                ttl: super::DEFAULT_TTL,
                max_per_owner: super::DEFAULT_MAX_PER_OWNER,
                max_conversations: super::DEFAULT_MAX_CONVERSATIONS,
                max_bytes: super::DEFAULT_MAX_CONVERSATION_BYTES,
                max_total_bytes: 512 * 1024 * 1024,
                max_reply_bytes: 64 * 1024 * 1024,
            },
        }
    }

    /// How many conversations are kept now (expired ones not counted).
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        inner.purge_expired(Instant::now());
        inner.conversations.len()
    }

    /// The size of the conversations kept now, as JSON bytes: what
    /// [`max_total_bytes`](MemoryStoreBuilder::max_total_bytes) bounds.
    pub fn bytes(&self) -> usize {
        let mut inner = self.lock();
        inner.purge_expired(Instant::now());
        inner.total_bytes
    }

    /// Whether no conversation is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn size_of(&self, conversation: &SavedConversation) -> Result<usize, StoreError> {
        let bytes = conversation.to_json().len();
        if bytes > self.limits.max_bytes {
            return Err(StoreError::TooLarge {
                bytes,
                limit: self.limits.max_bytes,
            });
        }
        Ok(bytes)
    }
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Removes a conversation with everything that refers to it: its bytes, its lease and its
    /// place in both indexes. The only way a conversation leaves the store.
    fn remove(&mut self, id: &str) {
        if let Some(entry) = self.conversations.remove(id) {
            self.total_bytes -= entry.bytes;
            self.expiry.remove(&(entry.expires, id.to_string()));
            if let Some(owned) = self.owners.get_mut(&entry.owner) {
                owned.remove(&(entry.used, id.to_string()));
                if owned.is_empty() {
                    self.owners.remove(&entry.owner);
                }
            }
        }
        self.leases.remove(id);
    }

    /// Drops every expired conversation, taking them from the front of the expiry index: the
    /// work is the number of conversations dropped, not the size of the store.
    fn purge_expired(&mut self, now: Instant) {
        while let Some((expires, id)) = self.expiry.first().cloned() {
            if expires > now {
                break;
            }
            self.remove(&id);
        }
    }

    /// Marks `id` used now, moving it in both indexes; it expires at `expires`, unless it is
    /// still empty (then it keeps the expiry it was made with).
    fn touch(&mut self, id: &str, expires: Instant) {
        let used = self.tick();
        let Some(entry) = self.conversations.get_mut(id) else {
            return;
        };
        let expires = if entry.empty { entry.expires } else { expires };
        let key = id.to_string();
        self.expiry.remove(&(entry.expires, key.clone()));
        self.expiry.insert((expires, key.clone()));
        if let Some(owned) = self.owners.get_mut(&entry.owner) {
            owned.remove(&(entry.used, key.clone()));
            owned.insert((used, key));
        }
        entry.expires = expires;
        entry.used = used;
    }

    /// The live entry `id` of `owner`.
    fn entry(&mut self, owner: &str, id: &str, now: Instant) -> Result<&mut Entry, StoreError> {
        match self.conversations.get_mut(id) {
            Some(entry) if entry.owner == owner && entry.expires > now => Ok(entry),
            _ => Err(StoreError::NotFound),
        }
    }

    fn spending_today(&mut self) -> &mut HashMap<String, f64> {
        let today = super::today();
        let (day, spending) = &mut self.spending;
        if *day != today {
            // A new day: yesterday's sums are no longer needed, which also bounds the map.
            *day = today;
            spending.clear();
        }
        spending
    }
}

fn full_memory(limit: usize) -> StoreError {
    StoreError::Full {
        message: format!(
            "the server's conversations fill the {} MiB it keeps for them",
            limit / (1024 * 1024)
        ),
    }
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn create(
        &self,
        owner: &str,
        conversation: SavedConversation,
    ) -> Result<StoredConversation, StoreError> {
        let bytes = self.size_of(&conversation)?;
        let now = Instant::now();
        let mut inner = self.lock();
        inner.purge_expired(now);
        // Keep the owner's list bounded: the conversations used longest ago go, through
        // `remove`, so their bytes and leases go with them.
        let owned = inner.owners.get(owner).map_or(0, BTreeSet::len);
        if owned >= self.limits.max_per_owner {
            let oldest: Vec<String> = inner.owners[owner]
                .iter()
                .take(owned + 1 - self.limits.max_per_owner)
                .map(|(_, id)| id.clone())
                .collect();
            for id in oldest {
                inner.remove(&id);
            }
        }
        if inner.total_bytes + bytes > self.limits.max_total_bytes {
            return Err(full_memory(self.limits.max_total_bytes));
        }
        if inner.conversations.len() >= self.limits.max_conversations {
            return Err(StoreError::Full {
                message: format!(
                    "the server keeps at most {} conversations and is full",
                    self.limits.max_conversations
                ),
            });
        }
        let stored = StoredConversation {
            id: new_id(),
            title: title_of(&conversation),
            updated: now_secs(),
            version: 1,
            conversation,
        };
        inner.total_bytes += bytes;
        let used = inner.tick();
        let empty = stored.conversation.messages().is_empty();
        let expires = now
            + if empty {
                self.limits.ttl.min(super::EMPTY_TTL)
            } else {
                self.limits.ttl
            };
        inner.expiry.insert((expires, stored.id.clone()));
        inner
            .owners
            .entry(owner.to_string())
            .or_default()
            .insert((used, stored.id.clone()));
        inner.conversations.insert(
            stored.id.clone(),
            Entry {
                used,
                owner: owner.to_string(),
                stored: stored.clone(),
                bytes,
                expires,
                empty,
            },
        );
        Ok(stored)
    }

    async fn load(&self, owner: &str, id: &str) -> Result<StoredConversation, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let stored = inner.entry(owner, id, now)?.stored.clone();
        inner.touch(id, now + self.limits.ttl);
        Ok(stored)
    }

    async fn save(
        &self,
        owner: &str,
        id: &str,
        expected_version: u64,
        conversation: SavedConversation,
    ) -> Result<u64, StoreError> {
        let bytes = self.size_of(&conversation)?;
        let now = Instant::now();
        let mut inner = self.lock();
        inner.purge_expired(now);
        let total = inner.total_bytes;
        let entry = inner.entry(owner, id, now)?;
        if entry.stored.version != expected_version {
            return Err(StoreError::Conflict);
        }
        if total - entry.bytes + bytes > self.limits.max_total_bytes {
            return Err(full_memory(self.limits.max_total_bytes));
        }
        entry.stored.version += 1;
        entry.stored.title = title_of(&conversation);
        entry.stored.updated = now_secs();
        entry.empty = conversation.messages().is_empty();
        entry.stored.conversation = conversation;
        let old_bytes = std::mem::replace(&mut entry.bytes, bytes);
        let version = entry.stored.version;
        inner.total_bytes = total - old_bytes + bytes;
        inner.touch(id, now + self.limits.ttl);
        Ok(version)
    }

    async fn list(&self, owner: &str) -> Result<Vec<ConversationSummary>, StoreError> {
        let now = Instant::now();
        let inner = self.lock();
        let Some(owned) = inner.owners.get(owner) else {
            return Ok(Vec::new());
        };
        let mut list: Vec<ConversationSummary> = owned
            .iter()
            .filter_map(|(_, id)| inner.conversations.get(id))
            .filter(|e| e.expires > now)
            .map(|e| ConversationSummary {
                id: e.stored.id.clone(),
                title: e.stored.title.clone(),
                updated: e.stored.updated,
            })
            .collect();
        list.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    async fn delete(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.entry(owner, id, now)?;
        inner.remove(id);
        Ok(())
    }

    async fn lease(&self, owner: &str, id: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.entry(owner, id, now)?;
        if let Some((_, until)) = inner.leases.get(id)
            && *until > now
        {
            return Err(StoreError::Busy);
        }
        let token = new_id();
        inner
            .leases
            .insert(id.to_string(), (token.clone(), now + ttl.min(LONGEST_TTL)));
        Ok(Lease {
            id: id.to_string(),
            token,
        })
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.leases.get_mut(&lease.id) {
            Some((token, until)) if *token == lease.token && *until > now => {
                *until = now + ttl.min(LONGEST_TTL);
                Ok(())
            }
            _ => Err(StoreError::Busy),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .leases
            .get(&lease.id)
            .is_some_and(|(token, _)| *token == lease.token)
        {
            inner.leases.remove(&lease.id);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn spent_today(&self, account: &str) -> Result<f64, StoreError> {
        let inner = self.lock();
        let (day, spending) = &inner.spending;
        Ok(if *day == super::today() {
            spending.get(account).copied().unwrap_or(0.0)
        } else {
            0.0
        })
    }

    async fn add_spending(&self, account: &str, usd: f64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        *inner
            .spending_today()
            .entry(account.to_string())
            .or_default() += usd;
        Ok(())
    }

    async fn reserve_spending(
        &self,
        caps: &[Cap<'_>],
        usd: f64,
    ) -> Result<Option<usize>, StoreError> {
        let mut inner = self.lock();
        let spending = inner.spending_today();
        let over = caps.iter().position(|cap| {
            cap.usd.is_some_and(|limit| {
                spending.get(cap.account).copied().unwrap_or(0.0) + usd > limit
            })
        });
        if over.is_none() {
            for cap in caps {
                *spending.entry(cap.account.to_string()).or_default() += usd;
            }
        }
        Ok(over)
    }

    async fn take_rate(&self, rates: &[Rate<'_>]) -> Result<Option<(usize, Duration)>, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.rates.len() >= inner.rates_purge_at {
            // A bucket whose next arrival is past is full and carries no information: dropping
            // those keeps the map bounded by the keys active within one period, at an amortised
            // constant cost (the next purge waits until the map has doubled).
            inner.rates.retain(|_, tat| *tat > now);
            inner.rates_purge_at = (inner.rates.len() * 2).max(1024);
        }
        let mut next = Vec::with_capacity(rates.len());
        for (index, rate) in rates.iter().enumerate() {
            let (interval, burst) = rate.interval_and_burst_ms();
            let tat = inner.rates.get(rate.key).copied().unwrap_or(now).max(now);
            let ahead = tat - now;
            let burst = Duration::from_millis(burst);
            if ahead > burst {
                return Ok(Some((index, ahead - burst)));
            }
            next.push(tat + Duration::from_millis(interval));
        }
        for (rate, tat) in rates.iter().zip(next) {
            inner.rates.insert(rate.key.to_string(), tat);
        }
        Ok(None)
    }

    async fn acquire_slots(
        &self,
        slots: &[Slots<'_>],
        token: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        for (index, slot) in slots.iter().enumerate() {
            if let Some(held) = inner.slots.get_mut(slot.key) {
                held.retain(|_, until| *until > now);
                if held.len() >= slot.max {
                    return Ok(Some(index));
                }
            } else if slot.max == 0 {
                return Ok(Some(index));
            }
        }
        let until = now + ttl.min(LONGEST_TTL);
        for slot in slots {
            inner
                .slots
                .entry(slot.key.to_string())
                .or_default()
                .insert(token.to_string(), until);
        }
        Ok(None)
    }

    async fn renew_slots(
        &self,
        keys: &[&str],
        token: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let until = Instant::now() + ttl.min(LONGEST_TTL);
        let mut inner = self.lock();
        for key in keys {
            if let Some(held) = inner.slots.get_mut(*key)
                && let Some(expiry) = held.get_mut(token)
            {
                *expiry = until;
            }
        }
        Ok(())
    }

    async fn release_slots(&self, keys: &[&str], token: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for key in keys {
            if let Some(held) = inner.slots.get_mut(*key) {
                held.remove(token);
                if held.is_empty() {
                    // Keys come and go with visitors: an empty one is dropped, so the map holds
                    // only what is in use.
                    inner.slots.remove(*key);
                }
            }
        }
        Ok(())
    }

    async fn ask_cached_reply(
        &self,
        key: &str,
        asker: &str,
        enough: usize,
        ttl: Duration,
    ) -> Result<(usize, Option<String>), StoreError> {
        let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        Ok(replies.ask(key, asker, enough, ttl))
    }

    async fn put_cached_reply(
        &self,
        key: &str,
        reply: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        replies.put(key, reply, ttl);
        Ok(())
    }

    async fn add_cached_question(
        &self,
        partition: &str,
        key: &str,
        embedding: &[f32],
        most: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let question = CachedQuestion {
            key: key.to_string(),
            embedding: embedding.to_vec(),
        };
        let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        replies.add_question(partition, question, most, ttl);
        Ok(())
    }

    async fn cached_reply_count(&self) -> Result<Option<u64>, StoreError> {
        let replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Some(replies.reply_count()))
    }

    async fn cached_questions(&self, partition: &str) -> Result<Vec<CachedQuestion>, StoreError> {
        let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        Ok(replies.questions(partition))
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("conversations", &inner.conversations.len())
            .field("bytes", &inner.total_bytes)
            .field("limits", &self.limits)
            .finish()
    }
}
