//! A cache of replies to frequently asked questions, in front of any [`ModelClient`]: the
//! original chatbot's planned "caching for frequently asked questions".
//!
//! - **Exact.** The key is a SHA-256 of the whole request (model, system prompt, inference
//!   settings, tools and tool choice, guardrail, thinking, cache points, and every message with
//!   its attachments' bytes) under the cache's namespace: nothing else can make two requests
//!   share an answer, and a key is 64 characters however large the request.
//! - **Frequently asked, not once asked.** An answer is served to an asker only when at least
//!   [`min_askers`](ReplyCache::min_askers) *other* askers sent the same request, so a question
//!   asked once (perhaps with something personal in it) is never shown to anyone else. One
//!   asker asking again counts once.
//! - **Only ordinary replies are kept**: ended at the end of the turn or at a stop sequence,
//!   text only, at most [`MAX_CACHED_REPLY_BYTES`]; never a reply that asked for a tool, ran
//!   out of tokens, was stopped by a guardrail or the context window, failed, or was cut off
//!   or cancelled part-way (a streamed reply is kept only once its last event has arrived).
//! - **Honest.** A hit costs nothing and says so: its usage is zero, and
//!   [`CachedClient::lookup`] tells the caller it was a hit and what it saved.
//!
//! The entries live in a [`ConversationStore`] ([`MemoryStore`](crate::MemoryStore): bounded
//! in bytes, least recently used first; [`RedisStore`](crate::RedisStore): shared by every
//! instance, under the deployment's prefix, with a TTL). A store that fails is a miss, never a
//! failed turn.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::client::ModelClient;
use crate::embedder::{Embedder, cosine};
use crate::error::Result;
use crate::event_stream::{EventStream, StreamEvent};
use crate::message::{ContentBlock, Message};
use crate::request::ChatRequest;
use crate::response::{ChatResponse, TokenUsage};
use crate::stop_reason::StopReason;
use crate::store::ConversationStore;

/// The largest reply kept, in bytes of text: an answer to a frequently asked question is short,
/// and a bound keeps one entry from filling a store.
pub const MAX_CACHED_REPLY_BYTES: usize = 64 * 1024;

/// How many other askers must have sent a request before its answer is served, unless
/// [`ReplyCache::min_askers`] says otherwise.
pub const DEFAULT_MIN_ASKERS: usize = 2;

/// How long an answer is kept, unless [`ReplyCache::ttl`] says otherwise.
pub const DEFAULT_REPLY_TTL: Duration = Duration::from_secs(24 * 3600);

/// What is kept for a key: the answer, and what it cost when the model wrote it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedReply {
    /// The answer's text.
    pub text: String,
    /// Why the model stopped ([`StopReason::EndTurn`] or [`StopReason::StopSequence`]).
    pub stop_reason: StopReason,
    /// What the reply was billed when the model wrote it: what a hit saves.
    pub usage: TokenUsage,
    /// The question it answers (the request's last message), kept with it for whoever reads
    /// the store.
    pub question: String,
}

/// What the cache did for the last call of a [`CachedClient`].
#[derive(Clone, Debug, PartialEq)]
pub enum CacheLookup {
    /// Answered from the cache: nothing reached the model.
    Hit {
        /// What the answer was billed when the model wrote it, which this call did not pay.
        saved: TokenUsage,
    },
    /// Asked the model (the answer may now be kept for others).
    Miss,
}

impl CacheLookup {
    /// Whether the call was answered from the cache.
    pub fn is_hit(&self) -> bool {
        matches!(self, CacheLookup::Hit { .. })
    }
}

/// The cache: where entries live and the rules for serving them. Cheap to clone.
///
/// ```
/// use std::sync::Arc;
/// use bedrock_chat::{MemoryStore, ReplyCache};
///
/// let cache = ReplyCache::new(Arc::new(MemoryStore::new()))
///     .min_askers(2)
///     .namespace("my-app");
/// # let _ = cache;
/// ```
#[derive(Clone)]
pub struct ReplyCache {
    store: Arc<dyn ConversationStore>,
    min_askers: usize,
    ttl: Duration,
    namespace: String,
    semantic: Option<Semantic>,
}

/// Matching first questions by meaning.
#[derive(Clone)]
struct Semantic {
    embedder: Arc<dyn Embedder>,
    threshold: f32,
    most: usize,
}

/// The cosine two first questions must reach to share an answer, unless
/// [`ReplyCache::semantic`] says otherwise: high, since a wrong answer served as right is worse
/// than a paid call.
pub const DEFAULT_SIMILARITY_THRESHOLD: f32 = 0.92;

/// How many first questions a partition (requests alike in all but their question) remembers
/// for matching by meaning, unless [`ReplyCache::max_questions`] says otherwise.
pub const DEFAULT_MAX_QUESTIONS: usize = 500;

impl std::fmt::Debug for ReplyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyCache")
            .field("min_askers", &self.min_askers)
            .field("ttl", &self.ttl)
            .field("namespace", &self.namespace)
            .field("semantic", &self.semantic.as_ref().map(|s| s.threshold))
            .finish_non_exhaustive()
    }
}

impl ReplyCache {
    /// A cache whose entries live in `store`.
    pub fn new(store: Arc<dyn ConversationStore>) -> Self {
        ReplyCache {
            store,
            min_askers: DEFAULT_MIN_ASKERS,
            ttl: DEFAULT_REPLY_TTL,
            namespace: String::new(),
            semantic: None,
        }
    }

    /// Also matches a conversation's *first* question by meaning, within its partition (the
    /// same model, system prompt, settings and tools): a question whose embedding (from
    /// `embedder`) has a cosine of at least `threshold` with one answered before gets that
    /// answer, under the same rule of other askers. Questions with attachments, tool results or
    /// history are matched exactly or not at all. Default is exact matching only.
    #[must_use]
    pub fn semantic(mut self, embedder: Arc<dyn Embedder>, threshold: f32) -> Self {
        self.semantic = Some(Semantic {
            embedder,
            threshold,
            most: DEFAULT_MAX_QUESTIONS,
        });
        self
    }

    /// How many first questions a partition remembers for matching by meaning, the newest
    /// kept. Default is 500.
    #[must_use]
    pub fn max_questions(mut self, most: usize) -> Self {
        if let Some(semantic) = &mut self.semantic {
            semantic.most = most.max(1);
        }
        self
    }

    /// How many *other* askers must have sent the same request before its answer is served
    /// (0 serves anyone's answer to anyone). Default is 2.
    #[must_use]
    pub fn min_askers(mut self, askers: usize) -> Self {
        self.min_askers = askers;
        self
    }

    /// How long an answer is kept after the model wrote it. Default is 24 hours.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// A namespace of the cache's own inside the store: caches of different namespaces never
    /// share an answer (tenants, API keys). Default is none.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The key of `request`: a SHA-256 of the namespace and of everything in the request, as
    /// hex.
    pub fn key(&self, request: &ChatRequest) -> String {
        let mut hasher = HashWriter(Sha256::new());
        hasher.0.update(self.namespace.as_bytes());
        hasher.0.update([0]);
        // Streamed into the hash: attachments are never copied into a key.
        if serde_json::to_writer(&mut hasher, request).is_err() {
            // Unreachable for a request that serializes (every one does); a distinct key
            // per call then makes it a miss rather than a shared answer.
            hasher.0.update(crate::store::new_id().as_bytes());
        }
        let digest = hasher.0.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The partition of `request` for matching by meaning: a key of everything but its
    /// messages.
    fn partition(&self, request: &ChatRequest) -> String {
        let mut bare = request.clone();
        bare.take_messages();
        format!("p{}", self.key(&bare))
    }

    /// A client for one asker (a visitor, an API key's end user): answers from the cache when
    /// the rules allow, asks `inner` otherwise and keeps what may be kept.
    pub fn client(&self, inner: Arc<dyn ModelClient>, asker: impl Into<String>) -> CachedClient {
        CachedClient {
            inner,
            cache: self.clone(),
            asker: asker.into(),
            read: true,
            write: true,
            last: Arc::new(Mutex::new(None)),
            skip_next_read: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Records the ask and gives back the answer if it may be served to this asker.
    async fn ask(&self, key: &str, asker: &str) -> Option<CachedReply> {
        match self
            .store
            .ask_cached_reply(key, asker, self.min_askers, self.ttl)
            .await
        {
            Ok((others, Some(reply))) if others >= self.min_askers => {
                serde_json::from_str(&reply).ok()
            }
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, "the reply cache did not answer; asking the model");
                None
            }
        }
    }

    async fn keep(&self, key: &str, reply: &CachedReply, question: Option<&Asked>) {
        let Ok(json) = serde_json::to_string(reply) else {
            return;
        };
        if let Err(error) = self.store.put_cached_reply(key, &json, self.ttl).await {
            tracing::warn!(%error, "could not keep a reply in the cache");
            return;
        }
        if let (Some(asked), Some(semantic)) = (question, &self.semantic) {
            let added = self
                .store
                .add_cached_question(
                    &asked.partition,
                    key,
                    &asked.embedding,
                    semantic.most,
                    self.ttl,
                )
                .await;
            if let Err(error) = added {
                tracing::warn!(%error, "could not remember a question for the reply cache");
            }
        }
    }

    /// The answer a first question may share by meaning, when semantic matching is on: the
    /// embedding of the question (to remember it once answered) and the reply of the closest
    /// question answered before, if close enough and asked by enough others.
    async fn by_meaning(
        &self,
        request: &ChatRequest,
        key: &str,
        asker: &str,
    ) -> (Option<Asked>, Option<CachedReply>) {
        let Some(semantic) = &self.semantic else {
            return (None, None);
        };
        let [only] = request.messages() else {
            return (None, None);
        };
        let text_only = only
            .content()
            .iter()
            .all(|block| matches!(block, ContentBlock::Text(_)));
        if !text_only {
            return (None, None);
        }
        let embedding = match semantic.embedder.embed(&only.text()).await {
            Ok(embedding) => embedding,
            Err(error) => {
                tracing::warn!(%error, "could not embed a question; matching it exactly");
                return (None, None);
            }
        };
        let partition = self.partition(request);
        let questions = match self.store.cached_questions(&partition).await {
            Ok(questions) => questions,
            Err(error) => {
                tracing::warn!(%error, "the reply cache did not answer; asking the model");
                Vec::new()
            }
        };
        let best = questions
            .iter()
            .filter(|q| q.key != key)
            .map(|q| (cosine(&q.embedding, &embedding), q))
            .filter(|(similarity, _)| *similarity >= semantic.threshold)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let reply = match best {
            Some((_, question)) => self.ask(&question.key, asker).await,
            None => None,
        };
        (
            Some(Asked {
                partition,
                embedding,
            }),
            reply,
        )
    }
}

/// A first question's place for matching by meaning, kept with it once it is answered.
struct Asked {
    partition: String,
    embedding: Vec<f32>,
}

/// Feeds `serde_json`'s output straight into the hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A [`ModelClient`] for one asker, in front of another; made by [`ReplyCache::client`].
#[derive(Clone)]
pub struct CachedClient {
    inner: Arc<dyn ModelClient>,
    cache: ReplyCache,
    asker: String,
    read: bool,
    write: bool,
    last: Arc<Mutex<Option<CacheLookup>>>,
    /// Set by [`CachedClient::ask_model_next`]; shared by clones, as `last` is.
    skip_next_read: Arc<AtomicBool>,
}

impl std::fmt::Debug for CachedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedClient")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl CachedClient {
    /// Whether a kept answer may be served (HTTP's `Cache-Control: no-cache` says no; the ask
    /// still counts). Default is true.
    #[must_use]
    pub fn reading(mut self, read: bool) -> Self {
        self.read = read;
        self
    }

    /// Whether the model's answer may be kept (HTTP's `Cache-Control: no-store` says no).
    /// Default is true.
    #[must_use]
    pub fn writing(mut self, write: bool) -> Self {
        self.write = write;
        self
    }

    /// What the cache did for the last call, if there was one.
    pub fn lookup(&self) -> Option<CacheLookup> {
        self.last.lock().ok().and_then(|last| last.clone())
    }

    /// Makes the next call ask the model even when an answer is kept (it still counts as an
    /// ask, and its answer may be kept): what Regenerate or `/retry` need from a client a
    /// session already holds. Clones share it.
    pub fn ask_model_next(&self) {
        self.skip_next_read.store(true, Ordering::Relaxed);
    }

    /// What the cache did for the last call, forgetting it: a program that asks after each
    /// turn (a REPL's `/usage`) never reads an earlier turn's answer for a turn that made no
    /// call.
    pub fn take_lookup(&self) -> Option<CacheLookup> {
        self.last.lock().ok().and_then(|mut last| last.take())
    }

    fn record(&self, lookup: CacheLookup) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(lookup);
        }
    }

    /// The answer this asker may be served for `request` (by its key, else by meaning), and
    /// the question's place for matching by meaning, to remember once answered.
    async fn hit(&self, request: &ChatRequest, key: &str) -> (Option<CachedReply>, Option<Asked>) {
        let mut reply = self.cache.ask(key, &self.asker).await;
        let mut asked = None;
        if reply.is_none() {
            let (question, by_meaning) = self.cache.by_meaning(request, key, &self.asker).await;
            asked = question;
            reply = by_meaning;
        }
        let skip = self.skip_next_read.swap(false, Ordering::Relaxed);
        let reply = reply.filter(|_| self.read && !skip);
        self.record(match &reply {
            Some(reply) => CacheLookup::Hit { saved: reply.usage },
            None => CacheLookup::Miss,
        });
        (reply, asked)
    }
}

/// The question a request asks: its last message's text.
fn question_of(request: &ChatRequest) -> String {
    request
        .messages()
        .last()
        .map(Message::text)
        .unwrap_or_default()
}

/// Whether a reply may be kept: ended normally, text only, not too long.
fn keepable(stop: &StopReason, message: &Message) -> Option<String> {
    let normal = matches!(stop, StopReason::EndTurn | StopReason::StopSequence);
    let text_only = message
        .content()
        .iter()
        .all(|block| matches!(block, ContentBlock::Text(_)));
    let text = message.text();
    (normal && text_only && !text.trim().is_empty() && text.len() <= MAX_CACHED_REPLY_BYTES)
        .then_some(text)
}

/// A cached answer as a stream: its text in pieces, at once, then its end and a usage of zero.
fn replay(reply: CachedReply) -> EventStream {
    const PIECE: usize = 64;
    let mut events = Vec::new();
    let mut rest = reply.text.as_str();
    while !rest.is_empty() {
        let mut end = rest.len().min(PIECE);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        events.push(Ok(StreamEvent::TextDelta(rest[..end].to_string())));
        rest = &rest[end..];
    }
    events.push(Ok(StreamEvent::MessageStop(reply.stop_reason)));
    events.push(Ok(StreamEvent::Metadata {
        usage: TokenUsage::default(),
        latency: None,
    }));
    EventStream::new(futures::stream::iter(events))
}

#[async_trait]
impl ModelClient for CachedClient {
    async fn converse(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let key = self.cache.key(request);
        let (hit, asked) = self.hit(request, &key).await;
        if let Some(reply) = hit {
            return Ok(ChatResponse::new(
                Message::assistant(reply.text),
                reply.stop_reason,
                TokenUsage::default(),
            ));
        }
        let response = self.inner.converse(request).await?;
        if self.write
            && let Some(text) = keepable(response.stop_reason(), response.message())
        {
            let reply = CachedReply {
                text,
                stop_reason: response.stop_reason().clone(),
                usage: response.usage(),
                question: question_of(request),
            };
            self.cache.keep(&key, &reply, asked.as_ref()).await;
        }
        Ok(response)
    }

    async fn converse_stream(&self, request: &ChatRequest) -> Result<EventStream> {
        let key = self.cache.key(request);
        let (hit, asked) = self.hit(request, &key).await;
        if let Some(reply) = hit {
            return Ok(replay(reply));
        }
        let mut asked = asked;
        let events = self.inner.converse_stream(request).await?;
        let request_id = events.request_id().map(str::to_string);
        // Watches the reply go by; keeps it only when its last event has arrived whole.
        let mut text = String::new();
        let mut only_text = self.write;
        let mut stop = None;
        let cache = self.cache.clone();
        let question = question_of(request);
        let watched = events.inspect(move |event| match event {
            Ok(StreamEvent::TextDelta(piece)) => text.push_str(piece),
            Ok(StreamEvent::MessageStop(reason)) => stop = Some(reason.clone()),
            Ok(StreamEvent::Metadata { usage, .. }) => {
                let message = Message::assistant(std::mem::take(&mut text));
                if let Some(stop) = stop.take()
                    && only_text
                    && let Some(text) = keepable(&stop, &message)
                {
                    let reply = CachedReply {
                        text,
                        stop_reason: stop,
                        usage: *usage,
                        question: question.clone(),
                    };
                    let cache = cache.clone();
                    let key = key.clone();
                    let asked = asked.take();
                    // The reply is complete; keeping it must not wait on the reader.
                    tokio::spawn(async move { cache.keep(&key, &reply, asked.as_ref()).await });
                }
            }
            Ok(StreamEvent::GuardrailTrace(_) | StreamEvent::ContentBlockStop { .. }) => {}
            Ok(_) | Err(_) => only_text = false,
        });
        Ok(EventStream::new(watched).with_request_id(request_id))
    }

    async fn count_tokens(&self, request: &ChatRequest) -> Result<Option<u64>> {
        self.inner.count_tokens(request).await
    }
}
