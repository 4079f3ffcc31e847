//! `RedisStore`: conversations on Redis (or Valkey, ElastiCache), shared by every server
//! instance.
//!
//! # Key layout
//!
//! With the prefix `P` (default `bedrock-chat`; one per deployment sharing a Redis):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:{c:ID}` | hash | `owner`, `version`, `title`, `updated`, `data` (the conversation as JSON) |
//! | `P:{c:ID}:lease` | string | the token of the turn running on the conversation (`SET NX PX`) |
//! | `P:owner:OWNER` | sorted set | the owner's conversation ids, scored by last change |
//! | `P:all` | sorted set | every conversation id, scored by when it expires (the deployment-wide bound) |
//! | `P:{spend:DAY}:ACCOUNT` | string (a float) | US dollars spent (or reserved) that UTC day by an account |
//! | `P:{limits}:rate:KEY` | string (an integer) | a rate's GCRA state: the next event's arrival, in ms |
//! | `P:{limits}:slots:KEY` | sorted set | the tokens holding a slot, scored by when they lapse |
//!
//! The `{c:ID}` hash tag keeps a conversation's keys in one cluster slot, so the Lua scripts that
//! compare-and-set them are atomic on a cluster too, and no command or pipeline ever spans two
//! slots; `{spend:DAY}` and `{limits}` do the same for the scripts that reserve spending and take
//! rates and slots over several accounts at once. Every key expires, refreshed on use.
//!
//! Run Redis with `maxmemory-policy noeviction`: an evicting policy would silently drop
//! conversations and spending records (and with them the daily caps). The store bounds itself
//! instead: conversations per owner, bytes per conversation, and conversations in all.
//!
//! # Redis Cluster
//!
//! `redis+cluster://host:port,host:port` (or `rediss+cluster://` for TLS, with
//! `user:password@` before the first host applying to every node) connects to a Redis Cluster
//! (or ElastiCache or Valkey in cluster mode) through any of the nodes given; the others are
//! discovered, and the client follows slot moves and failovers.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, IntoConnectionInfo, Script};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{
    CachedQuestion, Cap, ConversationStore, ConversationSummary, Lease, Rate, Slots, StoreError,
    StoredConversation, new_id, now_secs, title_of,
};
use crate::session::SavedConversation;

// The scripts are made once each: a `Script` hashes its source (for `EVALSHA`) when made, work
// that would otherwise be repeated on every request.

/// Replaces the conversation if the owner matches and the version is the expected one, then
/// gives the lease back if `ARGV[7]` is the token that holds it, whatever the save's outcome (an
/// empty token, which no lease has, keeps the lease). Returns the new version, -1 when there is no
/// such conversation for the owner, -2 on a version conflict.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local result
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner ~= ARGV[1] then
  result = -1
else
  local version = tonumber(redis.call('HGET', KEYS[1], 'version'))
  if version ~= tonumber(ARGV[2]) then
    result = -2
  else
    redis.call('HSET', KEYS[1], 'version', version + 1, 'title', ARGV[3], 'updated', ARGV[4], 'data', ARGV[5])
    redis.call('HDEL', KEYS[1], 'empty')
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    result = version + 1
  end
end
if ARGV[7] ~= '' and redis.call('GET', KEYS[2]) == ARGV[7] then redis.call('DEL', KEYS[2]) end
return result
",
    )
});

/// Deletes the conversation and its lease if the owner matches: 1, or 0 when not found.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
",
    )
});

/// Takes the lease if the conversation is the owner's and no lease is held: 1 taken, 0 busy,
/// -1 not found.
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner ~= ARGV[1] then return -1 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0
",
    )
});

/// What a turn does first, in one round trip: takes the lease (as `LEASE`) and, when taken,
/// refreshes the conversation's expiry (not an empty one's: see `EMPTY_TTL`) and returns `{version, title, updated, data}`; -1 when
/// there is no such conversation for the owner, 0 when the lease is held by another turn.
static LEASE_AND_LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner ~= ARGV[1] then return -1 end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 0 end
if redis.call('HEXISTS', KEYS[1], 'empty') == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return redis.call('HMGET', KEYS[1], 'version', 'title', 'updated', 'data')
",
    )
});

/// Extends the lease only for its holder: 1, or 0 when it is no longer held by this token.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// Gives the lease back only for its holder.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Reserves `ARGV[1]` dollars on every key, only if none would then pass its cap (`ARGV[i+1]`,
/// empty for none): 0 when reserved, else the 1-based index of the first key that would pass.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local usd = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local cap = ARGV[i + 1]
  if cap ~= '' and tonumber(redis.call('GET', key) or '0') + usd > tonumber(cap) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('INCRBYFLOAT', key, ARGV[1])
  redis.call('EXPIRE', key, 172800)
end
return 0
",
    )
});

/// A GCRA over every key at once, on Redis's own clock (instances' clocks may differ): `ARGV`
/// holds each key's interval and burst in ms. Returns `{0}` when every key took an event, else
/// `{index, wait_ms}` for the first key without room (nothing taken then).
static RATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local next = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
  if tat - now > burst then return {i, tat - now - burst} end
  next[i] = tat + interval
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, next[i], 'PX', next[i] - now + 1000)
end
return {0}
",
    )
});

/// Milliseconds since the Unix epoch, by this instance's clock.
fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The reply cache's ask: adds `ARGV[1]` to the askers of `KEYS[1]` (a set living `ARGV[3]`
/// ms from its first ask, holding at most `ARGV[2]` + 1 askers) and returns how many others
/// asked, and the reply at `KEYS[2]` (nil when none).
static ASK_REPLY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local member = redis.call('SISMEMBER', KEYS[1], ARGV[1])
local count = redis.call('SCARD', KEYS[1])
if member == 0 and count <= tonumber(ARGV[2]) then
  redis.call('SADD', KEYS[1], ARGV[1])
  if count == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  member = 1
  count = count + 1
end
return {count - member, redis.call('GET', KEYS[2])}
",
    )
});

/// Takes a slot for `ARGV[1]` in every key, for `ARGV[2]` ms, only if none is full (`ARGV[i+2]`
/// is key i's size): 0 when taken, else the 1-based index of the first full key.
static ACQUIRE_SLOTS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2]))
end
return 0
",
    )
});

/// Extends `ARGV[1]`'s slots by `ARGV[2]` ms where it still holds them.
static RENEW_SLOTS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
for _, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) then
    redis.call('PEXPIRE', key, tonumber(ARGV[2]))
  end
end
return 0
",
    )
});

/// Makes room for one more conversation in the deployment-wide index `KEYS[1]` (expired ids
/// dropped first) and adds `ARGV[1]` to it, expiring at `ARGV[3]` ms; 0 when full (`ARGV[2]`).
static ADMIT_CONVERSATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
",
    )
});

/// Refreshes a conversation's expiry to `ARGV[1]` ms, unless it is still empty (it keeps the
/// [`EMPTY_TTL`](super::EMPTY_TTL) it was made with).
static REFRESH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], 'empty') == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0
",
    )
});

/// Conversations on Redis. Cloning is cheap; clones share one connection, which reconnects on
/// its own when Redis comes back.
#[derive(Clone)]
pub struct RedisStore {
    redis: Redis,
    prefix: String,
    ttl: Duration,
    max_per_owner: usize,
    max_bytes: usize,
    max_conversations: usize,
    /// Where Redis is, without credentials, for logs.
    address: String,
}

/// Builds a [`RedisStore`]. Made by [`RedisStore::builder`].
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    ttl: Duration,
    max_per_owner: usize,
    max_bytes: usize,
    max_conversations: usize,
    password: Option<String>,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key, so several deployments can share one Redis. Default is
    /// `bedrock-chat`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a conversation is kept after its last use, at most
    /// [`LONGEST_TTL`](super::LONGEST_TTL). Default is 24 hours.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The most conversations one owner keeps; making one more drops the oldest. Default is 100.
    pub fn max_per_owner(mut self, max: usize) -> Self {
        self.max_per_owner = max;
        self
    }

    /// The largest conversation kept, as JSON bytes. Default is 8 MiB.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// The password (AUTH token) to connect with, in place of the URL's own: the URL can then be
    /// plain configuration and the password a secret. Default is the URL's password, if any.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The most conversations the whole deployment keeps (every instance, every owner); past it
    /// new ones are refused until some expire or are deleted. Default is 100,000.
    pub fn max_conversations(mut self, max: usize) -> Self {
        self.max_conversations = max;
        self
    }

    /// Builds the store. It connects when first used, so a server can start while Redis is
    /// still coming up; a request meanwhile gets [`StoreError::Unavailable`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] for a URL that is not a Redis URL (its password is never
    /// repeated in the message).
    pub fn build(self) -> Result<RedisStore, StoreError> {
        // `rediss://` needs a TLS crypto provider; when a program links more than one (as a
        // workspace's tests may), rustls picks none by itself and the first handshake would
        // panic. The AWS SDK's own is installed unless the program chose one already.
        crate::tls::install_crypto_provider();
        let url = self.url.as_str();
        let address = redact(url);
        let not_redis = |e: redis::RedisError| StoreError::Unavailable {
            message: format!("{address} is not a Redis URL ({})", e.kind_description()),
            source: None,
        };
        let redis =
            match cluster_nodes(url) {
                Some(nodes) => {
                    let mut builder = ClusterClient::builder(nodes);
                    if let Some(password) = &self.password {
                        builder = builder.password(password);
                    }
                    let client = builder
                        .connection_timeout(Duration::from_secs(2))
                        .response_timeout(Duration::from_secs(2))
                        .retries(1)
                        .build()
                        .map_err(not_redis)?;
                    Redis::Cluster {
                        client: Box::new(client),
                        connection: Arc::new(tokio::sync::OnceCell::new()),
                    }
                }
                None => {
                    let mut info = url.into_connection_info().map_err(not_redis)?;
                    if let Some(password) = &self.password {
                        let settings = info.redis_settings().clone().set_password(password);
                        info = info.set_redis_settings(settings);
                    }
                    let client = redis::Client::open(info).map_err(not_redis)?;
                    let config = redis::aio::ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(Duration::from_secs(2)))
                        .set_response_timeout(Some(Duration::from_secs(2)))
                        .set_number_of_retries(1);
                    let connection = ConnectionManager::new_lazy_with_config(client, config)
                        .map_err(|e| StoreError::Unavailable {
                            message: format!(
                                "cannot use the Redis at {address} ({})",
                                e.kind_description()
                            ),
                            source: None,
                        })?;
                    Redis::Single(connection)
                }
            };
        Ok(RedisStore {
            redis,
            prefix: self.prefix,
            ttl: self.ttl.min(super::LONGEST_TTL),
            max_per_owner: self.max_per_owner.max(1),
            max_bytes: self.max_bytes,
            max_conversations: self.max_conversations.max(1),
            address,
        })
    }
}

/// The prefix of every key a [`RedisStore`] writes, unless
/// [`RedisStoreBuilder::prefix`] sets another.
pub const DEFAULT_KEY_PREFIX: &str = "bedrock-chat";

impl RedisStore {
    /// Starts building a store on the Redis at `url` (`redis://[:password@]host:port/db`,
    /// `rediss://` for TLS, `redis+unix:///path`, `redis+cluster://host:port,host:port`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_KEY_PREFIX.to_string(),
            ttl: super::DEFAULT_TTL,
            max_per_owner: super::DEFAULT_MAX_PER_OWNER,
            max_bytes: super::DEFAULT_MAX_CONVERSATION_BYTES,
            max_conversations: super::DEFAULT_MAX_CONVERSATIONS,
            password: None,
        }
    }

    fn conversation_key(&self, id: &str) -> String {
        format!("{}:{{c:{id}}}", self.prefix)
    }

    fn lease_key(&self, id: &str) -> String {
        format!("{}:{{c:{id}}}:lease", self.prefix)
    }

    fn spending_key(&self, account: &str) -> String {
        format!("{}:{{spend:{}}}:{account}", self.prefix, super::today())
    }

    fn rate_key(&self, key: &str) -> String {
        format!("{}:{{limits}}:rate:{key}", self.prefix)
    }

    fn slots_key(&self, key: &str) -> String {
        format!("{}:{{limits}}:slots:{key}", self.prefix)
    }

    /// Every kept reply by when it expires, for counting them.
    fn replies_index_key(&self) -> String {
        format!("{}:{{rc}}:replies", self.prefix)
    }

    /// The semantic reply cache's list of one partition's questions.
    fn questions_key(&self, partition: &str) -> String {
        format!("{}:{{rcq:{partition}}}", self.prefix)
    }

    /// The reply cache's keys of one question: its askers and its reply, in one hash slot.
    fn reply_keys(&self, key: &str) -> (String, String) {
        (
            format!("{}:{{rc:{key}}}:askers", self.prefix),
            format!("{}:{{rc:{key}}}:reply", self.prefix),
        )
    }

    fn all_key(&self) -> String {
        format!("{}:all", self.prefix)
    }

    fn owner_key(&self, owner: &str) -> String {
        format!("{}:owner:{owner}", self.prefix)
    }

    /// A connection: the single server's (which reconnects on its own), or the cluster's,
    /// made on first use and again after a failure to make it.
    async fn connection(&self) -> Result<Connection, StoreError> {
        match &self.redis {
            Redis::Single(connection) => Ok(Connection::Single(connection.clone())),
            Redis::Cluster { client, connection } => connection
                .get_or_try_init(|| client.get_async_connection())
                .await
                .map(|c| Connection::Cluster(c.clone()))
                .map_err(|e| self.unavailable(&e)),
        }
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    fn unavailable(&self, error: &redis::RedisError) -> StoreError {
        StoreError::Unavailable {
            message: format!(
                "the Redis at {} did not answer ({})",
                self.address,
                error.kind_description()
            ),
            source: None,
        }
    }

    /// An owner's list that could not be updated alongside a conversation is only logged: the
    /// conversation's own change has been made (or refused) by then, and reporting a failure
    /// for a save that happened would leave the caller believing a kept turn was lost. The list
    /// only orders and bounds the owner's conversations, and is checked against them when read.
    fn list_not_updated(&self, result: redis::RedisResult<()>) {
        if let Err(error) = result {
            tracing::warn!(
                store = %self.address,
                error = %error.kind_description(),
                "could not update an owner's list of conversations"
            );
        }
    }

    /// The `SAVE` script, with the lease of `token` given back in the same round trip (none for
    /// an empty token), and the owner's list updated alongside.
    async fn save_then_release(
        &self,
        owner: &str,
        id: &str,
        expected_version: u64,
        conversation: &SavedConversation,
        data: String,
        token: &str,
    ) -> Result<u64, StoreError> {
        let updated = now_secs();
        let mut connection = self.connection().await?;
        let mut other = connection.clone();
        let mut invocation = SAVE.key(self.conversation_key(id));
        invocation
            .key(self.lease_key(id))
            .arg(owner)
            .arg(expected_version)
            .arg(title_of(conversation))
            .arg(updated)
            .arg(data)
            .arg(self.ttl_ms())
            .arg(token);
        // The owner's list (another cluster slot, so not in the script) moves the conversation
        // to the top; sent alongside, it shares the round trip on a single server's multiplexed
        // connection. `XX` only moves an id already listed, so a conversation deleted meanwhile
        // is not listed again (it would count against the owner's bound); a save that loses
        // leaves a score a little newer than the conversation's last change, which only orders
        // the list.
        let mut list = redis::cmd("ZADD");
        list.arg(self.owner_key(owner))
            .arg("XX")
            .arg(updated)
            .arg(id);
        let (result, listed) = tokio::join!(
            invocation.invoke_async::<i64>(&mut connection),
            list.query_async::<()>(&mut other),
        );
        let result = result.map_err(|e| self.unavailable(&e))?;
        self.list_not_updated(listed);
        match result {
            -1 => Err(StoreError::NotFound),
            -2 => Err(StoreError::Conflict),
            version => Ok(u64::try_from(version).unwrap_or_default()),
        }
    }

    fn encode(&self, conversation: &SavedConversation) -> Result<String, StoreError> {
        let json = conversation.to_json();
        if json.len() > self.max_bytes {
            return Err(StoreError::TooLarge {
                bytes: json.len(),
                limit: self.max_bytes,
            });
        }
        Ok(json)
    }
}

/// Where the store's Redis is.
#[derive(Clone)]
enum Redis {
    Single(ConnectionManager),
    Cluster {
        client: Box<ClusterClient>,
        connection: Arc<tokio::sync::OnceCell<ClusterConnection>>,
    },
}

/// One connection of either kind, for commands, pipelines and scripts alike.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// The node URLs of a `redis+cluster://` or `rediss+cluster://` URL, or `None` for any other:
/// `redis+cluster://u:p@a:1,b:2/` gives `redis://u:p@a:1/` and `redis://u:p@b:2/`.
fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme {
        "redis+cluster" => "redis",
        "rediss+cluster" => "rediss",
        _ => return None,
    };
    let rest = rest.trim_end_matches('/');
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), rest),
    };
    Some(
        hosts
            .split(',')
            .filter(|host| !host.trim().is_empty())
            .map(|host| format!("{scheme}://{credentials}{}/", host.trim()))
            .collect(),
    )
}

/// A conversation as read from its hash.
fn stored_conversation(
    id: &str,
    version: u64,
    title: Option<String>,
    updated: Option<u64>,
    data: &str,
) -> Result<StoredConversation, StoreError> {
    Ok(StoredConversation {
        id: id.to_string(),
        title: title.unwrap_or_default(),
        updated: updated.unwrap_or_default(),
        version,
        conversation: SavedConversation::from_json(data.as_bytes()).map_err(unreadable)?,
    })
}

/// A stored conversation that does not parse: the store is not in a state to answer.
fn unreadable(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable {
        message: format!("a stored conversation cannot be read: {error}"),
        source: Some(Box::new(error)),
    }
}

/// A lease's length for `SET PX`/`PEXPIRE`: at least a millisecond, at most
/// [`LONGEST_TTL`](super::LONGEST_TTL) (Redis refuses an expiry past what it can count).
fn lease_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.min(super::LONGEST_TTL).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The URL without any credential the Redis URL parser accepts: the `user:secret@` password,
/// and `pass=` / `password=` in the query (as `redis+unix:///path?pass=secret` takes it).
fn redact(url: &str) -> String {
    if let Some(nodes) = cluster_nodes(url) {
        let nodes: Vec<String> = nodes.iter().map(|node| redact(node)).collect();
        return format!("the cluster of {}", nodes.join(", "));
    }
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query().is_some() {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(name, value)| {
                        let secret = matches!(
                            name.to_ascii_lowercase().as_str(),
                            "pass" | "password" | "token" | "secret"
                        );
                        let value = if secret {
                            "***".to_string()
                        } else {
                            value.into_owned()
                        };
                        (name.into_owned(), value)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => "the configured Redis".to_string(),
    }
}

trait Describe {
    fn kind_description(&self) -> String;
}

impl Describe for redis::RedisError {
    /// The kind of failure only: a Redis error's full text can quote the command, and with it a
    /// conversation.
    fn kind_description(&self) -> String {
        if self.is_timeout() {
            "timed out".to_string()
        } else if self.is_connection_refusal() {
            "connection refused".to_string()
        } else if self.is_io_error() || self.is_connection_dropped() {
            "connection failed".to_string()
        } else {
            format!("{:?}", self.kind())
        }
    }
}

#[async_trait]
impl ConversationStore for RedisStore {
    async fn create(
        &self,
        owner: &str,
        conversation: SavedConversation,
    ) -> Result<StoredConversation, StoreError> {
        let data = self.encode(&conversation)?;
        let stored = StoredConversation {
            id: new_id(),
            title: title_of(&conversation),
            updated: now_secs(),
            version: 1,
            conversation,
        };
        let key = self.conversation_key(&stored.id);
        let owner_key = self.owner_key(owner);
        let mut connection = self.connection().await?;
        let empty = stored.conversation.messages().is_empty();
        // An empty conversation is kept an hour at most, however often it is read.
        let ttl = if empty {
            lease_ms(self.ttl.min(super::EMPTY_TTL))
        } else {
            self.ttl_ms()
        };
        // The deployment-wide bound first: a store that is full refuses before writing.
        let admitted: i64 = ADMIT_CONVERSATION
            .key(self.all_key())
            .arg(&stored.id)
            .arg(self.max_conversations)
            .arg(ttl)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if admitted == 0 {
            return Err(StoreError::Full {
                message: format!(
                    "the deployment keeps at most {} conversations and is full",
                    self.max_conversations
                ),
            });
        }
        let updated = stored.updated.to_string();
        let mut fields = vec![
            ("owner", owner),
            ("version", "1"),
            ("title", stored.title.as_str()),
            ("updated", updated.as_str()),
            ("data", data.as_str()),
        ];
        if empty {
            fields.push(("empty", "1"));
        }
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &fields)
            .ignore()
            .pexpire(&key, ttl as i64)
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        // The owner's list: newest last used first; past the bound, the oldest go.
        let _: () = redis::pipe()
            .zadd(&owner_key, &stored.id, stored.updated)
            .ignore()
            .pexpire(&owner_key, self.ttl_ms() as i64)
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let count: usize = connection
            .zcard(&owner_key)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if count > self.max_per_owner {
            let excess = count - self.max_per_owner;
            let oldest: Vec<(String, f64)> = connection
                .zpopmin(&owner_key, excess as isize)
                .await
                .map_err(|e| self.unavailable(&e))?;
            for (id, _) in oldest {
                let _: () = connection
                    .del(&[self.conversation_key(&id), self.lease_key(&id)])
                    .await
                    .map_err(|e| self.unavailable(&e))?;
                let _: () = connection
                    .zrem(self.all_key(), &id)
                    .await
                    .map_err(|e| self.unavailable(&e))?;
            }
        }
        Ok(stored)
    }

    async fn load(&self, owner: &str, id: &str) -> Result<StoredConversation, StoreError> {
        let key = self.conversation_key(id);
        let mut connection = self.connection().await?;
        let (stored_owner, version, title, updated, data): (
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<u64>,
            Option<String>,
        ) = connection
            .hmget(&key, &["owner", "version", "title", "updated", "data"])
            .await
            .map_err(|e| self.unavailable(&e))?;
        if stored_owner.as_deref() != Some(owner) {
            return Err(StoreError::NotFound);
        }
        let (Some(version), Some(data)) = (version, data) else {
            return Err(StoreError::NotFound);
        };
        let stored = stored_conversation(id, version, title, updated, &data)?;
        let ttl = self.ttl_ms() as i64;
        // Two commands, not one pipeline: the keys are in different cluster slots. Sent at
        // once, they still share one round trip on a single server's multiplexed connection.
        let mut other = connection.clone();
        let mut refresh = REFRESH.key(&key);
        refresh.arg(ttl);
        let (conversation_refreshed, owner_refreshed) = tokio::join!(
            refresh.invoke_async::<()>(&mut connection),
            other.pexpire::<_, ()>(self.owner_key(owner), ttl),
        );
        conversation_refreshed
            .and(owner_refreshed)
            .map_err(|e| self.unavailable(&e))?;
        Ok(stored)
    }

    async fn save(
        &self,
        owner: &str,
        id: &str,
        expected_version: u64,
        conversation: SavedConversation,
    ) -> Result<u64, StoreError> {
        let data = self.encode(&conversation)?;
        self.save_then_release(owner, id, expected_version, &conversation, data, "")
            .await
    }

    async fn list(&self, owner: &str) -> Result<Vec<ConversationSummary>, StoreError> {
        let owner_key = self.owner_key(owner);
        let mut connection = self.connection().await?;
        let ids: Vec<String> = connection
            .zrevrange(&owner_key, 0, -1)
            .await
            .map_err(|e| self.unavailable(&e))?;
        // All at once rather than one after another: each key is in its own cluster slot, so
        // not one pipeline, but on a single server's multiplexed connection they still go out
        // together.
        type Row = (Option<String>, Option<String>, Option<u64>);
        let rows: Vec<Row> = futures::future::try_join_all(ids.iter().map(|id| {
            let mut connection = connection.clone();
            let key = self.conversation_key(id);
            async move {
                connection
                    .hmget::<_, _, Row>(key, &["owner", "title", "updated"])
                    .await
            }
        }))
        .await
        .map_err(|e| self.unavailable(&e))?;
        let mut list = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for (id, (stored_owner, title, updated)) in ids.into_iter().zip(rows) {
            if stored_owner.as_deref() == Some(owner) {
                list.push(ConversationSummary {
                    id,
                    title: title.unwrap_or_default(),
                    updated: updated.unwrap_or_default(),
                });
            } else {
                gone.push(id);
            }
        }
        if !gone.is_empty() {
            // Expired or deleted: forget them.
            let _: () = connection
                .zrem(&owner_key, &gone)
                .await
                .map_err(|e| self.unavailable(&e))?;
        }
        list.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    async fn delete(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let deleted: i64 = DELETE
            .key(self.conversation_key(id))
            .key(self.lease_key(id))
            .arg(owner)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        let _: () = connection
            .zrem(self.owner_key(owner), id)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let _: () = connection
            .zrem(self.all_key(), id)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(())
    }

    async fn lease(&self, owner: &str, id: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let token = new_id();
        let mut connection = self.connection().await?;
        let taken: i64 = LEASE
            .key(self.conversation_key(id))
            .key(self.lease_key(id))
            .arg(owner)
            .arg(&token)
            .arg(lease_ms(ttl))
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        match taken {
            1 => Ok(Lease {
                id: id.to_string(),
                token,
            }),
            0 => Err(StoreError::Busy),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn lease_and_load(
        &self,
        owner: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<(Lease, StoredConversation), StoreError> {
        let token = new_id();
        let mut connection = self.connection().await?;
        let mut other = connection.clone();
        let expiry = self.ttl_ms();
        let mut invocation = LEASE_AND_LOAD.key(self.conversation_key(id));
        invocation
            .key(self.lease_key(id))
            .arg(owner)
            .arg(&token)
            .arg(lease_ms(ttl))
            .arg(expiry);
        // The owner's list is in another cluster slot, so not in the script; sent alongside, it
        // shares the round trip on a single server's multiplexed connection. Refreshing the
        // list's expiry when the lease turns out to be busy or the id someone else's is
        // harmless: the list is checked against each conversation's owner when read.
        let owner_key = self.owner_key(owner);
        let mut third = connection.clone();
        // The deployment-wide index is scored by expiry: a conversation in use stays counted.
        // `XX` never adds an id (one of another owner's, or a deleted one) that is not there.
        let mut counted = redis::cmd("ZADD");
        counted
            .arg(self.all_key())
            .arg("XX")
            .arg(now_ms().saturating_add(expiry))
            .arg(id);
        let (taken, refreshed, recounted) = tokio::join!(
            invocation.invoke_async::<redis::Value>(&mut connection),
            other.pexpire::<_, ()>(&owner_key, expiry as i64),
            counted.query_async::<()>(&mut third),
        );
        let taken = taken.map_err(|e| self.unavailable(&e))?;
        self.list_not_updated(refreshed.and(recounted));
        let fields = match taken {
            redis::Value::Int(0) => return Err(StoreError::Busy),
            redis::Value::Int(_) => return Err(StoreError::NotFound),
            fields => fields,
        };
        let lease = Lease {
            id: id.to_string(),
            token,
        };
        let read = redis::from_redis_value::<(u64, Option<String>, Option<u64>, String)>(fields)
            .map_err(unreadable)
            .and_then(|(version, title, updated, data)| {
                stored_conversation(id, version, title, updated, &data)
            });
        match read {
            Ok(stored) => Ok((lease, stored)),
            Err(error) => {
                let _ = self.release(&lease).await;
                Err(error)
            }
        }
    }

    async fn save_and_release(
        &self,
        lease: &Lease,
        owner: &str,
        expected_version: u64,
        conversation: SavedConversation,
    ) -> Result<u64, StoreError> {
        let data = match self.encode(&conversation) {
            Ok(data) => data,
            Err(error) => {
                let _ = self.release(lease).await;
                return Err(error);
            }
        };
        self.save_then_release(
            owner,
            &lease.id,
            expected_version,
            &conversation,
            data,
            &lease.token,
        )
        .await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let renewed: i64 = RENEW
            .key(self.lease_key(&lease.id))
            .arg(&lease.token)
            .arg(lease_ms(ttl))
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if renewed == 1 {
            Ok(())
        } else {
            Err(StoreError::Busy)
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let _: i64 = RELEASE
            .key(self.lease_key(&lease.id))
            .arg(&lease.token)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(())
    }

    async fn spent_today(&self, account: &str) -> Result<f64, StoreError> {
        let mut connection = self.connection().await?;
        let spent: Option<f64> = connection
            .get(self.spending_key(account))
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(spent.unwrap_or(0.0))
    }

    async fn add_spending(&self, account: &str, usd: f64) -> Result<(), StoreError> {
        let key = self.spending_key(account);
        let mut connection = self.connection().await?;
        // Kept two days, so the key of a day outlives it in every time zone's reading.
        let _: () = redis::pipe()
            .atomic()
            .cmd("INCRBYFLOAT")
            .arg(&key)
            .arg(usd)
            .ignore()
            .expire(&key, 2 * 86_400)
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(())
    }

    async fn reserve_spending(
        &self,
        caps: &[Cap<'_>],
        usd: f64,
    ) -> Result<Option<usize>, StoreError> {
        if caps.is_empty() {
            return Ok(None);
        }
        let mut invocation = RESERVE.prepare_invoke();
        invocation.arg(usd);
        for cap in caps {
            invocation.key(self.spending_key(cap.account));
            match cap.usd {
                Some(limit) => invocation.arg(limit),
                None => invocation.arg(""),
            };
        }
        let mut connection = self.connection().await?;
        let over: usize = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(over.checked_sub(1))
    }

    async fn take_rate(&self, rates: &[Rate<'_>]) -> Result<Option<(usize, Duration)>, StoreError> {
        if rates.is_empty() {
            return Ok(None);
        }
        let mut invocation = RATE.prepare_invoke();
        for rate in rates {
            let (interval, burst) = rate.interval_and_burst_ms();
            invocation
                .key(self.rate_key(rate.key))
                .arg(interval)
                .arg(burst);
        }
        let mut connection = self.connection().await?;
        let answer: Vec<u64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(match answer.as_slice() {
            [index, wait, ..] if *index > 0 => Some((
                usize::try_from(*index - 1).unwrap_or_default(),
                Duration::from_millis(*wait),
            )),
            _ => None,
        })
    }

    async fn acquire_slots(
        &self,
        slots: &[Slots<'_>],
        token: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, StoreError> {
        if slots.is_empty() {
            return Ok(None);
        }
        let mut invocation = ACQUIRE_SLOTS.prepare_invoke();
        invocation.arg(token).arg(lease_ms(ttl));
        for slot in slots {
            invocation.key(self.slots_key(slot.key)).arg(slot.max);
        }
        let mut connection = self.connection().await?;
        let full: usize = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(full.checked_sub(1))
    }

    async fn renew_slots(
        &self,
        keys: &[&str],
        token: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut invocation = RENEW_SLOTS.prepare_invoke();
        invocation.arg(token).arg(lease_ms(ttl));
        for key in keys {
            invocation.key(self.slots_key(key));
        }
        let mut connection = self.connection().await?;
        let _: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(())
    }

    async fn release_slots(&self, keys: &[&str], token: &str) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.zrem(self.slots_key(key), token).ignore();
        }
        let mut connection = self.connection().await?;
        let _: () = pipe
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(())
    }

    async fn ask_cached_reply(
        &self,
        key: &str,
        asker: &str,
        enough: usize,
        ttl: Duration,
    ) -> Result<(usize, Option<String>), StoreError> {
        let (askers, reply) = self.reply_keys(key);
        let mut connection = self.connection().await?;
        let (others, reply): (usize, Option<String>) = ASK_REPLY
            .key(askers)
            .key(reply)
            .arg(asker)
            .arg(enough)
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok((others, reply))
    }

    async fn put_cached_reply(
        &self,
        key: &str,
        reply: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (_, reply_key) = self.reply_keys(key);
        let mut connection = self.connection().await?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // NX: the first answer stays; PX: it lives its TTL, however often it is read.
        let stored: Option<String> = redis::cmd("SET")
            .arg(&reply_key)
            .arg(reply)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if stored.is_some() {
            // Indexed by when it expires, so the count needs no scan of the keyspace.
            let expires = now_millis().saturating_add(ttl_ms);
            let indexed: redis::RedisResult<()> = connection
                .zadd(self.replies_index_key(), &reply_key, expires)
                .await;
            if let Err(error) = indexed {
                tracing::warn!(error = %error.kind_description(), "could not index a cached reply");
            }
        }
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
        // `KEY BASE64(f32 little-endian...)`: a quarter of the bytes of JSON numbers, read
        // whole on every semantic lookup.
        let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
        let item = format!("{key} {}", BASE64.encode(bytes));
        let list = self.questions_key(partition);
        let mut connection = self.connection().await?;
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        redis::pipe()
            .atomic()
            .lpush(&list, item)
            .ignore()
            .ltrim(
                &list,
                0,
                isize::try_from(most.max(1)).unwrap_or(isize::MAX) - 1,
            )
            .ignore()
            .pexpire(&list, i64::try_from(ttl).unwrap_or(i64::MAX))
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))
    }

    async fn cached_reply_count(&self) -> Result<Option<u64>, StoreError> {
        let index = self.replies_index_key();
        let mut connection = self.connection().await?;
        let (count,): (u64,) = redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(now_millis())
            .ignore()
            .zcard(&index)
            .query_async(&mut connection)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(Some(count))
    }

    async fn cached_questions(&self, partition: &str) -> Result<Vec<CachedQuestion>, StoreError> {
        let mut connection = self.connection().await?;
        let items: Vec<String> = connection
            .lrange(self.questions_key(partition), 0, -1)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let (key, encoded) = item.split_once(' ')?;
                let bytes = BASE64.decode(encoded).ok()?;
                let embedding = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Some(CachedQuestion {
                    key: key.to_string(),
                    embedding,
                })
            })
            .collect())
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A tokio test: a store's connection is made (lazily) on a runtime.
    #[tokio::test]
    async fn passwords_never_reach_messages() {
        let redacted = redact("redis://user:hunter2@cache.internal:6380/2");
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("cache.internal:6380"));
        let error = RedisStore::builder("nonsense://:hunter2@x")
            .build()
            .unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        for url in [
            "redis+unix:///run/redis.sock?db=0&pass=hunter2",
            "redis+unix:///run/redis.sock?password=hunter2&db=1",
            "redis://:hunter2@cache.internal:6379/0",
            "redis://user:hunter2@cache.internal:6379/0?password=hunter2",
        ] {
            let redacted = redact(url);
            assert!(!redacted.contains("hunter2"), "{url} -> {redacted}");
            let store = RedisStore::builder(url).build().unwrap();
            let shown = format!("{store:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn cluster_urls_name_every_node_and_hide_the_password() {
        assert_eq!(
            cluster_nodes("redis+cluster://u:hunter2@a:7000,b:7001/").unwrap(),
            ["redis://u:hunter2@a:7000/", "redis://u:hunter2@b:7001/"]
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://a:7000").unwrap(),
            ["rediss://a:7000/"]
        );
        assert!(cluster_nodes("redis://a:6379").is_none());
        let redacted = redact("redis+cluster://u:hunter2@a:7000,b:7001");
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(
            redacted.contains("a:7000") && redacted.contains("b:7001"),
            "{redacted}"
        );
    }
}
