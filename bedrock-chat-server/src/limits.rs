//! Every limit of the server, declared once with its default: the CLI's flags, the stores the
//! CLI builds and the admission of every turn read them from here.

use std::time::Duration;

/// The server's limits. Every field has a default that suits a small public deployment; the
/// per-visitor limits are per cookie *and* per client address, so a new cookie resets nothing.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest request body of the browser chat's API but messages. Default is 1 MiB plus
    /// room for JSON.
    pub body_bytes: usize,
    /// The largest body of a message (`/messages`, `/edit`) with its attachments, which arrive
    /// as base64, a third larger than the files. Default is the largest conversation kept plus
    /// room for JSON: a larger message could never be saved.
    pub message_body_bytes: usize,
    /// Files (images and documents) one visitor, and one client address, may attach per hour.
    /// Default is 60.
    pub attachments_per_hour: u32,
    /// Searches of their conversations (`?q=`, which reads every one of them) one visitor, and
    /// one client address, may make per minute. Default is 30.
    pub searches_per_minute: u32,
    /// Tool calls one reply may make (over its tool rounds); past it, calls fail and the model
    /// is told to answer with what it has. Default is 10.
    pub tool_calls_per_turn: u32,
    /// Tool calls one visitor, and one client address, may cause per minute. Default is 30.
    pub tool_calls_per_minute: u32,
    /// The largest request body of the OpenAI-compatible API, whose callers send the whole
    /// conversation, images included (as base64 `data:` URLs, a third larger than the image).
    /// Default is 20 MiB: several images at Bedrock's 3.75 MB limit.
    pub openai_body_bytes: usize,
    /// Messages (turns) one visitor (cookie, or API key) may send per minute. Default is 20.
    pub turns_per_minute: u32,
    /// Messages one client address may send per minute, over all its cookies. Default is 60.
    pub address_turns_per_minute: u32,
    /// Messages the whole server (every instance, on a shared store) takes per minute. Default
    /// is 600.
    pub server_turns_per_minute: u32,
    /// Conversations one client address (and one visitor) may create per hour. Default is 60.
    pub conversations_per_hour: u32,
    /// Replies being written at once, over all clients (every instance, on a shared store).
    /// Default is 64.
    pub concurrent_turns: usize,
    /// Replies being written at once for one client address: with the server's 64, sixteen
    /// addresses at least are needed to take them all. Default is 4.
    pub concurrent_turns_per_address: usize,
    /// Replies being written at once for one visitor. Default is 2.
    pub concurrent_turns_per_visitor: usize,
    /// US dollars one visitor may spend per UTC day; `None` for no cap. Default is $5.
    pub client_daily_usd: Option<f64>,
    /// US dollars one client address may spend per UTC day, over all its cookies; `None` for
    /// no cap. Default is $10.
    pub address_daily_usd: Option<f64>,
    /// US dollars the whole server may spend per UTC day; `None` for no cap. Default is none
    /// here; `bedrock-chat serve` sets [`PUBLIC_SERVER_DAILY_USD`] on any address but loopback.
    pub server_daily_usd: Option<f64>,
    /// How long a conversation is kept after its last use. Default is 24 hours.
    pub conversation_ttl: Duration,
    /// Conversations one visitor keeps (the oldest goes). Default is 100.
    pub conversations_per_client: usize,
    /// Conversations the store keeps in all (the whole deployment, on a shared store). Default
    /// is 100,000.
    pub max_conversations: usize,
    /// The largest conversation kept, as JSON bytes. Default is 8 MiB.
    pub conversation_bytes: usize,
    /// The longest time to the response head of any request. Streams are not limited once
    /// they have started. Default is 30 seconds.
    pub request_timeout: Duration,
    /// The longest time a client may take to send a request's headers (and, on a keep-alive
    /// connection, to begin its next request). Default is 10 seconds.
    pub header_read_timeout: Duration,
    /// The longest time a client may take to send a request's body. Default is 30 seconds.
    pub body_read_timeout: Duration,
    /// The longest a response may wait for the client to read any of it before the connection
    /// is closed: a client that stops reading cannot hold a connection (and the response
    /// buffered for it). Default is 30 seconds.
    pub write_stall_timeout: Duration,
    /// Connections open at once; past it, new ones wait to be accepted. Default is 512.
    pub max_connections: usize,
    /// Connections open at once from one address (not applied to trusted proxies, which carry
    /// many clients). Default is 32.
    pub max_connections_per_address: usize,
}

/// The server-wide daily cap `bedrock-chat serve` applies when it listens on an address other
/// than loopback and the operator set none: $50.
pub const PUBLIC_SERVER_DAILY_USD: f64 = 50.0;

impl Limits {
    /// No limit on rates, spending, replies at once, conversations or connections (bodies,
    /// conversations' size and the timeouts stay bounded): for a server that only trusted
    /// callers reach, and for benchmarks that measure the server rather than its limits.
    pub fn unlimited() -> Self {
        Limits {
            turns_per_minute: u32::MAX,
            address_turns_per_minute: u32::MAX,
            server_turns_per_minute: u32::MAX,
            conversations_per_hour: u32::MAX,
            attachments_per_hour: u32::MAX,
            searches_per_minute: u32::MAX,
            tool_calls_per_turn: u32::MAX,
            tool_calls_per_minute: u32::MAX,
            concurrent_turns: usize::MAX,
            concurrent_turns_per_address: usize::MAX,
            concurrent_turns_per_visitor: usize::MAX,
            client_daily_usd: None,
            address_daily_usd: None,
            server_daily_usd: None,
            max_connections: usize::MAX,
            max_connections_per_address: usize::MAX,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: bedrock_chat::MAX_MESSAGE_BYTES + 64 * 1024,
            message_body_bytes: bedrock_chat::DEFAULT_MAX_CONVERSATION_BYTES + 64 * 1024,
            attachments_per_hour: 60,
            searches_per_minute: 30,
            tool_calls_per_turn: 10,
            tool_calls_per_minute: 30,
            openai_body_bytes: 20 * 1024 * 1024,
            turns_per_minute: 20,
            address_turns_per_minute: 60,
            server_turns_per_minute: 600,
            conversations_per_hour: 60,
            concurrent_turns: 64,
            concurrent_turns_per_address: 4,
            concurrent_turns_per_visitor: 2,
            client_daily_usd: Some(5.0),
            address_daily_usd: Some(10.0),
            server_daily_usd: None,
            conversation_ttl: bedrock_chat::DEFAULT_TTL,
            conversations_per_client: bedrock_chat::DEFAULT_MAX_PER_OWNER,
            max_conversations: bedrock_chat::DEFAULT_MAX_CONVERSATIONS,
            conversation_bytes: bedrock_chat::DEFAULT_MAX_CONVERSATION_BYTES,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_stall_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_connections_per_address: 32,
        }
    }
}
