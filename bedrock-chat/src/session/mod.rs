//! `ChatSession`: a conversation with a model, one turn at a time.

mod notice;
mod saved;
mod stream;
mod usage;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use notice::{Budget, Notice, NoticeObserver};
pub use saved::{CONVERSATION_FORMAT_VERSION, SavedConversation};
pub use stream::ChatStream;
pub use usage::{SessionCost, SessionUsage, TurnUsage};

use crate::client::ModelClient;
use crate::config::{ChatConfig, DEFAULT_MODEL_ID};
use crate::context::{ContextPolicy, TokenEstimator, first_sent, shrink};
use crate::error::ServiceDetails;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::pricing::PriceTable;
use crate::request::{ChatRequest, InferenceConfig};
use crate::response::StopReason;
use crate::response::{ChatResponse, TokenUsage};
use crate::retry::{RetryNotice, RetryObserver, RetryPolicy};

/// A conversation with Claude: the history, the system prompt, the model and its settings, and
/// the client that carries each turn.
///
/// Every turn sends the whole conversation so far plus the new message, as context, and appends
/// the reply. The history changes only when a turn succeeds: a turn that fails, is rejected, or is
/// cancelled (its future or its stream dropped) leaves the history exactly as it was, so the next
/// request is always a valid conversation. Turns take `&mut self`, so one session cannot run two
/// turns at once; share a session between tasks behind a `tokio::sync::Mutex`.
///
/// Two turns of one session can never run at once; this does not compile:
///
/// ```compile_fail,E0499
/// # async fn run(mut session: bedrock_chat::ChatSession) {
/// let first = session.send("one");
/// let second = session.send("two"); // error: `session` is already borrowed mutably
/// futures::join!(first, second);
/// # }
/// ```
///
/// ```no_run
/// use bedrock_chat::{BedrockClient, ChatSession};
///
/// # async fn run() -> bedrock_chat::Result<()> {
/// let client = BedrockClient::from_env().await?;
/// let mut session = ChatSession::builder(client)
///     .system_prompt("You are terse.")
///     .build()?;
/// let reply = session.send("What is the capital of France?").await?;
/// println!("{}", reply.text());
/// let reply = session.send("And of Spain?").await?; // the first exchange is context
/// println!("{}", reply.text());
/// # Ok(())
/// # }
/// ```
pub struct ChatSession {
    client: Arc<dyn ModelClient>,
    model_id: String,
    system_prompt: Option<String>,
    inference: InferenceConfig,
    retry_policy: RetryPolicy,
    on_retry: Option<RetryObserver>,
    on_notice: Option<NoticeObserver>,
    context_policy: ContextPolicy,
    estimator: TokenEstimator,
    prices: PriceTable,
    budget: Option<Budget>,
    history: Vec<Message>,
    usage: SessionUsage,
    /// What the priced turns cost so far, in US dollars.
    spent_usd: f64,
    /// Where this conversation's turns begin in `usage`, and the tokens it had used before
    /// (in the file it was loaded from), so a snapshot carries the conversation's whole usage.
    conversation_start: ConversationStart,
}

#[derive(Clone, Copy, Debug, Default)]
struct ConversationStart {
    turn: usize,
    earlier: TokenUsage,
}

/// A request ready to send: what it holds and where its history begins.
struct Prepared {
    request: ChatRequest,
    /// The index in the history of the first message sent.
    start: usize,
}

impl ChatSession {
    /// Starts building a session that talks through `client`.
    pub fn builder(client: impl ModelClient + 'static) -> ChatSessionBuilder {
        ChatSessionBuilder::new(Arc::new(client))
    }

    /// A session with the model, system prompt, settings and retry policy of `config`.
    pub fn from_config(client: impl ModelClient + 'static, config: &ChatConfig) -> Result<Self> {
        Self::builder(client).config(config).build()
    }

    // --- turns ---------------------------------------------------------------------------------

    /// Sends a user message with the conversation so far as context (all of it, or what the
    /// [`ContextPolicy`] allows), waits for the whole reply, and appends both to the history.
    ///
    /// Empty or whitespace-only text is rejected before any request. Retryable failures are
    /// retried under the session's [`RetryPolicy`]. On any error the history is unchanged.
    pub async fn send(&mut self, text: impl Into<String>) -> Result<ChatResponse> {
        let user = user_message(text.into())?;
        self.run_turn(self.history.len(), user).await
    }

    /// Sends a user message and streams the reply.
    ///
    /// This returns once the first piece of text has arrived (retrying, under the policy, any
    /// failure before that), or with the error that ended the attempts. The reply and the message
    /// are appended to the history when the stream has been read to its end; dropping the stream
    /// earlier abandons the turn and leaves the history unchanged.
    pub async fn send_streaming(&mut self, text: impl Into<String>) -> Result<ChatStream<'_>> {
        let user = user_message(text.into())?;
        self.start_stream(self.history.len(), user).await
    }

    /// Sends the last user message again and replaces its reply. On error the history, the old
    /// reply included, is unchanged.
    pub async fn retry(&mut self) -> Result<ChatResponse> {
        let (keep, user) = self.last_exchange_for_retry()?;
        self.run_turn(keep, user).await
    }

    /// Like [`retry`](Self::retry), streaming the new reply.
    pub async fn retry_streaming(&mut self) -> Result<ChatStream<'_>> {
        let (keep, user) = self.last_exchange_for_retry()?;
        self.start_stream(keep, user).await
    }

    async fn run_turn(&mut self, keep: usize, user: Message) -> Result<ChatResponse> {
        let mut prepared = self.prepare(keep, &user, None)?;
        let mut recovered = false;
        loop {
            let client = &self.client;
            let request = &prepared.request;
            let result = self
                .retry_policy
                .run(self.on_retry.as_ref(), || client.converse(request))
                .await;
            let overflow = match &result {
                Err(error) => error.is_context_overflow(),
                Ok(response) => *response.stop_reason() == StopReason::ModelContextWindowExceeded,
            };
            if overflow {
                let error = match result {
                    Err(error) => error,
                    Ok(response) => stopped_for_context(response.request_id()),
                };
                if recovered {
                    return Err(error);
                }
                prepared = self.recover_from_overflow(keep, &user, prepared.start, error)?;
                recovered = true;
                continue;
            }
            let response = result?;
            if response.message().has_blank_content() {
                return Err(Error::EmptyReply {
                    stop_reason: response.stop_reason().clone(),
                });
            }
            self.commit(
                keep,
                user,
                response.message().clone(),
                response.usage(),
                &prepared.request,
            );
            return Ok(response);
        }
    }

    async fn start_stream(&mut self, keep: usize, user: Message) -> Result<ChatStream<'_>> {
        let mut prepared = self.prepare(keep, &user, None)?;
        let mut recovered = false;
        loop {
            let client = &self.client;
            let request = &prepared.request;
            let opened = self
                .retry_policy
                .run(self.on_retry.as_ref(), || {
                    stream::open_until_text(client.as_ref(), request)
                })
                .await;
            match opened {
                Err(error) if error.is_context_overflow() && !recovered => {
                    prepared = self.recover_from_overflow(keep, &user, prepared.start, error)?;
                    recovered = true;
                }
                Err(error) => return Err(error),
                Ok(opened) => {
                    return Ok(ChatStream::new(self, keep, user, prepared.request, opened));
                }
            }
        }
    }

    /// Builds the request for a turn that keeps the first `keep` messages of the history and
    /// adds `user`, sending what the context policy allows (or from `start`, after an overflow),
    /// and checks it and the budget.
    fn prepare(&self, keep: usize, user: &Message, start: Option<usize>) -> Result<Prepared> {
        let kept = &self.history[..keep];
        // After an overflow the caller reports the trimming itself.
        let report_trimming = start.is_none();
        let start = match start {
            Some(start) => start,
            None => first_sent(
                self.context_policy,
                kept,
                self.system_prompt.as_deref(),
                user,
                &self.estimator,
            )?,
        };
        let mut messages = Vec::with_capacity(keep - start + 1);
        messages.extend_from_slice(&kept[start..]);
        messages.push(user.clone());
        let request = ChatRequest::new(self.model_id.clone(), messages)
            .with_system(self.system_prompt.clone())
            .with_inference(self.inference.clone());
        request.validate()?;
        self.check_budget(&request)?;
        if start > 0 && report_trimming {
            self.notify(&Notice::ContextTrimmed {
                dropped_messages: start,
                sent_messages: keep - start,
                after_overflow: false,
            });
        }
        Ok(Prepared { request, start })
    }

    /// Bedrock refused the conversation as too long: send less, once, or say how to continue.
    fn recover_from_overflow(
        &mut self,
        keep: usize,
        user: &Message,
        start: usize,
        error: Error,
    ) -> Result<Prepared> {
        if self.context_policy == ContextPolicy::SendAll {
            return Err(error);
        }
        self.estimator.raise();
        let Some(start) = shrink(start, keep) else {
            return Err(error);
        };
        tracing::info!(dropped = start, "context window exceeded; sending less");
        let prepared = self.prepare(keep, user, Some(start))?;
        self.notify(&Notice::ContextTrimmed {
            dropped_messages: start,
            sent_messages: keep - start,
            after_overflow: true,
        });
        Ok(prepared)
    }

    /// Refuses, or warns about, a request that could take the session over its budget.
    fn check_budget(&self, request: &ChatRequest) -> Result<()> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        let Some(price) = self.prices.price_for(request.model_id()) else {
            return Ok(());
        };
        let input = self
            .estimator
            .tokens(request_text_bytes(request), request.messages().len());
        let output = u64::from(
            request
                .inference()
                .max_tokens
                .unwrap_or(crate::config::DEFAULT_MAX_TOKENS),
        );
        let next_turn_usd = price.cost(&crate::TokenUsage::new(input, output));
        let spent_usd = self.spent_usd;
        if spent_usd + next_turn_usd <= budget.limit_usd {
            return Ok(());
        }
        if budget.refuse {
            return Err(Error::BudgetExceeded {
                spent_usd,
                next_turn_usd,
                limit_usd: budget.limit_usd,
            });
        }
        self.notify(&Notice::BudgetWarning {
            spent_usd,
            next_turn_usd,
            limit_usd: budget.limit_usd,
        });
        Ok(())
    }

    fn notify(&self, notice: &Notice) {
        tracing::info!(%notice, "session notice");
        if let Some(observer) = &self.on_notice {
            observer(notice);
        }
    }

    fn last_exchange_for_retry(&self) -> Result<(usize, Message)> {
        let len = self.history.len();
        if len < 2 {
            return Err(Error::invalid_input(
                "there is no message to retry yet; send one first",
            ));
        }
        Ok((len - 2, self.history[len - 2].clone()))
    }

    /// Records a successful turn: the only place the history grows.
    fn commit(
        &mut self,
        keep: usize,
        user: Message,
        reply: Message,
        usage: TokenUsage,
        request: &ChatRequest,
    ) {
        let billed_input = usage.input_tokens
            + usage.cache_read_input_tokens.unwrap_or(0)
            + usage.cache_write_input_tokens.unwrap_or(0);
        self.estimator.calibrate(
            request_text_bytes(request),
            request.messages().len(),
            billed_input,
        );
        self.history.truncate(keep);
        self.history.push(user);
        self.history.push(reply);
        self.usage.record(usage, request.model_id());
        // Kept as a running sum so that checking the budget does not grow with the session.
        if let Some(price) = self.prices.price_for(request.model_id()) {
            self.spent_usd += price.cost(&usage);
        }
    }

    /// A streamed reply stopped because the context window was full: estimate more carefully
    /// next time.
    fn stream_overflowed(&mut self) {
        self.estimator.raise();
    }

    // --- the conversation ----------------------------------------------------------------------

    /// The conversation so far, oldest first: whole exchanges, user then assistant.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// Starts a new conversation. The settings and the usage totals are kept.
    pub fn reset(&mut self) {
        self.history.clear();
        self.conversation_start = ConversationStart {
            turn: self.usage.turns().len(),
            earlier: TokenUsage::default(),
        };
    }

    /// The tokens the current conversation has used: its turns in this session, plus what it
    /// had used before when it was loaded from a file (see [`restore`](Self::restore)). This is
    /// the usage a [`snapshot`](Self::snapshot) records. Turns removed with
    /// [`undo`](Self::undo) still count: Bedrock billed them.
    pub fn conversation_usage(&self) -> TokenUsage {
        let mut total = self.conversation_start.earlier;
        for turn in &self.usage.turns()[self.conversation_start.turn..] {
            total += turn.usage;
        }
        total
    }

    /// The tokens the current conversation had used before it was loaded, if it was.
    pub fn usage_before_loading(&self) -> TokenUsage {
        self.conversation_start.earlier
    }

    /// Removes the last exchange and returns it (the user's message, then the reply), or `None`
    /// when the conversation is empty.
    pub fn undo(&mut self) -> Option<(Message, Message)> {
        if self.history.len() < 2 {
            return None;
        }
        let reply = self.history.pop()?;
        let user = self.history.pop()?;
        Some((user, reply))
    }

    /// Tokens used by every successful turn of this session, per turn and in total.
    pub fn usage(&self) -> &SessionUsage {
        &self.usage
    }

    /// What the session's turns cost at its prices.
    pub fn cost(&self) -> SessionCost {
        self.usage.cost(&self.prices)
    }

    /// The prices the session computes cost with.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// The context-window policy.
    pub fn context_policy(&self) -> ContextPolicy {
        self.context_policy
    }

    /// Changes the context-window policy for the following turns.
    pub fn set_context_policy(&mut self, policy: ContextPolicy) {
        self.context_policy = policy;
    }

    /// The budget, if any.
    pub fn budget(&self) -> Option<Budget> {
        self.budget
    }

    // --- settings ------------------------------------------------------------------------------

    /// The model (or inference profile) id turns are sent to.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Switches the model for the following turns. The conversation is kept.
    pub fn set_model_id(&mut self, model_id: impl Into<String>) -> Result<()> {
        let model_id = model_id.into();
        if model_id.trim().is_empty() {
            return Err(Error::invalid_input("the model id is empty"));
        }
        self.model_id = model_id;
        Ok(())
    }

    /// The system prompt, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    /// Sets or clears the system prompt for the following turns. A blank prompt clears it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the prompt holds control characters other than tabs and
    /// line breaks; the prompt is then unchanged.
    pub fn set_system_prompt(&mut self, prompt: Option<String>) -> Result<()> {
        let prompt = prompt.filter(|p| !p.trim().is_empty());
        if let Some(prompt) = &prompt {
            crate::message::check_control_characters("the system prompt", prompt)?;
        }
        self.system_prompt = prompt;
        Ok(())
    }

    /// The inference settings.
    pub fn inference(&self) -> &InferenceConfig {
        &self.inference
    }

    /// Replaces the inference settings, after checking them.
    pub fn set_inference(&mut self, inference: InferenceConfig) -> Result<()> {
        inference.validate()?;
        self.inference = inference;
        Ok(())
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    // --- saving --------------------------------------------------------------------------------

    /// The conversation and its settings, ready to be saved.
    pub fn snapshot(&self) -> SavedConversation {
        SavedConversation::new(
            self.model_id.clone(),
            self.system_prompt.clone(),
            self.inference.clone(),
            self.history.clone(),
            self.conversation_usage(),
        )
    }

    /// Replaces the conversation, model, system prompt and settings with a saved one. On error
    /// the session is unchanged. The session's usage totals are not replaced: they count the
    /// turns this session sent. The saved file's own usage, [`SavedConversation::usage`], is kept
    /// as [`usage_before_loading`](Self::usage_before_loading) and written again by the next
    /// save, added to the turns sent since.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the conversation cannot be continued (see
    /// [`SavedConversation::validate`]).
    pub fn restore(&mut self, saved: SavedConversation) -> Result<()> {
        saved.validate()?;
        let parts = saved.into_parts();
        self.model_id = parts.model_id;
        self.system_prompt = parts.system_prompt.filter(|p| !p.trim().is_empty());
        self.inference = parts.inference;
        self.history = parts.messages;
        self.conversation_start = ConversationStart {
            turn: self.usage.turns().len(),
            earlier: parts.usage,
        };
        Ok(())
    }

    /// Saves the conversation as versioned JSON. The file is replaced atomically and readable
    /// only by its owner.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.snapshot().write(path.as_ref())
    }

    /// Loads a conversation saved by [`save`](Self::save). On error the session is unchanged.
    /// See [`restore`](Self::restore).
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let saved = SavedConversation::read(path.as_ref())?;
        self.restore(saved)
    }
}

impl fmt::Debug for ChatSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatSession")
            .field("model_id", &self.model_id)
            .field("system_prompt", &self.system_prompt)
            .field("inference", &self.inference)
            .field("retry_policy", &self.retry_policy)
            .field("context_policy", &self.context_policy)
            .field("budget", &self.budget)
            .field("messages", &self.history.len())
            .field("usage", &self.usage.total())
            .finish_non_exhaustive()
    }
}

/// Bytes of text a request carries: system prompt and messages.
fn request_text_bytes(request: &ChatRequest) -> usize {
    request.system().map_or(0, str::len)
        + request
            .messages()
            .iter()
            .map(Message::text_len)
            .sum::<usize>()
}

/// The error for a reply that stopped because the context window was full.
fn stopped_for_context(request_id: Option<&str>) -> Error {
    Error::ContextWindowExceeded {
        details: ServiceDetails::new(
            "the model stopped with model_context_window_exceeded",
            request_id.map(str::to_string),
        ),
        source: None,
    }
}

/// Checks the user's text and makes it a message.
///
/// Control characters other than tab and line breaks are refused: they are almost always pasted
/// terminal escapes or binary data, and the model cannot do anything useful with them.
fn user_message(text: String) -> Result<Message> {
    if text.trim().is_empty() {
        return Err(Error::invalid_input(
            "the message is empty; type something to send",
        ));
    }
    crate::message::check_control_characters("the message", &text)?;
    if text.len() > crate::MAX_MESSAGE_BYTES {
        return Err(Error::invalid_input(format!(
            "the message is {} bytes long, more than the {} a request may carry; shorten it or split it",
            text.len(),
            crate::MAX_MESSAGE_BYTES
        )));
    }
    Ok(Message::user(text))
}

/// Builds a [`ChatSession`]. Made by [`ChatSession::builder`].
#[must_use]
pub struct ChatSessionBuilder {
    client: Arc<dyn ModelClient>,
    model_id: String,
    system_prompt: Option<String>,
    inference: InferenceConfig,
    retry_policy: RetryPolicy,
    on_retry: Option<RetryObserver>,
    on_notice: Option<NoticeObserver>,
    context_policy: ContextPolicy,
    prices: PriceTable,
    budget: Option<Budget>,
    history: Vec<Message>,
}

impl ChatSessionBuilder {
    fn new(client: Arc<dyn ModelClient>) -> Self {
        ChatSessionBuilder {
            client,
            model_id: DEFAULT_MODEL_ID.to_string(),
            system_prompt: None,
            inference: InferenceConfig::new().max_tokens(crate::config::DEFAULT_MAX_TOKENS),
            retry_policy: RetryPolicy::default(),
            on_retry: None,
            on_notice: None,
            context_policy: ContextPolicy::default(),
            prices: PriceTable::builtin(),
            budget: None,
            history: Vec::new(),
        }
    }

    /// Takes the model id, system prompt, inference settings and retry policy from `config`.
    pub fn config(self, config: &ChatConfig) -> Self {
        let mut builder = self
            .model_id(config.model_id.clone())
            .inference(config.inference.clone())
            .retry_policy(config.retry_policy.clone())
            .context_policy(config.context_policy)
            .prices(config.prices.clone());
        builder.budget = config.budget;
        match config.system_prompt.as_deref() {
            Some(prompt) => builder.system_prompt(prompt),
            None => builder,
        }
    }

    /// Sets the model or inference profile id. Default is [`DEFAULT_MODEL_ID`].
    pub fn model_id(mut self, model_id: impl Into<String>) -> Self {
        self.model_id = model_id.into();
        self
    }

    /// Sets the system prompt. Default is none.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into()).filter(|p| !p.trim().is_empty());
        self
    }

    /// Sets the inference settings. Default is a max-tokens of
    /// [`DEFAULT_MAX_TOKENS`](crate::DEFAULT_MAX_TOKENS) and the model's defaults otherwise.
    pub fn inference(mut self, inference: InferenceConfig) -> Self {
        self.inference = inference;
        self
    }

    /// Sets the retry policy. Default is [`RetryPolicy::default`]: 5 retries after 2, 4, 8, 16
    /// and 32 seconds.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
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
        self.context_policy = policy;
        self
    }

    /// Sets the prices cost is computed with. Default is [`PriceTable::builtin`].
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Sets a spending limit. Default is none.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Starts from an existing conversation of whole exchanges. Default is empty.
    pub fn history(mut self, history: Vec<Message>) -> Self {
        self.history = history;
        self
    }

    /// Checks the settings and builds the session.
    pub fn build(self) -> Result<ChatSession> {
        if self.model_id.trim().is_empty() {
            return Err(Error::invalid_input("the model id is empty"));
        }
        if let Some(budget) = &self.budget {
            budget.validate()?;
        }
        self.inference.validate()?;
        self.retry_policy.validate()?;
        if let Some(prompt) = &self.system_prompt {
            crate::message::check_control_characters("the system prompt", prompt)?;
        }
        crate::request::validate_conversation(&self.history, crate::request::Ending::Assistant)?;
        for (index, message) in self.history.iter().enumerate() {
            crate::message::check_control_characters(
                &format!("message {index} ({})", message.role()),
                &message.text(),
            )?;
        }
        Ok(ChatSession {
            client: self.client,
            model_id: self.model_id,
            system_prompt: self.system_prompt,
            inference: self.inference,
            retry_policy: self.retry_policy,
            on_retry: self.on_retry,
            on_notice: self.on_notice,
            context_policy: self.context_policy,
            estimator: TokenEstimator::default(),
            prices: self.prices,
            budget: self.budget,
            history: self.history,
            usage: SessionUsage::default(),
            spent_usd: 0.0,
            conversation_start: ConversationStart::default(),
        })
    }
}

impl fmt::Debug for ChatSessionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatSessionBuilder")
            .field("model_id", &self.model_id)
            .field("system_prompt", &self.system_prompt)
            .field("inference", &self.inference)
            .field("retry_policy", &self.retry_policy)
            .finish_non_exhaustive()
    }
}
