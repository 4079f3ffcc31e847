//! Command-line arguments.
//!
//! The chat settings' flags are not declared here: they come from the library's table,
//! [`bedrock_chat::SETTINGS`], with their help, variables, defaults and parsers. The program
//! starts from [`ChatConfig::from_env`] (environment, then `.env`, then defaults) and applies on
//! top only the flags the user gave. What is declared here is what only the REPL has.

use std::ffi::OsString;
use std::path::PathBuf;

use bedrock_chat::{ChatConfig, ContextPolicy, SETTINGS, Setting};
use bedrock_chat_server::{AllowedHosts, Limits, ReplyCacheConfig, ServerConfig, TrustedProxies};
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser};

/// Chat with Claude on Amazon Bedrock.
///
/// In a terminal, opens an interactive chat (type /help inside it). With standard input from a
/// pipe, each non-empty line is one user turn of a single conversation and each reply is written
/// to standard output. Settings come from flags, then environment variables, then a `.env` file
/// in the working directory, then defaults. AWS credentials come from the standard AWS chain
/// (environment, profile, SSO, instance role).
///
/// Exit codes: 0 success, 1 a turn failed, 2 bad usage or configuration, 141 the reader of
/// standard output went away.
#[derive(Debug, Parser)]
#[command(
    name = "bedrock-chat",
    version,
    about,
    long_about,
    max_term_width = 100
)]
pub struct Args {
    /// A stop sequence; repeat the flag for several [default: none]
    #[arg(long = "stop", value_name = "TEXT", global = true, help_heading = CHAT)]
    pub stop: Vec<String>,

    /// Shorthand for --context-policy tokens:N
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "context-policy",
        global = true,
        help_heading = CHAT
    )]
    pub max_context_tokens: Option<u64>,

    /// Wait for whole replies (Converse) instead of streaming them (ConverseStream)
    #[arg(long)]
    pub no_stream: bool,

    /// With --thinking-budget, do not show the model's reasoning (it is shown dimmed before each
    /// answer at a terminal, and never written to a pipe)
    #[arg(long)]
    pub hide_thinking: bool,

    /// Try it without AWS: a fake Bedrock inside the program answers every message with a
    /// canned reply that says so (no account, no credentials, nothing leaves the machine);
    /// with serve, the page says so too
    #[arg(long, global = true)]
    pub demo: bool,

    /// Offer the model the tools of these MCP servers: a JSON file in the mcpServers format of
    /// Claude Desktop, Claude Code and VS Code (`${VAR}` is taken from the environment)
    #[arg(long, env = "BEDROCK_MCP_CONFIG", value_name = "FILE", global = true)]
    pub mcp_config: Option<PathBuf>,

    /// MCP tools that may run without asking though they may change things (in a pipe, and with
    /// serve, they are not run otherwise); comma-separated names as /tools shows them
    #[arg(long, value_name = "NAME,…", value_delimiter = ',', global = true)]
    pub allow_tools: Vec<String>,

    /// Let every MCP tool run without asking
    #[arg(long, global = true)]
    pub allow_all_tools: bool,

    /// Send one message, print the reply and exit
    #[arg(long, short, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// Attach an image (PNG, JPEG, GIF, WebP) or a document (PDF, CSV, DOC, DOCX, XLS, XLSX,
    /// HTML, TXT, MD) to the first message; repeat for several
    #[arg(long, value_name = "PATH")]
    pub attach: Vec<PathBuf>,

    /// File that keeps the REPL's input history; it must be a bedrock-chat history file or not
    /// exist yet (anything else is left alone) [env: BEDROCK_CHAT_HISTORY_FILE, not taken from
    /// .env] [default: bedrock-chat/history in the user's data directory]
    #[arg(long, value_name = "PATH")]
    pub history_file: Option<PathBuf>,

    /// What to run instead of the REPL.
    #[command(subcommand)]
    pub command: Option<Subcommand>,

    /// The reply cache.
    #[command(flatten)]
    pub cache: CacheArgs,

    /// The knowledge base questions are grounded in.
    #[command(flatten)]
    pub knowledge: KnowledgeArgs,

    /// The chat settings given on the command line, as `(setting, value)`.
    #[arg(skip)]
    pub settings: Vec<(&'static Setting, String)>,
}

/// The reply cache's flags, for the REPL and `serve` alike (`global`: given before or after
/// `serve`).
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// Answer frequently asked questions from a cache: `exact` serves an answer to a request
    /// identical in everything (model, system prompt, settings, the whole conversation) once
    /// enough others have asked it; `semantic` also matches a conversation's first question by
    /// meaning (embeddings from Bedrock). Regenerate and /retry always ask the model. With
    /// serve the cache is on the conversation store, shared by every instance; in the REPL it
    /// is in memory, for the session
    #[arg(
        long,
        env = "BEDROCK_CHAT_REPLY_CACHE",
        value_enum,
        default_value_t = ReplyCacheMode::Off,
        global = true,
        help_heading = CACHE
    )]
    pub reply_cache: ReplyCacheMode,

    /// With `--reply-cache semantic`: the cosine of two first questions' embeddings at which
    /// they share an answer (0 to 1; high, since a wrong answer is worse than a paid call)
    #[arg(long, env = "BEDROCK_CHAT_REPLY_CACHE_THRESHOLD", value_name = "COSINE", default_value_t = bedrock_chat::DEFAULT_SIMILARITY_THRESHOLD, value_parser = parse_cosine, global = true, help_heading = CACHE)]
    pub reply_cache_threshold: f32,

    /// With `--reply-cache semantic`: the embeddings model, called with InvokeModel (the task
    /// role needs bedrock:InvokeModel on it)
    #[arg(long, env = "BEDROCK_CHAT_EMBEDDING_MODEL", value_name = "ID", default_value = bedrock_chat::DEFAULT_EMBEDDING_MODEL, global = true, help_heading = CACHE)]
    pub embedding_model: String,

    /// How long a cached answer is kept
    #[arg(long, env = "BEDROCK_CHAT_REPLY_CACHE_TTL", value_name = "D", default_value_t = Span(ReplyCacheConfig::default().ttl), global = true, help_heading = CACHE)]
    pub reply_cache_ttl: Span,

    /// How many others (with serve: visitors' addresses; on /v1, API keys and their `user`
    /// ids) must have asked the same thing before its answer is served, so a question asked
    /// once is never shown to anyone else [default: 2 with serve; 0 in the REPL, whose cache
    /// holds only its user's own questions]
    #[arg(long, env = "BEDROCK_CHAT_REPLY_CACHE_MIN_ASKERS", value_name = "N", global = true, help_heading = CACHE)]
    pub reply_cache_min_askers: Option<usize>,
}

impl CacheArgs {
    /// The cache these flags ask for, or `None` when it is off; `min_askers` unless given.
    pub fn config(
        &self,
        client: &bedrock_chat::BedrockClient,
        min_askers: usize,
    ) -> Option<ReplyCacheConfig> {
        let semantic = match self.reply_cache {
            ReplyCacheMode::Off => return None,
            ReplyCacheMode::Exact => None,
            ReplyCacheMode::Semantic => {
                let embedder = bedrock_chat::TitanEmbedder::new(client.clone())
                    .model_id(&self.embedding_model);
                Some((
                    std::sync::Arc::new(embedder) as std::sync::Arc<dyn bedrock_chat::Embedder>,
                    self.reply_cache_threshold,
                ))
            }
        };
        Some(ReplyCacheConfig {
            ttl: self.reply_cache_ttl.0,
            min_askers: self.reply_cache_min_askers.unwrap_or(min_askers),
            semantic,
        })
    }
}

/// The knowledge base's flags, for the REPL and `serve` alike.
#[derive(Debug, clap::Args)]
pub struct KnowledgeArgs {
    /// Ground every question in an Amazon Bedrock knowledge base (its id, 10 letters and
    /// digits): its passages go to the model with the question, and the reply cites them (the
    /// REPL lists the sources under the reply, the page as footnotes). Needs bedrock:Retrieve
    #[arg(long, env = "BEDROCK_KNOWLEDGE_BASE_ID", value_name = "ID", global = true, help_heading = KNOWLEDGE)]
    pub knowledge_base: Option<String>,

    /// How many passages each question gets
    #[arg(long, env = "BEDROCK_KNOWLEDGE_BASE_RESULTS", value_name = "N", default_value_t = bedrock_chat::DEFAULT_KNOWLEDGE_BASE_RESULTS, value_parser = clap::value_parser!(u32).range(1..=100), global = true, help_heading = KNOWLEDGE)]
    pub knowledge_base_results: u32,

    /// Only passages whose metadata pass this filter, in the Retrieve API's JSON, such as
    /// {"equals": {"key": "team", "value": "billing"}} [default: none]
    #[arg(long, env = "BEDROCK_KNOWLEDGE_BASE_FILTER", value_name = "JSON", global = true, help_heading = KNOWLEDGE)]
    pub knowledge_base_filter: Option<String>,
}

impl KnowledgeArgs {
    /// The knowledge base these flags name, searched with `client`'s configuration; `None`
    /// without `--knowledge-base`.
    ///
    /// # Errors
    ///
    /// A malformed id or filter, naming the flag.
    pub fn knowledge_base(
        &self,
        client: &bedrock_chat::BedrockClient,
    ) -> bedrock_chat::Result<Option<bedrock_chat::KnowledgeBase>> {
        let Some(id) = self
            .knowledge_base
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        else {
            if self.knowledge_base_filter.is_some() {
                return Err(bedrock_chat::Error::InvalidInput {
                    reason: "--knowledge-base-filter needs --knowledge-base: a filter of which \
                             knowledge base?"
                        .to_string(),
                });
            }
            return Ok(None);
        };
        let mut kb = bedrock_chat::KnowledgeBase::new(id)
            .results(self.knowledge_base_results)
            .with_client(client);
        if let Some(filter) = &self.knowledge_base_filter {
            let json: serde_json::Value =
                serde_json::from_str(filter).map_err(|e| bedrock_chat::Error::InvalidInput {
                    reason: format!("--knowledge-base-filter is not JSON: {e}"),
                })?;
            kb = kb.filter(bedrock_chat::RetrievalFilter::from_json(&json)?);
        }
        kb.validate()?;
        Ok(Some(kb))
    }
}

/// What to run instead of the REPL.
// Parsed once per process: the size of `serve`'s flags costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Serve the browser chat (and its API) over HTTP, with the same chat settings as the REPL.
    Serve(ServeArgs),
    /// List the models and inference profiles the region offers for chat, marking those that
    /// run only through a profile (needs bedrock:ListInferenceProfiles and
    /// bedrock:ListFoundationModels)
    Models {
        /// Print the listing as JSON
        #[arg(long)]
        json: bool,
    },
    /// Ask a running server's health check once: exit 0 when it answers 2xx within 5 s, else 1
    /// (for a container's HEALTHCHECK, with no shell tools in the image)
    Healthcheck {
        /// The URL to ask
        #[arg(default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
}

/// `bedrock-chat serve`: where to listen, who may use it, and the limits that keep a public
/// chatbot alive. The chat settings (model, region, system prompt, retries, budget, ...) are the
/// REPL's flags, given before or after `serve`. Every limit's default is the server's own
/// ([`Limits::default`]), declared once.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; use 0.0.0.0:8080 to accept other machines
    #[arg(long, env = "BEDROCK_CHAT_ADDR", default_value = "127.0.0.1:8080", help_heading = LISTEN)]
    pub addr: std::net::SocketAddr,

    /// Host names the server answers to, comma-separated (`.example.com` for every subdomain),
    /// or `*` for any; requests for other hosts are refused (the defence against DNS
    /// rebinding) [default: localhost, 127.0.0.1 and `[::1]` on loopback; required elsewhere]
    #[arg(long, env = "BEDROCK_CHAT_ALLOWED_HOSTS", value_name = "NAMES", help_heading = LISTEN)]
    pub allowed_hosts: Option<AllowedHosts>,

    /// Proxies in front of the server whose X-Forwarded-For names the client: a number of hops
    /// (1 behind an ALB or nginx) or their addresses and networks (10.0.0.0/8,...) [default:
    /// none, the peer is the client]
    #[arg(long, env = "BEDROCK_CHAT_TRUSTED_PROXIES", value_name = "N|CIDRS", help_heading = LISTEN)]
    pub trusted_proxies: Option<TrustedProxies>,

    /// Require `Authorization: Bearer TOKEN` on every API request (the page asks for it once)
    /// [default: none, the API is open]
    #[arg(long, env = "BEDROCK_CHAT_AUTH_TOKEN", value_name = "TOKEN", hide_env_values = true, help_heading = LISTEN)]
    pub auth_token: Option<String>,

    /// Mark the client cookie Secure: set when the server is reached over HTTPS
    #[arg(long, env = "BEDROCK_CHAT_SECURE_COOKIES", help_heading = LISTEN)]
    pub secure_cookies: bool,

    /// Serve /metrics on this address of its own instead of with the API [default: with the
    /// API, behind --auth-token, or only to loopback clients without one]
    #[arg(long, env = "BEDROCK_CHAT_METRICS_ADDR", value_name = "ADDR", help_heading = LISTEN)]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// How long running replies may go on after SIGTERM or Ctrl-C
    #[arg(long, env = "BEDROCK_CHAT_SHUTDOWN_GRACE", value_name = "D", default_value_t = Span(ServerConfig::default().shutdown_grace), help_heading = LISTEN)]
    pub shutdown_grace: Span,

    /// Also serve the OpenAI-compatible API (/v1/chat/completions, /v1/models); on an address
    /// other than loopback it needs --auth-token
    #[arg(long, env = "BEDROCK_CHAT_OPENAI_API", help_heading = LISTEN)]
    pub openai_api: bool,

    /// A file of named API keys for the OpenAI-compatible API, each with its own daily budget
    /// and rate ({"keys": [{"name", "sha256", "daily_usd", "turns_per_minute"}]}; a key's
    /// sha256 is `printf %s "$KEY" | sha256sum`) [default: none; callers are limited by
    /// address]
    #[arg(long, env = "BEDROCK_CHAT_API_KEYS", value_name = "FILE", help_heading = LISTEN)]
    pub api_keys: Option<PathBuf>,

    /// The API keys file's content itself, for platforms that hand secrets over as variables
    /// (ECS from Secrets Manager) [default: none]
    #[arg(
        long,
        env = "BEDROCK_CHAT_API_KEYS_JSON",
        value_name = "JSON",
        hide_env_values = true,
        conflicts_with = "api_keys",
        help_heading = LISTEN
    )]
    pub api_keys_json: Option<String>,

    /// Write CloudWatch metrics (turns, tokens, cost, time to first token, throttles, errors,
    /// refusals) to stdout in the Embedded Metric Format under this namespace, once a minute and
    /// at shutdown; ECS's awslogs driver or the CloudWatch agent publishes them [default: off]
    #[arg(
        long,
        env = "BEDROCK_CHAT_CLOUDWATCH_NAMESPACE",
        value_name = "NAME",
        help_heading = LISTEN
    )]
    pub cloudwatch_namespace: Option<String>,

    /// The `Service` dimension of every CloudWatch metric: the name of this deployment
    #[arg(
        long,
        env = "BEDROCK_CHAT_CLOUDWATCH_SERVICE",
        value_name = "NAME",
        default_value = "bedrock-chat",
        help_heading = LISTEN
    )]
    pub cloudwatch_service: String,

    /// Models (or inference profiles) visitors may pick in the page, and the OpenAI-compatible
    /// API may call, besides the server's own, comma-separated; each turn is charged at its
    /// model's price (`bedrock-chat models` lists the ids) [default: only the server's model]
    #[arg(
        long = "models",
        alias = "allowed-models",
        env = "BEDROCK_CHAT_MODELS",
        value_delimiter = ',',
        value_name = "IDS",
        help_heading = LISTEN
    )]
    pub allowed_models: Vec<String>,

    /// US dollars the whole server may spend per UTC day [default: $50 on an address other
    /// than loopback, no cap on loopback]
    #[arg(
        long,
        env = "BEDROCK_CHAT_DAILY_BUDGET",
        value_name = "USD",
        allow_negative_numbers = true,
        help_heading = LIMITS
    )]
    pub daily_budget: Option<f64>,

    /// Lift the server-wide daily cap that an address other than loopback gets by default
    #[arg(long, env = "BEDROCK_CHAT_NO_DAILY_BUDGET", conflicts_with = "daily_budget", help_heading = LIMITS)]
    pub no_daily_budget: bool,

    /// US dollars one visitor may spend per UTC day
    #[arg(
        long,
        env = "BEDROCK_CHAT_CLIENT_DAILY_BUDGET",
        value_name = "USD",
        default_value_t = Limits::default().client_daily_usd.unwrap_or_default(),
        allow_negative_numbers = true,
        help_heading = LIMITS
    )]
    pub client_daily_budget: f64,

    /// US dollars one client address may spend per UTC day, over all its cookies
    #[arg(
        long,
        env = "BEDROCK_CHAT_ADDRESS_DAILY_BUDGET",
        value_name = "USD",
        default_value_t = Limits::default().address_daily_usd.unwrap_or_default(),
        allow_negative_numbers = true,
        help_heading = LIMITS
    )]
    pub address_daily_budget: f64,

    /// Messages one visitor may send per minute
    #[arg(long, env = "BEDROCK_CHAT_TURNS_PER_MINUTE", default_value_t = Limits::default().turns_per_minute, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub turns_per_minute: u32,

    /// Messages one client address may send per minute, over all its cookies
    #[arg(long, env = "BEDROCK_CHAT_ADDRESS_TURNS_PER_MINUTE", default_value_t = Limits::default().address_turns_per_minute, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub address_turns_per_minute: u32,

    /// Messages the whole server takes per minute (every instance, on Redis)
    #[arg(long, env = "BEDROCK_CHAT_SERVER_TURNS_PER_MINUTE", default_value_t = Limits::default().server_turns_per_minute, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub server_turns_per_minute: u32,

    /// Conversations one client address may create per hour
    #[arg(long, env = "BEDROCK_CHAT_CONVERSATIONS_PER_HOUR", default_value_t = Limits::default().conversations_per_hour, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub conversations_per_hour: u32,

    /// Files (images and documents) one visitor, and one client address, may attach per hour
    #[arg(long, env = "BEDROCK_CHAT_ATTACHMENTS_PER_HOUR", default_value_t = Limits::default().attachments_per_hour, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub attachments_per_hour: u32,

    /// Searches of their conversations one visitor, and one client address, may make per minute
    #[arg(long, env = "BEDROCK_CHAT_SEARCHES_PER_MINUTE", default_value_t = Limits::default().searches_per_minute, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub searches_per_minute: u32,

    /// Tool calls (the operator's MCP tools) one reply may make
    #[arg(long, env = "BEDROCK_CHAT_TOOL_CALLS_PER_TURN", default_value_t = Limits::default().tool_calls_per_turn, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub tool_calls_per_turn: u32,

    /// Tool calls one visitor, and one client address, may cause per minute
    #[arg(long, env = "BEDROCK_CHAT_TOOL_CALLS_PER_MINUTE", default_value_t = Limits::default().tool_calls_per_minute, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = LIMITS)]
    pub tool_calls_per_minute: u32,

    /// Replies written at once, over all visitors (every instance, on Redis)
    #[arg(long, env = "BEDROCK_CHAT_MAX_STREAMS", default_value_t = Limits::default().concurrent_turns, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = LIMITS)]
    pub max_streams: usize,

    /// Replies written at once for one client address
    #[arg(long, env = "BEDROCK_CHAT_MAX_STREAMS_PER_ADDRESS", default_value_t = Limits::default().concurrent_turns_per_address, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = LIMITS)]
    pub max_streams_per_address: usize,

    /// Replies written at once for one visitor
    #[arg(long, env = "BEDROCK_CHAT_MAX_STREAMS_PER_VISITOR", default_value_t = Limits::default().concurrent_turns_per_visitor, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = LIMITS)]
    pub max_streams_per_visitor: usize,

    /// Connections open at once; past it, new ones wait
    #[arg(long, env = "BEDROCK_CHAT_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = LIMITS)]
    pub max_connections: usize,

    /// Connections open at once from one address (trusted proxies excepted)
    #[arg(long, env = "BEDROCK_CHAT_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = Limits::default().max_connections_per_address, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = LIMITS)]
    pub max_connections_per_address: usize,

    /// Conversations one visitor keeps (the oldest goes)
    #[arg(
        long,
        env = "BEDROCK_CHAT_CONVERSATIONS_PER_CLIENT",
        default_value_t = Limits::default().conversations_per_client,
        value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
        help_heading = LIMITS
    )]
    pub conversations_per_client: usize,

    /// Conversations kept in all (every instance, on Redis); past it new ones are refused
    #[arg(long, env = "BEDROCK_CHAT_MAX_CONVERSATIONS", default_value_t = Limits::default().max_conversations, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = LIMITS)]
    pub max_conversations: usize,

    /// How long a conversation is kept after its last use
    #[arg(long, env = "BEDROCK_CHAT_TTL", value_name = "D", default_value_t = Span(Limits::default().conversation_ttl), help_heading = STORE)]
    pub ttl: Span,

    /// Where conversations live: `memory` (this process; lost on restart) or a Redis URL
    /// (`redis://[:password@]host:6379/0`, `rediss://` for TLS, `redis+unix:///path`,
    /// `redis+cluster://host:port,host:port` for a Redis Cluster) shared by several instances
    /// behind a load balancer
    #[arg(
        long,
        env = "BEDROCK_CHAT_STORE",
        value_name = "memory|URL",
        default_value = "memory",
        hide_env_values = true,
        hide_default_value = false,
        help_heading = STORE
    )]
    pub store: String,

    /// How long a running reply holds its conversation without renewal: an instance killed
    /// mid-reply blocks that conversation this long at most
    #[arg(long, env = "BEDROCK_CHAT_TURN_LEASE", value_name = "D", default_value_t = Span(ServerConfig::default().turn_lease), help_heading = STORE)]
    pub turn_lease: Span,

    /// Prefix of every Redis key, so several deployments can share one Redis
    #[arg(
        long,
        env = "BEDROCK_CHAT_STORE_PREFIX",
        value_name = "P",
        default_value = bedrock_chat::DEFAULT_KEY_PREFIX,
        help_heading = STORE
    )]
    pub store_prefix: String,

    /// The Redis password (ElastiCache's AUTH token), kept out of the --store URL so the URL
    /// can be plain configuration and the password a secret [default: the URL's own, if any]
    #[arg(
        long,
        env = "BEDROCK_CHAT_STORE_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true,
        help_heading = STORE
    )]
    pub store_password: Option<String>,

    /// Logs on stderr as text, or as one JSON object a line for a log collector
    #[arg(long, env = "BEDROCK_CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, help_heading = LISTEN)]
    pub log_format: LogFormat,
}

const LISTEN: &str = "Listening and security";
const LIMITS: &str = "Limits";
const STORE: &str = "Conversation store";
const CACHE: &str = "Reply cache";
const KNOWLEDGE: &str = "Knowledge base";

/// Whether the server answers frequently asked questions from its cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplyCacheMode {
    /// Every message goes to the model.
    Off,
    /// Identical requests share an answer, once enough others asked.
    Exact,
    /// As `exact`, and first questions close in meaning share one too.
    Semantic,
}

/// A cosine threshold: a number from 0 to 1.
fn parse_cosine(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{text} is not a cosine from 0 to 1 (0.92, say)")),
    }
}

/// How the server writes its logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for a person.
    Text,
    /// One JSON object a line.
    Json,
}

/// A duration on the command line: parsed by the library's one parser (`30s`, `24h`, `250ms`),
/// and shown in `--help` from the server's own default, so the default is declared once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub std::time::Duration);

impl std::str::FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        bedrock_chat::parse_duration(text)
            .map(Span)
            .map_err(|e| e.to_string())
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let millis = self.0.as_millis();
        match millis {
            0 => write!(f, "0s"),
            m if m % 3_600_000 == 0 => write!(f, "{}h", m / 3_600_000),
            m if m % 60_000 == 0 => write!(f, "{}m", m / 60_000),
            m if m % 1_000 == 0 => write!(f, "{}s", m / 1_000),
            m => write!(f, "{m}ms"),
        }
    }
}

/// The whole command line: the library's settings and the REPL's own flags.
pub fn command() -> clap::Command {
    Args::command().args(SETTINGS.iter().map(setting_arg))
}

fn setting_arg(setting: &'static Setting) -> Arg {
    let arg = Arg::new(setting.flag)
        .long(setting.flag)
        .value_name(setting.value_name)
        .help(setting.help())
        .action(ArgAction::Set)
        // Given before or after `serve`: the server takes the same settings as the REPL.
        .global(true)
        // `--budget -3` is a value to be refused by the setting's check, not an unknown flag.
        .allow_negative_numbers(true)
        .help_heading(heading_of(setting));
    match setting.short {
        Some(short) => arg.short(short),
        None => arg,
    }
}

/// Where a setting is listed in `--help`: how to reach AWS, or how to chat.
fn heading_of(setting: &Setting) -> &'static str {
    match setting.flag {
        "region" | "profile" | "endpoint-url" | "connect-timeout" | "read-timeout" => AWS,
        _ => CHAT,
    }
}

const AWS: &str = "AWS";
const CHAT: &str = "Chat settings";

impl Args {
    /// Parses `args` (the program name first).
    ///
    /// # Errors
    ///
    /// clap's error for unknown flags and missing values; call `.exit()` on it.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        Self::from_matches(&matches)
    }

    /// Reads the parsed command line.
    ///
    /// # Errors
    ///
    /// clap's error when the matches do not fit the arguments.
    pub fn from_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = <Args as FromArgMatches>::from_arg_matches(matches)?;
        args.settings = SETTINGS
            .iter()
            .filter_map(|setting| {
                let value = matches.get_one::<String>(setting.flag)?;
                Some((setting, value.clone()))
            })
            .collect();
        Ok(args)
    }

    /// Whether `flag` (a setting's long name) was given on the command line.
    pub fn has(&self, flag: &str) -> bool {
        self.settings
            .iter()
            .any(|(setting, _)| setting.flag == flag)
    }

    /// `base` (from the environment and `.env`) with the flags the user gave applied on top,
    /// checked.
    ///
    /// # Errors
    ///
    /// The library's error for a malformed or out-of-range value, naming the flag.
    pub fn chat_config(&self, mut base: ChatConfig) -> bedrock_chat::Result<ChatConfig> {
        for (setting, value) in &self.settings {
            setting.apply(&mut base, value, &format!("--{}", setting.flag))?;
        }
        if !self.stop.is_empty() {
            base.session.inference.stop_sequences = self.stop.clone();
        }
        if let Some(tokens) = self.max_context_tokens {
            base.session.context_policy = format!("tokens:{tokens}")
                .parse::<ContextPolicy>()
                .map_err(|e| bedrock_chat::Error::Config {
                    message: format!("--max-context-tokens: {e}"),
                    source: None,
                })?;
        }
        base.validate()?;
        Ok(base)
    }
}

/// The README's table of `serve` flags, written from the flags themselves (names, variables,
/// defaults and help), so the docs cannot drift from `serve --help`.
#[cfg(test)]
pub(crate) fn serve_flags_table() -> String {
    let mut command = command();
    // Building fills in what derive leaves implicit: each flag's number of values.
    command.build();
    let serve = command
        .find_subcommand("serve")
        .expect("there is a serve command");
    flags_table(
        serve,
        &[Some(LISTEN), Some(LIMITS), Some(STORE), Some(CACHE)],
    )
}

/// The README's table of the REPL's flags, as `--help` lists them: its own, the chat settings,
/// the reply cache and AWS.
#[cfg(test)]
pub(crate) fn repl_flags_table() -> String {
    let mut command = command();
    command.build();
    flags_table(&command, &[None, Some(CHAT), Some(CACHE), Some(AWS)])
}

/// A Markdown table per heading (`None`: the flags under no heading) of `command`'s flags.
#[cfg(test)]
fn flags_table(command: &clap::Command, headings: &[Option<&str>]) -> String {
    let mut table = String::new();
    for heading in headings {
        if let Some(heading) = heading {
            table.push_str(&format!("\n**{heading}**\n"));
        }
        table.push_str("\n| flag | variable | default | what |\n|---|---|---|---|\n");
        for arg in command.get_arguments() {
            if arg.get_help_heading() != *heading || arg.is_hide_set() {
                continue;
            }
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version"].contains(&long) {
                continue;
            }
            let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
            let mut flag = if !takes_value {
                format!("--{long}")
            } else if !arg.get_possible_values().is_empty() {
                let values: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .map(|value| value.get_name().to_string())
                    .collect();
                format!("--{long} {}", values.join("|"))
            } else {
                let name = arg
                    .get_value_names()
                    .and_then(|names| names.first())
                    .map_or_else(|| arg.get_id().as_str().to_uppercase(), ToString::to_string);
                format!("--{long} {name}")
            };
            if let Some(short) = arg.get_short() {
                flag = format!("-{short}, {flag}");
            }
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            // The library's settings say their variable and default in their help text.
            let (help, said_default) = match help.split_once(" [default: ") {
                Some((what, rest)) => (
                    what.to_string(),
                    Some(rest.trim_end_matches(']').to_string()),
                ),
                None => (help.clone(), None),
            };
            let (what, said_env) = match help.split_once(" [env: ") {
                Some((what, rest)) => (
                    what.to_string(),
                    Some(rest.trim_end_matches(']').to_string()),
                ),
                None => (help, None),
            };
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|value| value.to_string_lossy().into_owned())
                .collect();
            let default = match (defaults.as_slice(), said_default) {
                ([only], _) if only == "false" && !takes_value => "off".to_string(),
                ([], Some(said)) => said,
                ([], None) => "none".to_string(),
                (values, _) => format!("`{}`", values.join(",")),
            };
            let variable = match (arg.get_env(), said_env) {
                (Some(env), _) => format!("`{}`", env.to_string_lossy()),
                (None, Some(said)) => match said.split_once(", ") {
                    Some((name, note)) => format!("`{name}` ({note})"),
                    None => format!("`{said}`"),
                },
                (None, None) => String::new(),
            };
            table.push_str(&format!(
                "| `{}` | {variable} | {} | {} |\n",
                flag.replace('|', "\\|"),
                default.replace('|', "\\|"),
                what.replace('|', "\\|"),
            ));
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_chat::{Budget, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};

    /// `UPDATE_README=1 cargo test -p bedrock-chat-cli --lib readme` writes the tables.
    #[test]
    fn the_readme_lists_every_flag_and_command_as_help_does() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let mut readme = std::fs::read_to_string(path).unwrap();
        let mut stale = Vec::new();
        for (what, table) in [
            ("serve flags", serve_flags_table()),
            ("REPL flags", repl_flags_table()),
            ("slash commands", crate::commands::commands_table()),
        ] {
            let begin = format!("<!-- {what}: generated, do not edit -->\n");
            let end = format!("<!-- end of {what} -->");
            let start = readme.find(&begin).expect("the README marks the table") + begin.len();
            let stop = readme[start..].find(&end).expect("the table ends") + start;
            if readme[start..stop] != table {
                stale.push(what);
                readme = format!("{}{table}{}", &readme[..start], &readme[stop..]);
            }
        }
        if std::env::var_os("UPDATE_README").is_some() {
            std::fs::write(path, readme).unwrap();
            return;
        }
        assert!(
            stale.is_empty(),
            "the README's {stale:?} differ from --help and /help; run UPDATE_README=1 cargo \
             test -p bedrock-chat-cli --lib readme"
        );
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn without_flags_the_library_defaults_stand() {
        let args = Args::try_parse_from(["bedrock-chat"]).unwrap();
        let config = args.chat_config(ChatConfig::new()).unwrap();
        assert_eq!(config.connection.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(config.connection.read_timeout, DEFAULT_READ_TIMEOUT);
        assert_eq!(config.session, ChatConfig::new().session);
    }

    #[test]
    fn flags_apply_over_the_environment() {
        let base = ChatConfig::new()
            .model_id("from-env")
            .system_prompt("env prompt");
        let args =
            Args::try_parse_from(["bedrock-chat", "-m", "from-flag", "--budget", "2"]).unwrap();
        let config = args.chat_config(base).unwrap();
        assert_eq!(config.session.model_id, "from-flag");
        assert_eq!(config.session.system_prompt.as_deref(), Some("env prompt"));
        assert_eq!(config.session.budget, Some(Budget::warn(2.0)));
    }

    #[test]
    fn bad_values_name_the_flag_and_negative_numbers_are_values() {
        let args = Args::try_parse_from(["bedrock-chat", "--temperature", "hot"]).unwrap();
        let error = args.chat_config(ChatConfig::new()).unwrap_err();
        assert!(error.to_string().contains("--temperature"), "{error}");
        let args = Args::try_parse_from(["bedrock-chat", "--budget", "-3"]).unwrap();
        let error = args.chat_config(ChatConfig::new()).unwrap_err();
        assert!(error.to_string().contains("at least 0"), "{error}");
    }
}
