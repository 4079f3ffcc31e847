//! `ChatSessionBuilder`: a session's settings, observers and starting history.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::call::SessionClient;
use super::{ChatSession, ConversationStart};
use crate::budget::Budget;
use crate::context::{ContextPolicy, TokenEstimator};
use crate::error::Result;
use crate::guardrail::GuardrailConfig;
use crate::message::{Message, check_conversation_text};
use crate::pricing::PriceTable;
use crate::request::{Ending, InferenceConfig, validate_conversation};
use crate::retrieval::Retriever;
use crate::retry::{RetryNotice, RetryPolicy};
use crate::session::notice::Notice;
use crate::session::usage::SessionUsage;
use crate::settings::SessionSettings;
use crate::structured::StructuredMode;
use crate::tier::{CacheTtl, Latency, ServiceTier};
use crate::tool_spec::ToolChoice;
use crate::tools::{DEFAULT_MAX_TOOL_ROUNDS, Tool, Toolbox};

/// Builds a [`ChatSession`]. Made by [`ChatSession::builder`].
///
/// Every setter writes into one [`SessionSettings`]; [`settings`](Self::settings) replaces them
/// all at once (as [`ChatConfig::session_builder`](crate::ChatConfig::session_builder) does).
/// Values are checked once, in [`build`](Self::build).
#[must_use]
pub struct ChatSessionBuilder {
    client: SessionClient,
    settings: SessionSettings,
    on_retry: Option<crate::retry::RetryObserver>,
    on_notice: Option<super::NoticeObserver>,
    history: Vec<Message>,
    tools: Vec<Arc<dyn Tool>>,
    tool_choice: ToolChoice,
    tool_timeout: Option<Duration>,
    max_tool_rounds: u32,
    retriever: Option<Arc<dyn Retriever>>,
}

impl ChatSessionBuilder {
    pub(super) fn new(client: SessionClient) -> Self {
        ChatSessionBuilder {
            client,
            settings: SessionSettings::default(),
            on_retry: None,
            on_notice: None,
            history: Vec::new(),
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            tool_timeout: None,
            max_tool_rounds: DEFAULT_MAX_TOOL_ROUNDS,
            retriever: None,
        }
    }

    /// Grounds every new question in passages `retriever` finds (a Bedrock knowledge base, or a
    /// search of your own): they go to the model with the question as search results to cite, and
    /// the reply's words come back as [`CitedText`](crate::CitedText) with their
    /// [`Citation`](crate::Citation)s. A failed search fails the turn before the model is asked.
    /// Default is none.
    pub fn retriever(mut self, retriever: impl Retriever + 'static) -> Self {
        self.retriever = Some(Arc::new(retriever));
        self
    }

    /// Asks for the service tier on every request: [`ServiceTier::Flex`] for half the price
    /// when the answer can wait, [`ServiceTier::Priority`] to be served first at a premium.
    /// Usage reports the tier Bedrock served, and cost is priced at it. Default is none
    /// (Bedrock's default tier).
    pub fn service_tier(mut self, tier: ServiceTier) -> Self {
        self.settings.service_tier = Some(tier);
        self
    }

    /// Asks for latency-optimised inference (`performanceConfig`) on models and regions that
    /// offer it, priced a quarter higher. Default is none (standard).
    pub fn latency(mut self, latency: Latency) -> Self {
        self.settings.latency = Some(latency);
        self
    }

    /// How long prompt-cache entries live ([`CacheTtl::OneHour`] for conversations with long
    /// pauses: a write costs twice an input token rather than 1.25 times). Has an effect with
    /// [`prompt_caching`](Self::prompt_caching) on. Default is five minutes.
    pub fn cache_ttl(mut self, ttl: CacheTtl) -> Self {
        self.settings.cache_ttl = ttl;
        self
    }

    /// How [`ChatSession::send_structured`] asks for a reply of a schema. Default is
    /// [`StructuredMode::Auto`].
    pub fn structured_mode(mut self, mode: StructuredMode) -> Self {
        self.settings.structured_mode = mode;
        self
    }

    /// Asks the model to cite the documents of every request ([`Attachment`](crate::Attachment)s
    /// sent with [`ChatSession::send_with`]): the reply's words that come from one carry
    /// [`Citation`](crate::Citation)s of its pages or characters, and
    /// [`ChatResponse::sources`](crate::ChatResponse::sources) lists them. Default is off.
    pub fn cite_documents(mut self, on: bool) -> Self {
        self.settings.cite_documents = on;
        self
    }

    /// Asks Bedrock for the exact input-token count of each request before sending it
    /// (`CountTokens`, free but one more round trip), for the context policy's token budget and
    /// the spending budget, instead of the estimate from earlier turns; the estimate remains
    /// when the count fails or the model cannot count. Default is off.
    pub fn exact_token_counts(mut self, on: bool) -> Self {
        self.settings.exact_token_counts = on;
        self
    }

    /// Registers a tool the model may call. A turn then runs the whole tool loop: when the
    /// model asks for tools, the session calls them (several at once when the model asks for
    /// several), sends their results back, and goes on until the model answers. Default is no
    /// tools.
    ///
    /// A name Bedrock would refuse, or one already taken, fails [`build`](Self::build).
    pub fn tool(mut self, tool: impl Tool + 'static) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    /// Sets how the model must choose among the tools on the first request of each turn
    /// (later requests of the turn are always [`ToolChoice::Auto`], or the model could never
    /// finish). Default is [`ToolChoice::Auto`].
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = choice;
        self
    }

    /// Sets how long one tool call may take before it is stopped and its result is an error
    /// the model is told about. Default is [`DEFAULT_TOOL_TIMEOUT`](crate::DEFAULT_TOOL_TIMEOUT)
    /// (60 s).
    pub fn tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = Some(timeout);
        self
    }

    /// Sets how many rounds of tool calls one turn may take; past it the turn fails with
    /// [`Error::ToolRoundsExceeded`](crate::Error::ToolRoundsExceeded) and the history is as
    /// before the turn. Default is [`DEFAULT_MAX_TOOL_ROUNDS`] (8).
    pub fn max_tool_rounds(mut self, rounds: u32) -> Self {
        self.max_tool_rounds = rounds;
        self
    }

    /// Replaces every setting. Default is [`SessionSettings::default`].
    pub fn settings(mut self, settings: SessionSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets the model or inference profile id. Default is
    /// [`DEFAULT_MODEL_ID`](crate::DEFAULT_MODEL_ID).
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.settings.model_id = model_id.into();
        self
    }

    /// Sets the system prompt; a blank one means none. Default is none.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.settings.system_prompt = Some(prompt.into());
        self
    }

    /// Sets the inference settings. Default is a max-tokens of
    /// [`DEFAULT_MAX_TOKENS`](crate::DEFAULT_MAX_TOKENS) and the model's defaults otherwise.
    pub fn inference(mut self, inference: InferenceConfig) -> Self {
        self.settings.inference = inference;
        self
    }

    /// Sets the retry policy. Default is [`RetryPolicy::default`]: 5 retries after 2, 4, 8, 16
    /// and 32 seconds.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry_policy = policy;
        self
    }

    /// Calls `observer` before each retry, so a frontend can tell the user. Default is none
    /// (retries are still logged with `tracing` at warn level).
    pub fn on_retry(mut self, observer: impl Fn(&RetryNotice<'_>) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(observer));
        self
    }

    /// Calls `observer` with each [`Notice`]: context trimmed, budget warnings. Default is none
    /// (notices are still logged with `tracing` at info level).
    pub fn on_notice(mut self, observer: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        self.on_notice = Some(Arc::new(observer));
        self
    }

    /// Sets how much of a long conversation each turn sends. Default is
    /// [`ContextPolicy::default`]: a budget of 150,000 input tokens.
    pub fn context_policy(mut self, policy: ContextPolicy) -> Self {
        self.settings.context_policy = policy;
        self
    }

    /// Sets the prices cost is computed with. Default is [`PriceTable::builtin`].
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.settings.prices = prices;
        self
    }

    /// Sets a spending limit. Default is none.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.settings.budget = Some(budget);
        self
    }

    /// Places prompt-cache points in each request where they pay off (after the tools, the
    /// system prompt and the conversation so far, once each is past the model's minimum
    /// cacheable length; see [`CachePoints`](crate::CachePoints)), so later turns read the
    /// unchanged start of the conversation from Bedrock's cache at a tenth of the input price.
    /// Usage then reports cache reads and writes, priced at their own rates. Default is off.
    pub fn prompt_caching(mut self, on: bool) -> Self {
        self.settings.prompt_caching = on;
        self
    }

    /// Applies an Amazon Bedrock guardrail to every request and reply. A reply it stops ends
    /// with [`StopReason::GuardrailIntervened`](crate::StopReason::GuardrailIntervened) and the
    /// guardrail's message as its text, and
    /// [`ChatResponse::guardrail_trace`](crate::ChatResponse::guardrail_trace) says what it
    /// found. That exchange is returned but not kept in the history (its tokens are counted):
    /// kept, the blocked content would be sent, and blocked, again with every later turn.
    /// Default is none.
    pub fn guardrail(mut self, guardrail: GuardrailConfig) -> Self {
        self.settings.guardrail = Some(guardrail);
        self
    }

    /// Lets the model reason before it answers (extended thinking), in up to `budget` tokens (at
    /// least 1,024, and below max tokens, which the reasoning and the answer share). Streamed,
    /// the reasoning arrives as [`StreamEvent::ReasoningDelta`](crate::StreamEvent::ReasoningDelta)s
    /// before the answer; it is kept in the history with its signature, as Bedrock requires when
    /// tools are used, and is not part of the reply's [`text`](crate::ChatResponse::text).
    /// Default is off.
    pub fn thinking_budget(mut self, budget: u32) -> Self {
        self.settings.thinking_budget = Some(budget);
        self
    }

    /// Starts from an existing conversation of whole exchanges. Default is empty.
    pub fn history(mut self, history: Vec<Message>) -> Self {
        self.history = history;
        self
    }

    /// Checks the settings and the history, and builds the session.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) or
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a setting out of range (see
    /// [`SessionSettings::validate`]) or a history that is not whole, alternating exchanges of
    /// plain text.
    pub fn build(mut self) -> Result<ChatSession> {
        self.settings.normalise();
        self.settings.validate()?;
        validate_conversation(&self.history, Ending::Assistant)?;
        check_conversation_text(&self.history)?;
        let mut toolbox = Toolbox::new(self.tool_choice, self.tool_timeout);
        for tool in self.tools {
            toolbox.register(tool)?;
        }
        toolbox.validate()?;
        if self.max_tool_rounds == 0 {
            return Err(crate::Error::invalid_input(
                "max tool rounds must be at least 1",
            ));
        }
        Ok(ChatSession {
            loaded_tool_blocks: self.history.iter().any(Message::has_tool_blocks),
            model: Arc::from(self.settings.model_id.as_str()),
            model_price: self.settings.prices.price_for(&self.settings.model_id),
            client: self.client,
            settings: self.settings,
            on_retry: self.on_retry,
            on_notice: self.on_notice,
            estimator: TokenEstimator::default(),
            history: self.history,
            last_sent: Vec::new(),
            usage: SessionUsage::default(),
            spent_usd: 0.0,
            conversation_start: ConversationStart::default(),
            title: None,
            tools: Arc::new(toolbox),
            max_tool_rounds: self.max_tool_rounds,
            retriever: self.retriever,
            structured: None,
            output_config_refused: false,
            count_refused: false,
        })
    }
}

impl fmt::Debug for ChatSessionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatSessionBuilder")
            .field("settings", &self.settings)
            .field("history", &self.history.len())
            .finish_non_exhaustive()
    }
}
