//! `/metrics` in the Prometheus text format (and, with `--cloudwatch-namespace`, CloudWatch
//! metrics as EMF lines: [`crate::emf`]), and what feeds it: HTTP requests by route and
//! status, turns by outcome, time to first token and turn duration, tokens and cost, retries by
//! kind, active streams, and the store's latency and errors (through [`MeteredStore`]).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bedrock_chat::TokenUsage;
use bedrock_chat::{
    CachedQuestion, Cap, ConversationStore, ConversationSummary, Lease, Rate, SavedConversation,
    Slots, StoreError, StoredConversation,
};
use metrics::{Key, KeyName, Metadata, SharedString, Unit, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::FanoutBuilder;

use crate::emf::{CloudWatchMetrics, EmfRecorder};
use crate::error::ErrorKind;

/// The process's recorders: Prometheus always, CloudWatch (EMF) when asked for.
struct Installed {
    prometheus: PrometheusHandle,
    cloudwatch: Option<Arc<EmfRecorder>>,
}

static INSTALLED: OnceLock<Option<Installed>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. A process has one metrics
/// registry; several servers in one process (as in tests) share it.
fn handle() -> Option<&'static PrometheusHandle> {
    installed().map(|installed| &installed.prometheus)
}

fn installed() -> Option<&'static Installed> {
    INSTALLED.get_or_init(|| install_recorders(None)).as_ref()
}

fn install_recorders(cloudwatch: Option<CloudWatchMetrics>) -> Option<Installed> {
    let seconds = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ];
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
        .ok()?
        .build_recorder();
    let handle = prometheus.handle();
    let cloudwatch = cloudwatch.map(|config| Arc::new(EmfRecorder::new(config)));
    let mut fanout = FanoutBuilder::default().add_recorder(prometheus);
    if let Some(emf) = &cloudwatch {
        fanout = fanout.add_recorder(SharedEmf(emf.clone()));
    }
    metrics::set_global_recorder(fanout.build()).ok()?;
    Some(Installed {
        prometheus: handle,
        cloudwatch,
    })
}

/// The EMF recorder, shared between the fan-out and the flushes.
struct SharedEmf(Arc<EmfRecorder>);

impl metrics::Recorder for SharedEmf {
    fn describe_counter(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
        self.0.describe_counter(k, u, d);
    }

    fn describe_gauge(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
        self.0.describe_gauge(k, u, d);
    }

    fn describe_histogram(&self, k: KeyName, u: Option<Unit>, d: SharedString) {
        self.0.describe_histogram(k, u, d);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Counter {
        self.0.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Gauge {
        self.0.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Histogram {
        self.0.register_histogram(key, metadata)
    }
}

/// Installs the recorders, so the first request is counted too.
pub fn init() {
    let _ = handle();
}

/// Installs the recorders with CloudWatch metrics as well: called once, before the server
/// starts. Returns false when recorders were already installed (CloudWatch then stays off).
pub fn init_with_cloudwatch(cloudwatch: CloudWatchMetrics) -> bool {
    let mut fresh = false;
    INSTALLED.get_or_init(|| {
        fresh = true;
        install_recorders(Some(cloudwatch))
    });
    fresh
}

/// Writes the CloudWatch metrics gathered since the last flush to stdout, as EMF lines: every
/// minute while the server runs, and once more when it has shut down, so nothing recorded is
/// lost to a SIGTERM.
pub fn flush_cloudwatch() {
    if let Some(emf) = installed().and_then(|i| i.cloudwatch.as_ref()) {
        let mut out = std::io::stdout().lock();
        if let Err(error) = emf.flush(&mut out) {
            tracing::warn!(%error, "could not write the CloudWatch metrics");
        }
    }
}

/// How often CloudWatch metrics are written: CloudWatch's own standard resolution.
const CLOUDWATCH_INTERVAL: Duration = Duration::from_secs(60);

/// Keeps the recorder's memory bounded while `serve` runs: histograms hold every sample
/// recorded until an upkeep folds them into their buckets, and a recorder installed with
/// `install_recorder` runs none of its own (`/metrics` folds them too, but nothing says it is
/// scraped). Without it every turn left about 250 bytes behind (issue 25's growing memory,
/// measured by the soak benchmark). Several servers in one process each keep it up; that only
/// folds more often.
pub async fn keep_up() {
    let Some(handle) = handle() else {
        return;
    };
    let mut every = tokio::time::interval(Duration::from_secs(5));
    let mut last_flush = Instant::now();
    loop {
        every.tick().await;
        handle.run_upkeep();
        if last_flush.elapsed() >= CLOUDWATCH_INTERVAL {
            last_flush = Instant::now();
            // Off the runtime's threads: stdout may block on a slow log collector.
            let _ = tokio::task::spawn_blocking(flush_cloudwatch).await;
        }
    }
}

/// `GET /metrics`.
pub async fn render() -> Response {
    match handle() {
        Some(handle) => (
            [("content-type", "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process",
        )
            .into_response(),
    }
}

/// Counts every request by route (the pattern, never the ids in it) and status.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // Only methods the server knows: a made-up method is one more series per spelling.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let response = next.run(request).await;
    counter!(
        "bedrock_chat_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

/// What one turn records when it ends.
pub struct TurnMeter {
    started: Instant,
    first_token: Option<Duration>,
    api: &'static str,
    model: String,
}

impl TurnMeter {
    /// A turn on `api` (`chat` for the browser chat, `openai` for `/v1`) to `model` (the
    /// server's, or one on its allowed list: a bounded set) starting now; it counts as an
    /// active stream until it is finished or dropped.
    pub fn start(api: &'static str, model: &str) -> Self {
        gauge!("bedrock_chat_active_turns", "api" => api).increment(1.0);
        TurnMeter {
            started: Instant::now(),
            first_token: None,
            api,
            model: model.to_string(),
        }
    }

    /// The first text has arrived.
    pub fn first_token(&mut self) {
        if self.first_token.is_none() {
            let elapsed = self.started.elapsed();
            self.first_token = Some(elapsed);
            histogram!("bedrock_chat_time_to_first_token_seconds", "api" => self.api,
                "model" => self.model.clone())
            .record(elapsed.as_secs_f64());
        }
    }

    /// The turn ended with `outcome` (`ok`, `cancelled`, or an error kind), having used these
    /// tokens and cost.
    pub fn finish(&self, outcome: &str, usage: &TokenUsage, cost_usd: Option<f64>) {
        let api = self.api;
        let model = || self.model.clone();
        counter!("bedrock_chat_turns_total", "api" => api, "model" => model(),
            "outcome" => outcome.to_string())
        .increment(1);
        if outcome != "ok" && outcome != "cancelled" {
            counter!("bedrock_chat_turn_errors_total", "api" => api, "kind" => outcome.to_string())
                .increment(1);
        }
        histogram!("bedrock_chat_turn_duration_seconds", "api" => api, "model" => model())
            .record(self.started.elapsed().as_secs_f64());
        for (direction, tokens) in [
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_input_tokens.unwrap_or(0)),
            ("cache_write", usage.cache_write_input_tokens.unwrap_or(0)),
        ] {
            counter!("bedrock_chat_tokens_total", "api" => api, "model" => model(),
                "direction" => direction)
            .increment(tokens);
        }
        if let Some(cost) = cost_usd {
            // Micro-dollars: counters are whole numbers.
            counter!("bedrock_chat_cost_microdollars_total", "api" => api, "model" => model())
                .increment((cost * 1e6).round() as u64);
        }
    }
}

impl Drop for TurnMeter {
    fn drop(&mut self) {
        gauge!("bedrock_chat_active_turns", "api" => self.api).decrement(1.0);
    }
}

/// A retry is about to happen, after an error of this kind.
pub fn retry(kind: &str, throttled: bool) {
    counter!("bedrock_chat_retries_total", "kind" => kind.to_string()).increment(1);
    if throttled {
        counter!("bedrock_chat_throttles_total").increment(1);
    }
}

/// The reply cache answered a turn (`hit`, saving `saved_usd`) or sent it to the model (`miss`).
pub fn reply_cache(hit: bool, saved_usd: Option<f64>) {
    let result = if hit { "hit" } else { "miss" };
    counter!("bedrock_chat_reply_cache_lookups_total", "result" => result).increment(1);
    if let Some(saved) = saved_usd.filter(|_| hit) {
        counter!("bedrock_chat_reply_cache_saved_microdollars_total")
            .increment((saved * 1e6).round() as u64);
    }
}

/// How many replies the reply cache keeps now.
pub fn reply_cache_entries(count: u64) {
    gauge!("bedrock_chat_reply_cache_entries").set(count as f64);
}

/// Admission refused a turn or a new conversation, for this limit (an error kind).
pub fn refused(limit: ErrorKind) {
    counter!("bedrock_chat_refusals_total", "limit" => limit.as_str()).increment(1);
}

/// A store that records the latency and the errors of every operation of the store it wraps.
#[derive(Debug)]
pub struct MeteredStore(pub std::sync::Arc<dyn ConversationStore>);

async fn metered<T>(
    operation: &'static str,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let result = work.await;
    histogram!("bedrock_chat_store_operation_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if let Err(StoreError::Unavailable { .. }) = &result {
        counter!("bedrock_chat_store_errors_total", "operation" => operation).increment(1);
    }
    result
}

#[async_trait]
impl ConversationStore for MeteredStore {
    async fn create(
        &self,
        owner: &str,
        conversation: SavedConversation,
    ) -> Result<StoredConversation, StoreError> {
        metered("create", self.0.create(owner, conversation)).await
    }

    async fn load(&self, owner: &str, id: &str) -> Result<StoredConversation, StoreError> {
        metered("load", self.0.load(owner, id)).await
    }

    async fn save(
        &self,
        owner: &str,
        id: &str,
        expected_version: u64,
        conversation: SavedConversation,
    ) -> Result<u64, StoreError> {
        metered(
            "save",
            self.0.save(owner, id, expected_version, conversation),
        )
        .await
    }

    async fn list(&self, owner: &str) -> Result<Vec<ConversationSummary>, StoreError> {
        metered("list", self.0.list(owner)).await
    }

    async fn delete(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        metered("delete", self.0.delete(owner, id)).await
    }

    async fn lease(&self, owner: &str, id: &str, ttl: Duration) -> Result<Lease, StoreError> {
        metered("lease", self.0.lease(owner, id, ttl)).await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<(), StoreError> {
        metered("renew", self.0.renew(lease, ttl)).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        metered("release", self.0.release(lease)).await
    }

    async fn lease_and_load(
        &self,
        owner: &str,
        id: &str,
        ttl: Duration,
    ) -> Result<(Lease, StoredConversation), StoreError> {
        metered("lease_and_load", self.0.lease_and_load(owner, id, ttl)).await
    }

    async fn save_and_release(
        &self,
        lease: &Lease,
        owner: &str,
        expected_version: u64,
        conversation: SavedConversation,
    ) -> Result<u64, StoreError> {
        metered(
            "save_and_release",
            self.0
                .save_and_release(lease, owner, expected_version, conversation),
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        metered("ping", self.0.ping()).await
    }

    async fn spent_today(&self, account: &str) -> Result<f64, StoreError> {
        metered("spent_today", self.0.spent_today(account)).await
    }

    async fn add_spending(&self, account: &str, usd: f64) -> Result<(), StoreError> {
        metered("add_spending", self.0.add_spending(account, usd)).await
    }

    async fn reserve_spending(
        &self,
        caps: &[Cap<'_>],
        usd: f64,
    ) -> Result<Option<usize>, StoreError> {
        metered("reserve_spending", self.0.reserve_spending(caps, usd)).await
    }

    async fn take_rate(&self, rates: &[Rate<'_>]) -> Result<Option<(usize, Duration)>, StoreError> {
        metered("take_rate", self.0.take_rate(rates)).await
    }

    async fn acquire_slots(
        &self,
        slots: &[Slots<'_>],
        token: &str,
        ttl: Duration,
    ) -> Result<Option<usize>, StoreError> {
        metered("acquire_slots", self.0.acquire_slots(slots, token, ttl)).await
    }

    async fn renew_slots(
        &self,
        keys: &[&str],
        token: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        metered("renew_slots", self.0.renew_slots(keys, token, ttl)).await
    }

    async fn release_slots(&self, keys: &[&str], token: &str) -> Result<(), StoreError> {
        metered("release_slots", self.0.release_slots(keys, token)).await
    }

    async fn ask_cached_reply(
        &self,
        key: &str,
        asker: &str,
        enough: usize,
        ttl: Duration,
    ) -> Result<(usize, Option<String>), StoreError> {
        metered(
            "ask_cached_reply",
            self.0.ask_cached_reply(key, asker, enough, ttl),
        )
        .await
    }

    async fn put_cached_reply(
        &self,
        key: &str,
        reply: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        metered("put_cached_reply", self.0.put_cached_reply(key, reply, ttl)).await
    }

    async fn add_cached_question(
        &self,
        partition: &str,
        key: &str,
        embedding: &[f32],
        most: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        metered(
            "add_cached_question",
            self.0
                .add_cached_question(partition, key, embedding, most, ttl),
        )
        .await
    }

    async fn cached_reply_count(&self) -> Result<Option<u64>, StoreError> {
        metered("cached_reply_count", self.0.cached_reply_count()).await
    }

    async fn cached_questions(&self, partition: &str) -> Result<Vec<CachedQuestion>, StoreError> {
        metered("cached_questions", self.0.cached_questions(partition)).await
    }
}
