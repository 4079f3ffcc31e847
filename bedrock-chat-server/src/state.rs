//! The one state every handler shares: the model client, the session settings, the store, the
//! limits and the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use bedrock_chat::{
    ChatSession, ConversationStore, Embedder, ModelClient, ReplyCache, SessionSettings,
};
use tokio_util::sync::CancellationToken;

use crate::api_keys::ApiKeys;
use crate::client_addr::TrustedProxies;
use crate::hosts::AllowedHosts;
use crate::limits::Limits;

/// How the server behaves, apart from the chat settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// When set, every API request must carry `Authorization: Bearer TOKEN`. Default is none.
    pub auth_token: Option<String>,
    /// Mark the client cookie `Secure` (the server is behind HTTPS). Default is false.
    pub secure_cookies: bool,
    /// How long running replies may go on after shutdown begins. Default is 30 seconds.
    pub shutdown_grace: Duration,
    /// The limits.
    pub limits: Limits,
    /// Serve the OpenAI-compatible endpoint (`/v1/chat/completions`, `/v1/models`). Default is
    /// off.
    pub openai_api: bool,
    /// Models besides the server's own that a visitor may pick in the page and the OpenAI
    /// endpoint may call. Default is none.
    pub allowed_models: Vec<String>,
    /// How long a running turn's lease on its conversation lasts without renewal (it is renewed
    /// every third of this while the turn runs): an instance that dies mid-turn blocks the
    /// conversation this long at most. Default is 30 seconds.
    pub turn_lease: Duration,
    /// The host names the server answers to (the defence against DNS rebinding). Default is
    /// the loopback names only.
    pub allowed_hosts: AllowedHosts,
    /// The proxies in front of the server whose `X-Forwarded-For` says who the client is.
    /// Default is none: the peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// `/metrics` is served on an address of its own, not with the API. Default is false: it
    /// is served with the API, behind the token when there is one, and otherwise only to
    /// clients on loopback.
    pub separate_metrics: bool,
    /// Named API keys for `/v1`, each limited and charged apart. Default is none.
    pub api_keys: ApiKeys,
    /// Answers to frequently asked questions, kept on the conversation store. Default is off.
    pub reply_cache: Option<ReplyCacheConfig>,
    /// A line the page shows above the chat, to every visitor (a demo's "replies are canned",
    /// an operator's notice). Plain text. Default is none.
    pub notice: Option<String>,
    /// Tools from MCP servers the operator configured, offered to the model in the browser
    /// chat (never on `/v1`, whose callers run their own tools). Default is none.
    pub tools: Option<ServerTools>,
    /// A knowledge base every browser question is grounded in, its sources shown under the
    /// reply (never on `/v1`, whose callers send their own context). Default is none.
    pub knowledge_base: Option<ServerKnowledgeBase>,
}

/// The operator's knowledge base: where passages come from, and what they may add to a turn.
#[derive(Clone)]
pub struct ServerKnowledgeBase {
    /// Finds the passages (a [`bedrock_chat::KnowledgeBase`], or a search of the operator's).
    pub retriever: Arc<dyn bedrock_chat::Retriever>,
    /// The most bytes of passages a turn may get, reserved from the visitor's budget before
    /// the turn as its input: the search's result count times the largest passage.
    pub reserve_bytes: usize,
}

impl std::fmt::Debug for ServerKnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKnowledgeBase")
            .field("reserve_bytes", &self.reserve_bytes)
            .finish_non_exhaustive()
    }
}

/// The operator's MCP tools: which run, and nothing a visitor can choose.
#[derive(Clone, Debug)]
pub struct ServerTools {
    /// The servers.
    pub mcp: bedrock_chat::McpTools,
    /// Tools the server does not mark read-only that may run all the same (nobody is asked
    /// in a browser chat: others are not offered). Default is none.
    pub allowed: Vec<String>,
    /// Every tool runs, read-only or not. Default is false.
    pub allow_all: bool,
}

impl ServerTools {
    /// Only read-only tools of `mcp` run.
    pub fn new(mcp: bedrock_chat::McpTools) -> Self {
        ServerTools {
            mcp,
            allowed: Vec::new(),
            allow_all: false,
        }
    }

    /// The tools offered now: read-only, or allowed.
    pub(crate) fn offered(&self) -> Vec<bedrock_chat::McpTool> {
        self.mcp
            .tools()
            .into_iter()
            .filter(|t| {
                self.allow_all || t.is_read_only() || self.allowed.iter().any(|a| a == t.name())
            })
            .collect()
    }
}

/// How the server's reply cache serves answers (see [`bedrock_chat::ReplyCache`]).
#[derive(Clone)]
pub struct ReplyCacheConfig {
    /// How long an answer is kept. Default is 24 hours.
    pub ttl: Duration,
    /// How many other visitors must have asked before an answer is served. Default is 2.
    pub min_askers: usize,
    /// Matching first questions by meaning too, with this embedder and cosine threshold.
    /// Default is exact matching only.
    pub semantic: Option<(Arc<dyn Embedder>, f32)>,
}

impl std::fmt::Debug for ReplyCacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyCacheConfig")
            .field("ttl", &self.ttl)
            .field("min_askers", &self.min_askers)
            .field(
                "semantic",
                &self.semantic.as_ref().map(|(_, threshold)| threshold),
            )
            .finish()
    }
}

impl Default for ReplyCacheConfig {
    fn default() -> Self {
        ReplyCacheConfig {
            ttl: bedrock_chat::DEFAULT_REPLY_TTL,
            min_askers: bedrock_chat::DEFAULT_MIN_ASKERS,
            semantic: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth_token: None,
            secure_cookies: false,
            shutdown_grace: crate::DEFAULT_SHUTDOWN_GRACE,
            limits: Limits::default(),
            openai_api: false,
            allowed_models: Vec::new(),
            turn_lease: Duration::from_secs(30),
            allowed_hosts: AllowedHosts::default(),
            trusted_proxies: TrustedProxies::default(),
            separate_metrics: false,
            api_keys: ApiKeys::default(),
            reply_cache: None,
            notice: None,
            tools: None,
            knowledge_base: None,
        }
    }
}

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    client: Arc<dyn ModelClient>,
    settings: SessionSettings,
    store: Arc<dyn ConversationStore>,
    config: ServerConfig,
    reply_cache: Option<ReplyCache>,
    /// Cancelled when running turns must end (the shutdown grace is over).
    stop_turns: CancellationToken,
}

impl AppState {
    /// A state for `client`, sessions with `settings`, conversations in `store`.
    pub fn new(
        client: impl ModelClient + 'static,
        settings: SessionSettings,
        store: impl ConversationStore + 'static,
        config: ServerConfig,
    ) -> Self {
        Self::with_shared_store(client, settings, Arc::new(store), config)
    }

    /// As [`new`](Self::new), with a store chosen at run time (memory or Redis).
    pub fn with_shared_store(
        client: impl ModelClient + 'static,
        settings: SessionSettings,
        store: Arc<dyn ConversationStore>,
        config: ServerConfig,
    ) -> Self {
        let store: Arc<dyn ConversationStore> = Arc::new(crate::telemetry::MeteredStore(store));
        let reply_cache = config.reply_cache.as_ref().map(|cache| {
            let reply_cache = ReplyCache::new(store.clone())
                .ttl(cache.ttl)
                .min_askers(cache.min_askers);
            match &cache.semantic {
                Some((embedder, threshold)) => reply_cache.semantic(embedder.clone(), *threshold),
                None => reply_cache,
            }
        });
        AppState {
            inner: Arc::new(Inner {
                client: Arc::new(client),
                settings,
                store,
                stop_turns: CancellationToken::new(),
                config,
                reply_cache,
            }),
        }
    }

    /// A session with the server's settings and no conversation yet.
    ///
    /// # Errors
    ///
    /// The settings' error, if they are out of range.
    pub fn new_session(&self) -> bedrock_chat::Result<ChatSession> {
        ChatSession::builder(self.inner.client.clone())
            .settings(self.inner.settings.clone())
            .build()
    }

    /// The reply cache, when the server has one.
    pub fn reply_cache(&self) -> Option<&ReplyCache> {
        self.inner.reply_cache.as_ref()
    }

    /// The model client every session shares.
    pub fn client(&self) -> Arc<dyn ModelClient> {
        self.inner.client.clone()
    }

    /// The models a visitor or API caller may name: the server's own first, then the others
    /// the operator offers.
    pub fn offered_models(&self) -> Vec<String> {
        let mut ids = vec![self.inner.settings.model_id.clone()];
        for model in &self.inner.config.allowed_models {
            if !ids.contains(model) {
                ids.push(model.clone());
            }
        }
        ids
    }

    /// The server's session settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.inner.settings
    }

    /// The conversation store.
    pub fn store(&self) -> &dyn ConversationStore {
        self.inner.store.as_ref()
    }

    /// How the server behaves.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The daily cap of a visitor (`client:ID`, or `key:NAME` with the key's own cap).
    pub(crate) fn visitor_cap(&self, visitor: &str) -> Option<f64> {
        self.api_key(visitor).and_then(|key| key.daily_usd).or(self
            .inner
            .config
            .limits
            .client_daily_usd)
    }

    /// The turns a minute of a visitor (`client:ID`, or `key:NAME` with the key's own rate).
    pub(crate) fn visitor_rate(&self, visitor: &str) -> u32 {
        self.api_key(visitor)
            .and_then(|key| key.turns_per_minute)
            .unwrap_or(self.inner.config.limits.turns_per_minute)
    }

    fn api_key(&self, visitor: &str) -> Option<&crate::api_keys::ApiKey> {
        let name = visitor.strip_prefix("key:")?;
        self.inner.config.api_keys.named(name)
    }

    /// Cancelled when running turns must stop.
    pub fn stop_turns(&self) -> &CancellationToken {
        &self.inner.stop_turns
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("model", &self.inner.settings.model_id)
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}
