//! `ChatSession`: a conversation with a model, one turn at a time.
//!
//! - `mod.rs`: the session and what can be asked of it between turns;
//! - `turn.rs`: the turn engine (context, budget, retries, overflow recovery, commit);
//! - `streamed_turn.rs`: a streamed turn, committed when read to its end;
//! - `call.rs`: one request to the model (straight to a `BedrockClient`, else through the trait);
//! - `stateless.rs`: one request with retries and no session (`converse_once`);
//! - `builder.rs`: `ChatSessionBuilder`;
//! - `saved.rs`, `usage.rs`, `notice.rs`: saved conversations, usage and cost, notices.

mod builder;
mod call;
mod counting;
mod grounding;
mod markdown;
mod notice;
mod saved;
mod stateless;
mod streamed_turn;
mod structured_turn;
mod turn;
mod usage;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use builder::ChatSessionBuilder;
pub use counting::TokenCount;
pub use notice::{Notice, NoticeObserver};
pub use saved::{
    CONVERSATION_FORMAT_VERSION, MAX_CONVERSATION_FILE_BYTES, MAX_TITLE_CHARS, SavedConversation,
};
pub use stateless::{converse_once, converse_stream_once, estimate_usage};
pub use streamed_turn::ChatStream;
pub use usage::{SessionCost, SessionUsage, TurnUsage};

use crate::attachment::Attachment;
use crate::budget::Budget;
use crate::client::ModelClient;
use crate::context::{ContextPolicy, TokenEstimator};
use crate::error::{Error, Result};
use crate::message::{Message, check_control_characters};
use crate::pricing::{ModelPrice, PriceTable};
use crate::request::{InferenceConfig, check_model_id, check_thinking};
use crate::response::{ChatResponse, TokenUsage};
use crate::retrieval::Retriever;
use crate::retry::{RetryObserver, RetryPolicy};
use crate::settings::SessionSettings;
use crate::tools::{Tool, Toolbox};

/// A conversation with Claude: the history, the system prompt, the model and its settings, and
/// the client that carries each turn.
///
/// Every turn sends the conversation so far plus the new message, as context (by default the
/// newest exchanges within 150,000 input tokens; see [`ContextPolicy`]), and appends the reply. The history changes only when a turn succeeds: a turn that fails, is rejected, or is
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
    /// The client, kept as itself when it is the library's own `BedrockClient` (see `call.rs`).
    client: call::SessionClient,
    settings: SessionSettings,
    on_retry: Option<RetryObserver>,
    on_notice: Option<NoticeObserver>,
    estimator: TokenEstimator,
    history: Vec<Message>,
    /// The message list of the last committed turn's request (whole or streamed), kept for the
    /// next one: it sends the same history and a little more, so the list is extended rather
    /// than built again. Building it clones every message sent (a reference count up, and down
    /// when the request is dropped), and on a long conversation those two walks over the
    /// history's messages were most of what a turn cost beyond the bare SDK (perf, 1,000
    /// messages: about 130 us of a 6 ms turn). Compared with the history by pointer before reuse
    /// (`turn::message_list`); `undo`, `reset` and loading let go of what they remove.
    last_sent: Vec<Message>,
    usage: SessionUsage,
    /// What the priced turns cost so far, in US dollars.
    spent_usd: f64,
    /// `settings.model_id` as every request needs it: shared rather than copied into each one,
    /// and with its price looked up once rather than every turn (the lookup is a substring
    /// search of the price table). Only `set_model` changes the model, so these always match it.
    model: Arc<str>,
    model_price: Option<ModelPrice>,
    /// Where this conversation's turns begin in `usage`, and the tokens it had used before
    /// (in the file it was loaded from), so a snapshot carries the conversation's whole usage.
    conversation_start: ConversationStart,
    /// The title the user gave the conversation; `None` for the automatic one.
    title: Option<String>,
    /// The tools the model may call; shared with a streamed turn's tool calls.
    tools: Arc<Toolbox>,
    /// Whether the history came (built or loaded) with tool blocks: without tools, only such a
    /// history needs a `toolConfig` (see `Toolbox::config`). The model cannot call tools a
    /// request does not declare, so turns add tool blocks only where this is already true.
    loaded_tool_blocks: bool,
    max_tool_rounds: u32,
    /// Finds the passages each new question is given with, if the session has a knowledge base.
    retriever: Option<Arc<dyn Retriever>>,
    /// The shape the turn under way must answer in, set by each turn as it starts (so a
    /// structured turn that was cancelled leaves nothing behind for the next).
    structured: Option<structured_turn::StructuredTurn>,
    /// Bedrock refused `outputConfig` for this model: structured turns use a tool call.
    output_config_refused: bool,
    /// The client could not count tokens (`CountTokens` refused for the model): estimates only,
    /// until the model changes.
    count_refused: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct ConversationStart {
    turn: usize,
    earlier: TokenUsage,
}

impl ChatSession {
    /// Starts building a session that talks through `client`.
    pub fn builder(client: impl ModelClient + 'static) -> ChatSessionBuilder {
        ChatSessionBuilder::new(call::SessionClient::new(client))
    }

    // --- turns ---------------------------------------------------------------------------------

    /// Sends a user message with the conversation so far as context (all of it, or what the
    /// [`ContextPolicy`] allows), waits for the whole reply, and appends both to the history.
    ///
    /// Empty or whitespace-only text is rejected before any request. Retryable failures are
    /// retried under the session's [`RetryPolicy`]. On any error the history is unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for empty text, control characters or more than
    /// [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES) (no request is sent);
    /// [`Error::BudgetExceeded`] when a refusing budget would be passed; otherwise the error of the
    /// last attempt ([`Error::is_retryable`] says whether sending again later may work), or
    /// [`Error::EmptyReply`].
    pub async fn send(&mut self, text: impl Into<String>) -> Result<ChatResponse> {
        let user = self.grounded(user_message(text.into())?).await?;
        self.run_turn(self.history.len(), user).await
    }

    /// Like [`send`](Self::send), with images and documents ([`Attachment`]s) before the text.
    /// The text may be empty when there are only images.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); [`Error::InvalidInput`] when the attachments are over Bedrock's
    /// per-message limits (20 images, 5 documents) or a document comes without text.
    pub async fn send_with(
        &mut self,
        text: impl Into<String>,
        attachments: Vec<Attachment>,
    ) -> Result<ChatResponse> {
        let user = self
            .grounded(user_message_with(text.into(), attachments)?)
            .await?;
        self.run_turn(self.history.len(), user).await
    }

    /// Like [`send_streaming`](Self::send_streaming), with attachments; see
    /// [`send_with`](Self::send_with).
    ///
    /// # Errors
    ///
    /// As [`send_with`](Self::send_with) and [`send_streaming`](Self::send_streaming).
    pub async fn send_streaming_with(
        &mut self,
        text: impl Into<String>,
        attachments: Vec<Attachment>,
    ) -> Result<ChatStream<'_>> {
        let user = self
            .grounded(user_message_with(text.into(), attachments)?)
            .await?;
        self.start_stream(self.history.len(), user).await
    }

    /// Sends a user message and streams the reply.
    ///
    /// This returns once the first piece of text has arrived (retrying, under the policy, any
    /// failure before that), or with the error that ended the attempts. The reply and the message
    /// are appended to the history when the stream has been read to its end; dropping the stream
    /// earlier abandons the turn and leaves the history unchanged.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), for what happens before the first text; a failure after it is the
    /// stream's last item ([`Error::StreamInterrupted`]).
    pub async fn send_streaming(&mut self, text: impl Into<String>) -> Result<ChatStream<'_>> {
        let user = self.grounded(user_message(text.into())?).await?;
        self.start_stream(self.history.len(), user).await
    }

    /// Sends the last user message again and replaces its reply. On error the history, the old
    /// reply included, is unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when there is no exchange to retry; otherwise as
    /// [`send`](Self::send).
    pub async fn retry(&mut self) -> Result<ChatResponse> {
        let (keep, user) = self.last_exchange_for_retry()?;
        self.run_turn(keep, user).await
    }

    /// Like [`retry`](Self::retry), streaming the new reply.
    ///
    /// # Errors
    ///
    /// As [`retry`](Self::retry) and [`send_streaming`](Self::send_streaming).
    pub async fn retry_streaming(&mut self) -> Result<ChatStream<'_>> {
        let (keep, user) = self.last_exchange_for_retry()?;
        self.start_stream(keep, user).await
    }

    /// Replaces the text of the last user message with `text` (its images and documents are
    /// kept), sends it, and replaces the reply: what "edit and resend" does in a chat page. On
    /// error the history, the old exchange included, is unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when there is no exchange to edit or the text is not a message
    /// [`send`](Self::send) would take; otherwise as [`send`](Self::send).
    pub async fn edit(&mut self, text: impl Into<String>) -> Result<ChatResponse> {
        let (keep, user) = self.last_exchange_edited(text.into())?;
        let user = self.grounded(user).await?;
        self.run_turn(keep, user).await
    }

    /// Like [`edit`](Self::edit), streaming the new reply.
    ///
    /// # Errors
    ///
    /// As [`edit`](Self::edit) and [`send_streaming`](Self::send_streaming).
    pub async fn edit_streaming(&mut self, text: impl Into<String>) -> Result<ChatStream<'_>> {
        let (keep, user) = self.last_exchange_edited(text.into())?;
        let user = self.grounded(user).await?;
        self.start_stream(keep, user).await
    }

    fn last_exchange_edited(&self, text: String) -> Result<(usize, Message)> {
        let Some(start) = crate::context::exchange_starts(&self.history).next_back() else {
            return Err(Error::invalid_input(
                "there is no message to edit yet; send one first",
            ));
        };
        let attachments = self.history[start].attachments().cloned().collect();
        Ok((start, user_message_with(text, attachments)?))
    }

    fn last_exchange_for_retry(&self) -> Result<(usize, Message)> {
        let Some(start) = crate::context::exchange_starts(&self.history).next_back() else {
            return Err(Error::invalid_input(
                "there is no message to retry yet; send one first",
            ));
        };
        Ok((start, self.history[start].clone()))
    }

    /// Checks a user message as [`send`](Self::send) would, without sending it: so a server can
    /// answer "bad request" before it starts a stream.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for empty text, control characters, or more than
    /// [`MAX_MESSAGE_BYTES`](crate::MAX_MESSAGE_BYTES).
    pub fn check_message(text: &str) -> Result<()> {
        check_user_text(text)
    }

    /// Checks a user message with attachments as [`send_with`](Self::send_with) would, without
    /// sending it.
    ///
    /// # Errors
    ///
    /// As [`check_message`](Self::check_message) (blank text is allowed beside images), and
    /// [`Error::InvalidInput`] for more than 20 images or 5 documents, or a document without
    /// text.
    pub fn check_message_with(text: &str, attachments: &[Attachment]) -> Result<()> {
        let has_text = !text.trim().is_empty();
        if attachments.is_empty() || has_text {
            check_user_text(text)?;
        }
        let images = attachments.iter().filter(|a| a.is_image()).count();
        crate::attachment::check_message_attachments(images, attachments.len() - images, has_text)
    }

    // --- the conversation ----------------------------------------------------------------------

    /// The conversation so far, oldest first: whole exchanges, user then assistant.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// Starts a new conversation. The settings and the usage totals are kept.
    pub fn reset(&mut self) {
        self.history.clear();
        self.title = None;
        self.last_sent = Vec::new();
        self.loaded_tool_blocks = false;
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

    /// The most tokens the next turn, with a message of `message_bytes` bytes of text, could be
    /// billed for one request: the whole history, the system prompt and the message read (as
    /// estimated from their size, leaning high), and every token of `max_tokens` (or
    /// [`DEFAULT_MAX_TOKENS`](crate::DEFAULT_MAX_TOKENS)) written. What a server reserves
    /// against a spending cap before the turn starts; a turn with tool rounds makes one such
    /// request per round.
    pub fn most_turn_usage(&self, message_bytes: usize) -> TokenUsage {
        let history: usize = self.history.iter().map(Message::size_bytes).sum();
        let system = self.settings.system_prompt.as_deref().map_or(0, str::len);
        let input = self
            .estimator
            .tokens(history + system + message_bytes, self.history.len() + 1);
        let output = self
            .settings
            .inference
            .max_tokens
            .unwrap_or(crate::settings::DEFAULT_MAX_TOKENS);
        TokenUsage::new(input, u64::from(output))
    }

    /// The tokens the current conversation had used before it was loaded, if it was.
    pub fn usage_before_loading(&self) -> TokenUsage {
        self.conversation_start.earlier
    }

    /// Removes the last exchange and returns it (the user's message, then the reply), or `None`
    /// when the conversation is empty.
    ///
    /// An exchange with tool calls is removed whole: the user's message, every tool call and
    /// result, and the final reply.
    pub fn undo(&mut self) -> Option<(Message, Message)> {
        let start = crate::context::exchange_starts(&self.history).next_back()?;
        // The last request's list (`last_sent`) ends with this exchange's messages when it was
        // the last turn: they go with it, so the list holds nothing the history does not.
        let removed = &self.history[start..];
        while self
            .last_sent
            .last()
            .is_some_and(|sent| removed.iter().any(|m| m.is_same(sent)))
        {
            self.last_sent.pop();
        }
        let reply = self.history.pop()?;
        let user = self.history.drain(start..).next()?;
        Some((user, reply))
    }

    /// How many exchanges the conversation has (a message of the user and its final reply,
    /// with any tool calls between).
    pub fn exchange_count(&self) -> usize {
        crate::context::exchange_starts(&self.history).count()
    }

    /// The title the user gave the conversation, or `None` for the automatic one (its first
    /// question). Kept in [`snapshot`](Self::snapshot)s and saved files.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// Gives the conversation a title, or with `None` goes back to the automatic one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a blank title, one with a line break or control character,
    /// or one longer than [`MAX_TITLE_CHARS`](crate::MAX_TITLE_CHARS) characters; the title is
    /// then unchanged.
    pub fn set_title(&mut self, title: Option<String>) -> Result<()> {
        if let Some(title) = &title {
            saved::check_title(title)?;
        }
        self.title = title;
        Ok(())
    }

    /// Replaces the tools the model may call (the choice and timeout stay): for tools that come
    /// and go while a session lasts, such as an MCP server's after it says its list changed.
    /// The conversation is kept; calls of tools no longer offered, in its history, stay valid.
    ///
    /// # Errors
    ///
    /// As [`ChatSessionBuilder::tool`]'s build: a tool whose spec Bedrock would refuse, two of
    /// one name, or a forced tool choice that names none of them; the tools are then unchanged.
    pub fn set_tools(&mut self, tools: Vec<Arc<dyn Tool>>) -> Result<()> {
        let mut toolbox = Toolbox::new(self.tools.choice.clone(), self.tools.timeout);
        for tool in tools {
            toolbox.register(tool)?;
        }
        toolbox.validate()?;
        // Without tools, a history that holds tool blocks still needs a `toolConfig`: the
        // earlier tools' calls may be in it.
        if toolbox.specs().next().is_none() {
            self.loaded_tool_blocks |= self.history.iter().any(Message::has_tool_blocks);
        }
        self.tools = Arc::new(toolbox);
        Ok(())
    }

    /// The names of the tools the model may call now.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools.specs().map(|spec| spec.name.clone()).collect()
    }

    /// Tokens used by every successful turn of this session, per turn and in total.
    pub fn usage(&self) -> &SessionUsage {
        &self.usage
    }

    /// What the session's turns cost at its prices.
    pub fn cost(&self) -> SessionCost {
        self.usage.cost(&self.settings.prices)
    }

    /// The prices the session computes cost with.
    pub fn prices(&self) -> &PriceTable {
        &self.settings.prices
    }

    /// The context-window policy.
    pub fn context_policy(&self) -> ContextPolicy {
        self.settings.context_policy
    }

    /// Changes the context-window policy for the following turns.
    pub fn set_context_policy(&mut self, policy: ContextPolicy) {
        self.settings.context_policy = policy;
    }

    /// The budget, if any.
    pub fn budget(&self) -> Option<Budget> {
        self.settings.budget
    }

    // --- settings ------------------------------------------------------------------------------

    /// The model (or inference profile) id turns are sent to.
    pub fn model_id(&self) -> &str {
        &self.settings.model_id
    }

    /// Switches the model for the following turns. The conversation is kept.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty id; the model is then unchanged.
    pub fn set_model_id(&mut self, model_id: impl Into<String>) -> Result<()> {
        let model_id = model_id.into();
        check_model_id(&model_id)?;
        self.set_model(model_id);
        Ok(())
    }

    /// The one place the model of a built session changes.
    fn set_model(&mut self, model_id: String) {
        if model_id != self.settings.model_id {
            self.output_config_refused = false;
            self.count_refused = false;
        }
        self.model_price = self.settings.prices.price_for(&model_id);
        self.model = Arc::from(model_id.as_str());
        self.settings.model_id = model_id;
    }

    /// Where this session's requests go.
    fn route(&self) -> call::Route<'_> {
        self.client.route()
    }

    /// The price of `model_id`: the session's model's without a lookup.
    fn price_of(&self, model_id: &str) -> Option<ModelPrice> {
        if model_id == self.settings.model_id {
            self.model_price
        } else {
            self.settings.prices.price_for(model_id)
        }
    }

    /// The system prompt, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.settings.system_prompt.as_deref()
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
            check_control_characters("the system prompt", prompt)?;
        }
        self.settings.system_prompt = prompt;
        Ok(())
    }

    /// The inference settings.
    pub fn inference(&self) -> &InferenceConfig {
        &self.settings.inference
    }

    /// Replaces the inference settings, after checking them, alone and with the session's
    /// extended-thinking budget.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a value out of range, or one that extended thinking does not
    /// allow (max tokens at or below the thinking budget, a temperature or top-p); the settings
    /// are then unchanged.
    pub fn set_inference(&mut self, inference: InferenceConfig) -> Result<()> {
        inference.validate()?;
        check_thinking(self.settings.thinking_budget, &inference)?;
        self.settings.inference = inference;
        Ok(())
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.settings.retry_policy
    }

    /// All the session's settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    // --- saving --------------------------------------------------------------------------------

    /// The conversation and its settings, ready to be saved.
    pub fn snapshot(&self) -> SavedConversation {
        SavedConversation::new(
            self.title.clone(),
            self.settings.model_id.clone(),
            self.settings.system_prompt.clone(),
            self.settings.inference.clone(),
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
    /// [`SavedConversation::validate`]), or when its inference settings are ones the session's
    /// extended-thinking budget does not allow.
    pub fn restore(&mut self, saved: SavedConversation) -> Result<()> {
        saved.validate()?;
        check_thinking(self.settings.thinking_budget, saved.inference())?;
        let parts = saved.into_parts();
        self.title = parts.title;
        self.set_model(parts.model_id);
        self.settings.system_prompt = parts.system_prompt.filter(|p| !p.trim().is_empty());
        self.settings.inference = parts.inference;
        self.loaded_tool_blocks = parts.messages.iter().any(Message::has_tool_blocks);
        self.history = parts.messages;
        self.last_sent = Vec::new();
        self.conversation_start = ConversationStart {
            turn: self.usage.turns().len(),
            earlier: parts.usage,
        };
        Ok(())
    }

    /// Saves the conversation as versioned JSON. The file is replaced atomically and readable
    /// only by its owner.
    ///
    /// # Errors
    ///
    /// [`Error::ConversationFile`] when `path` holds something other than a saved conversation, or
    /// cannot be written; see [`SavedConversation::write`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.snapshot().write(path.as_ref())
    }

    /// Loads a conversation saved by [`save`](Self::save). On error the session is unchanged.
    /// See [`restore`](Self::restore).
    ///
    /// # Errors
    ///
    /// [`Error::ConversationFile`] saying what is wrong with the file; see
    /// [`SavedConversation::read`].
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let saved = SavedConversation::read(path.as_ref())?;
        self.restore(saved)
    }
}

impl fmt::Debug for ChatSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatSession")
            .field("settings", &self.settings)
            .field("messages", &self.history.len())
            .field("usage", &self.usage.total())
            .finish_non_exhaustive()
    }
}

/// Checks the user's text and makes it a message.
///
/// Control characters other than tab and line breaks are refused: they are almost always pasted
/// terminal escapes or binary data, and the model cannot do anything useful with them.
fn user_message(text: String) -> Result<Message> {
    check_user_text(&text)?;
    Ok(Message::user(text))
}

/// Checks the user's text and attachments and makes them a message. With attachments the text
/// may be blank, and blank text is then left out (Bedrock refuses a blank text block): an image
/// alone is a question.
fn user_message_with(mut text: String, attachments: Vec<Attachment>) -> Result<Message> {
    ChatSession::check_message_with(&text, &attachments)?;
    if text.trim().is_empty() {
        text.clear();
    }
    Ok(Message::user_with_attachments(text, attachments))
}

fn check_user_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid_input(
            "the message is empty; type something to send",
        ));
    }
    if text.len() > crate::MAX_MESSAGE_BYTES {
        return Err(Error::invalid_input(format!(
            "the message is {} bytes long, more than the {} a request may carry; shorten it or split it",
            text.len(),
            crate::MAX_MESSAGE_BYTES
        )));
    }
    check_control_characters("the message", text)
}
