//! The chat loop, over input and output abstractions so it runs the same on a terminal, in a
//! pipe, and in tests.

use std::io::{self, Write};

use bedrock_chat::{
    Attachment, CacheLookup, CachedClient, ChatSession, ContentBlock, Error, PRICES_AS_OF,
    TokenUsage, Usd,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::commands::{self, Command};
use crate::input::{Input, LineReader, read_entry};
pub use crate::interrupts::{CtrlC, Interrupts, NoInterrupts};
use crate::terminal::visible;
pub use crate::turn_view::{Options, write_error};
use crate::turn_view::{Turn, TurnEnd, Ui};

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The user quit, or the input ended.
    Done,
    /// A turn failed in pipe mode (or with `--prompt`), which stops the program.
    TurnFailed,
    /// A line of a pipe was not a valid command (an unknown `/command`, a missing argument),
    /// which stops the program as bad usage.
    UsageError,
}

/// The REPL: a session, its options and its two outputs. Replies go to `out`; status, notices
/// and errors to `err`.
pub struct Repl<O, E> {
    session: ChatSession,
    options: Options,
    out: O,
    err: E,
    notices: UnboundedReceiver<String>,
    /// The last message that failed, with its attachments, so `/retry` can send it again.
    failed_input: Option<(String, Vec<Attachment>)>,
    /// Files attached with `/attach` (or `--attach`), to go with the next message.
    attachments: Vec<Attachment>,
    /// The reply cache the session's client goes through (`--reply-cache`), if any.
    reply_cache: Option<CachedClient>,
    /// The turns (indexes into the session's usage) answered from the reply cache, with what
    /// each would have cost from the model.
    cache_hits: Vec<(usize, TokenUsage)>,
    /// Turns that asked the model through the reply cache.
    cache_misses: usize,
    /// The MCP servers whose tools the session offers, and who allows the tools to run.
    mcp: Option<(bedrock_chat::McpTools, crate::mcp::Approval)>,
    /// Where `/models` lists the region's models from.
    models_from: Option<bedrock_chat::BedrockClient>,
}

impl<O: Write + Send, E: Write + Send> Repl<O, E> {
    /// A REPL on `session`. `notices` carries the session's retry notices and other notices
    /// (see [`crate::app`], which wires `on_retry` and `on_notice` to it); they are shown on
    /// stderr.
    pub fn new(
        session: ChatSession,
        options: Options,
        out: O,
        err: E,
        notices: UnboundedReceiver<String>,
    ) -> Self {
        Repl {
            session,
            options,
            out,
            err,
            notices,
            failed_input: None,
            attachments: Vec::new(),
            reply_cache: None,
            cache_hits: Vec::new(),
            cache_misses: 0,
            mcp: None,
            models_from: None,
        }
    }

    /// Lists the models of `client`'s region for `/models` (its listing client is made when
    /// asked, not at start).
    pub fn list_models_with(&mut self, client: bedrock_chat::BedrockClient) {
        self.models_from = Some(client);
    }

    /// Offers the model the tools of `mcp`'s servers, run as `approval` allows (`--mcp-config`).
    ///
    /// # Errors
    ///
    /// A tool whose spec the session refuses (see [`ChatSession::set_tools`]).
    pub fn use_mcp(
        &mut self,
        mcp: bedrock_chat::McpTools,
        approval: crate::mcp::Approval,
    ) -> bedrock_chat::Result<()> {
        self.session.set_tools(approval.tools(&mcp))?;
        self.mcp = Some((mcp, approval));
        Ok(())
    }

    /// Stops the MCP servers (their child processes end).
    pub async fn stop_mcp(&self) {
        if let Some((mcp, _)) = &self.mcp {
            mcp.shutdown().await;
        }
    }

    /// Tells the REPL the session's client goes through `cached` (`--reply-cache`), so a turn
    /// answered from it is said to be and `/usage` counts it.
    pub fn reply_cache(&mut self, cached: CachedClient) {
        self.reply_cache = Some(cached);
    }

    /// Attaches files to the next message (`--attach`).
    pub fn attach(&mut self, attachments: Vec<Attachment>) {
        self.attachments.extend(attachments);
    }

    /// The session, for inspection after the loop.
    pub fn session(&self) -> &ChatSession {
        &self.session
    }

    /// Gives back the outputs.
    pub fn into_outputs(self) -> (O, E) {
        (self.out, self.err)
    }

    /// Runs until the input ends, the user quits, or (when not interactive) a turn fails.
    ///
    /// # Errors
    ///
    /// An I/O error reading input or writing to the outputs; a `BrokenPipe` when standard output's
    /// reader is gone before a turn (no request is then sent).
    pub async fn run(
        &mut self,
        input: &mut dyn LineReader,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<Outcome> {
        if self.options.interactive {
            writeln!(
                self.err,
                "Chatting with {} (type /help for commands, Ctrl-D to quit)",
                self.session.model_id()
            )?;
        }
        loop {
            self.show_warnings(input)?;
            let entry = match read_entry(input, self.options.interactive)? {
                Input::Line(entry) => entry,
                Input::Interrupted => continue,
                Input::Eof => return Ok(Outcome::Done),
                Input::Invalid(message) => {
                    self.error_line(&message)?;
                    if self.options.interactive {
                        continue;
                    }
                    return Ok(Outcome::TurnFailed);
                }
            };
            if entry.trim().is_empty() {
                continue;
            }
            input.remember(&entry);
            self.show_warnings(input)?;
            match self
                .execute(commands::parse(&entry), input, interrupts)
                .await?
            {
                Some(outcome) => return Ok(outcome),
                None => continue,
            }
        }
    }

    /// Sends one message and prints the reply (`--prompt`).
    ///
    /// # Errors
    ///
    /// An I/O error writing to the outputs; a `BrokenPipe` when standard output's reader is gone.
    pub async fn one_shot(
        &mut self,
        text: String,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<Outcome> {
        let attachments = std::mem::take(&mut self.attachments);
        match self.turn(Turn::Say(text, attachments), interrupts).await? {
            TurnEnd::Replied => Ok(Outcome::Done),
            TurnEnd::Failed(_) | TurnEnd::Cancelled => Ok(Outcome::TurnFailed),
        }
    }

    fn show_warnings(&mut self, input: &mut dyn LineReader) -> io::Result<()> {
        for warning in input.take_warnings() {
            writeln!(self.err, "warning: {}", visible(&warning))?;
        }
        Ok(())
    }

    /// Carries out a command; `Some` ends the loop.
    async fn execute(
        &mut self,
        command: Command,
        input: &mut dyn LineReader,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<Option<Outcome>> {
        match command {
            Command::Say(text) => {
                let attachments = std::mem::take(&mut self.attachments);
                return self.say(Turn::Say(text, attachments), interrupts).await;
            }
            Command::Retry => {
                let turn = match self.failed_input.clone() {
                    Some((text, attachments)) => Turn::Say(text, attachments),
                    None => Turn::Retry,
                };
                return self.say(turn, interrupts).await;
            }
            Command::Attach(Some(path)) => match Attachment::from_path(&path) {
                Ok(attachment) => {
                    let described = attachment.describe();
                    self.attachments.push(attachment);
                    self.info(&format!(
                        "Attached {described}; it goes with your next message ({} attached).",
                        self.attachments.len()
                    ))?;
                }
                Err(error) => return self.command_failed(&error),
            },
            Command::Attach(None) => {
                let text = if self.attachments.is_empty() {
                    "Nothing is attached; /attach PATH attaches a file to your next message."
                        .to_string()
                } else {
                    let list: Vec<String> =
                        self.attachments.iter().map(Attachment::describe).collect();
                    format!("Attached to your next message: {}", list.join(", "))
                };
                self.info(&text)?;
            }
            Command::Detach => {
                let dropped = std::mem::take(&mut self.attachments).len();
                self.info(&format!("Dropped {dropped} attachments."))?;
            }
            Command::Exit => return Ok(Some(Outcome::Done)),
            Command::Help => self.info(&commands::help())?,
            Command::Clear => {
                self.session.reset();
                self.failed_input = None;
                self.info("Started a new conversation.")?;
            }
            Command::System(None) => {
                let text = match self.session.system_prompt() {
                    Some(prompt) => format!("System prompt: {prompt}"),
                    None => "No system prompt.".to_string(),
                };
                self.info(&text)?;
            }
            Command::System(Some(prompt)) => {
                let prompt = (prompt != "-").then_some(prompt);
                let removed = prompt.is_none();
                match self.session.set_system_prompt(prompt) {
                    Ok(()) if removed => self.info("System prompt removed.")?,
                    Ok(()) => self.info("System prompt set.")?,
                    Err(error) => return self.command_failed(&error),
                }
            }
            Command::Model(None) => {
                let text = format!("Model: {}", self.session.model_id());
                self.info(&text)?;
            }
            Command::Model(Some(model)) => match self.session.set_model_id(model) {
                Ok(()) => {
                    let text = format!("Model switched to {}.", self.session.model_id());
                    self.info(&text)?;
                }
                Err(error) => self.report(&error)?,
            },
            Command::Undo => match self.session.undo() {
                Some(_) => self.info("Removed the last exchange.")?,
                None => self.info("Nothing to undo.")?,
            },
            Command::History => {
                let text = self.history_text();
                self.info(&text)?;
            }
            Command::Tools => {
                let text = crate::mcp::describe(self.mcp.as_ref().map(|(mcp, _)| mcp)).await;
                self.info(&text)?;
            }
            Command::Usage => {
                let text = self.usage_text();
                self.info(&text)?;
            }
            Command::Models => {
                let text = match &self.models_from {
                    None => "the model listing is not available here".to_string(),
                    Some(client) => match client.model_catalog().await.list().await {
                        Ok(listing) => {
                            crate::models::table(&listing, Some(self.session.model_id()))
                                .trim_end()
                                .to_string()
                        }
                        Err(error) => format!("error: {error}"),
                    },
                };
                self.info(&text)?;
            }
            Command::Tokens => {
                let text = match self.session.count_next_turn("").await {
                    Ok(count) => tokens_text(&count),
                    Err(error) => format!("error: {error}"),
                };
                self.info(&text)?;
            }
            Command::Save { path, force } => return self.save(&path, force, input),
            Command::Load(path) => return self.load(path, interrupts).await,
            Command::Invalid(message) => {
                self.error_line(&message)?;
                if !self.options.interactive {
                    return Ok(Some(Outcome::UsageError));
                }
            }
        }
        Ok(None)
    }

    /// `/save`: never over something that is not a conversation (the library refuses), and
    /// over an existing conversation only when the user says so.
    fn save(
        &mut self,
        path: &std::path::Path,
        force: bool,
        input: &mut dyn LineReader,
    ) -> io::Result<Option<Outcome>> {
        // Anything but a saved conversation is refused by the library, with its reason.
        if !force && path.exists() && bedrock_chat::SavedConversation::read(path).is_ok() {
            if !self.options.interactive {
                let error = Error::ConversationFile {
                    path: path.to_path_buf(),
                    reason: format!(
                        "already exists; nothing was saved (use /save --force {} to replace it)",
                        path.display()
                    ),
                    source: None,
                };
                return self.command_failed(&error);
            }
            let question = format!("{} already exists. Replace it? [y/N] ", path.display());
            let answer = match input.read_line(&visible(&question))? {
                Input::Line(answer) => answer,
                _ => String::new(),
            };
            if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
                self.info("Not saved.")?;
                return Ok(None);
            }
        }
        // Held while the file is written, so a SIGTERM waits for the save rather than leaving a
        // temporary file behind.
        let saved = crate::signals::critical(|| self.session.save(path));
        match saved {
            Ok(()) => self.info(&format!("Saved to {}.", path.display()))?,
            Err(error) => return self.command_failed(&error),
        }
        Ok(None)
    }

    /// `/load`, read on a blocking thread so that Ctrl-C can abandon a slow read.
    async fn load(
        &mut self,
        path: std::path::PathBuf,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<Option<Outcome>> {
        let read_path = path.clone();
        let reading =
            tokio::task::spawn_blocking(move || bedrock_chat::SavedConversation::read(&read_path));
        let read = tokio::select! {
            read = reading => read,
            () = interrupts.next() => {
                self.info("Stopped. The conversation is as it was.")?;
                return Ok(None);
            }
        };
        let result = match read {
            Ok(result) => result.and_then(|saved| self.session.restore(saved)),
            Err(join_error) => Err(Error::ConversationFile {
                path: path.clone(),
                reason: format!("could not be read ({join_error})"),
                source: None,
            }),
        };
        match result {
            Ok(()) => {
                self.failed_input = None;
                let text = format!(
                    "Loaded {} messages from {}.",
                    self.session.history().len(),
                    path.display()
                );
                self.info(&text)?;
                Ok(None)
            }
            Err(error) => self.command_failed(&error),
        }
    }

    fn error_line(&mut self, message: &str) -> io::Result<()> {
        writeln!(self.err, "error: {}", visible(message))
    }

    /// A command failed: reported; in pipe mode the program stops.
    fn command_failed(&mut self, error: &Error) -> io::Result<Option<Outcome>> {
        self.report(error)?;
        Ok((!self.options.interactive).then_some(Outcome::TurnFailed))
    }

    async fn say(
        &mut self,
        turn: Turn,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<Option<Outcome>> {
        let text = match &turn {
            Turn::Say(text, attachments) => Some((text.clone(), attachments.clone())),
            Turn::Retry => None,
        };
        match self.turn(turn, interrupts).await? {
            TurnEnd::Replied => {
                self.failed_input = None;
                Ok(None)
            }
            TurnEnd::Cancelled => {
                // A stopped message can be sent again with /retry, as a failed one can.
                if let Some(text) = text {
                    self.failed_input = Some(text);
                }
                Ok(None)
            }
            TurnEnd::Failed(error) => {
                if let Some(text) = text
                    && !matches!(error, Error::InvalidInput { .. })
                {
                    self.failed_input = Some(text);
                }
                if self.options.interactive {
                    Ok(None)
                } else {
                    Ok(Some(Outcome::TurnFailed))
                }
            }
        }
    }

    /// One turn: send, show the reply as it arrives, report what went wrong.
    async fn turn(&mut self, turn: Turn, interrupts: &mut dyn Interrupts) -> io::Result<TurnEnd> {
        if (self.options.output_closed)() {
            // Nobody can read the reply: do not pay for it.
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        // A server may have changed its tools (or come back) since the last turn.
        if let Some((mcp, approval)) = &self.mcp
            && mcp.refresh().await
            && let Err(error) = self.session.set_tools(approval.tools(mcp))
        {
            write_error(&mut self.err, &error)?;
        }
        if let Some(cached) = &self.reply_cache {
            cached.take_lookup();
            // /retry is for another answer: never the kept one.
            if matches!(turn, Turn::Retry) {
                cached.ask_model_next();
            }
        }
        // At a terminal, keys typed during the reply must not be echoed into it.
        let _no_echo = self.options.interactive.then(crate::type_ahead::Echo::off);
        let Repl {
            session,
            options,
            out,
            err,
            notices,
            ..
        } = self;
        let mut ui = Ui {
            options: *options,
            out,
            err,
            notices,
            spinner: false,
        };
        let end = if options.stream {
            ui.streamed_turn(session, turn, interrupts).await?
        } else {
            ui.whole_turn(session, turn, interrupts).await?
        };
        ui.drain_notices()?;
        ui.hide_spinner()?;
        match &end {
            TurnEnd::Failed(error) => ui.report(error)?,
            TurnEnd::Cancelled => writeln!(
                ui.err,
                "Stopped. The conversation is as it was before that message."
            )?,
            TurnEnd::Replied => {}
        }
        let lookup = self
            .reply_cache
            .as_ref()
            .and_then(CachedClient::take_lookup);
        match (&end, lookup) {
            (TurnEnd::Replied, Some(CacheLookup::Hit { saved })) => {
                let turn = self.session.usage().turns().len().saturating_sub(1);
                self.cache_hits.push((turn, saved));
                let note = "(answered from the reply cache: nothing was sent to the model, $0)";
                if self.options.interactive {
                    self.info(note)?;
                }
            }
            (_, Some(CacheLookup::Miss)) => self.cache_misses += 1,
            _ => {}
        }
        Ok(end)
    }

    /// Information for the user: on stdout at a terminal, on stderr in a pipe (where stdout
    /// carries only replies).
    fn info(&mut self, text: &str) -> io::Result<()> {
        let text = visible(text);
        if self.options.interactive {
            writeln!(self.out, "{text}")?;
            self.out.flush()
        } else {
            writeln!(self.err, "{text}")
        }
    }

    fn report(&mut self, error: &Error) -> io::Result<()> {
        write_error(&mut self.err, error)
    }

    fn history_text(&self) -> String {
        let history = self.session.history();
        if history.is_empty() {
            return "The conversation is empty.".to_string();
        }
        let mut text = String::new();
        for message in history {
            let who = match message.role() {
                bedrock_chat::Role::User => "you",
                bedrock_chat::Role::Assistant => "claude",
            };
            text.push_str(&format!("{who}: {}\n", describe_message(message)));
        }
        text.pop();
        text
    }

    fn usage_text(&self) -> String {
        let usage = self.session.usage();
        if usage.turns().is_empty() {
            return "No tokens used yet.".to_string();
        }
        let cost = self.session.cost();
        let mut text = String::new();
        for (index, (turn, turn_cost)) in usage.turns().iter().zip(&cost.per_turn).enumerate() {
            let hit = self.cache_hits.iter().any(|(turn, _)| *turn == index);
            let note = match (hit, turn.complete, turn.estimated) {
                (true, _, _) => " (from the reply cache)",
                (false, true, _) => "",
                (false, false, false) => " (reply stopped)",
                (false, false, true) => " (reply stopped; tokens estimated)",
            };
            text.push_str(&format!(
                "turn {:>3}: {}, {}{note}\n",
                index + 1,
                describe_usage(&turn.usage),
                describe_cost(*turn_cost)
            ));
        }
        text.push_str(&format!(
            "    total: {}, {}",
            describe_usage(&usage.total()),
            Usd(cost.total_usd)
        ));
        if cost.unpriced_turns > 0 {
            text.push_str(&format!(
                " (plus {} turns of a model with no known price; see --price-table)",
                cost.unpriced_turns
            ));
        }
        if let Some(budget) = self.session.budget() {
            text.push_str(&format!(" of a {} budget", Usd(budget.limit_usd)));
        }
        if self.reply_cache.is_some() {
            let saved: Option<f64> = self
                .cache_hits
                .iter()
                .map(|(_, usage)| {
                    self.session
                        .prices()
                        .price_for(self.session.model_id())
                        .map(|price| price.cost(usage))
                })
                .sum();
            let saved = saved.map_or_else(
                || "an unknown amount".to_string(),
                |usd| Usd(usd).to_string(),
            );
            text.push_str(&format!(
                "\nreply cache: {} hits, {} misses; the hits saved {saved}",
                self.cache_hits.len(),
                self.cache_misses
            ));
        }
        let exchanges = self.session.exchange_count();
        let stopped = usage.unfinished_turns();
        let gone = (usage.turns().len() - stopped).saturating_sub(exchanges);
        if gone > 0 {
            let billed = if self.cache_hits.is_empty() {
                "Bedrock billed them all the same"
            } else {
                "Bedrock billed those the model answered all the same"
            };
            text.push_str(&format!(
                "\n({gone} of these turns are no longer in the conversation (/undo, /clear, /retry or \
                 /load removed them); {billed})"
            ));
        }
        if stopped > 0 {
            let replies = if stopped == 1 {
                "1 reply was".to_string()
            } else {
                format!("{stopped} replies were")
            };
            text.push_str(&format!(
                "\n({replies} stopped before the end and not added to the conversation; Bedrock \
                 billed the tokens it generated all the same)"
            ));
        }
        text.push_str(&format!(
            "\n(estimated from prices as of {PRICES_AS_OF}; context policy: {})",
            self.session.context_policy()
        ));
        text
    }
}

/// A message for `/history`: its text, with attachments, tool calls and results in brackets.
fn describe_message(message: &bedrock_chat::Message) -> String {
    let parts: Vec<String> = message
        .content()
        .iter()
        .map(|block| match block {
            ContentBlock::Text(text) => text.clone(),
            ContentBlock::Attachment(attachment) => format!("[{}]", attachment.describe()),
            ContentBlock::ToolUse(call) => format!("[calls {} {}]", call.name, call.input),
            ContentBlock::ToolResult(result) => {
                let status = if result.is_error() { "failed: " } else { "" };
                format!("[tool result: {status}{}]", result.text())
            }
            _ => "[content this version cannot show]".to_string(),
        })
        .collect();
    parts.join(" ")
}

fn describe_cost(cost: Option<f64>) -> String {
    match cost {
        Some(usd) => Usd(usd).to_string(),
        None => "no price".to_string(),
    }
}

fn describe_usage(usage: &bedrock_chat::TokenUsage) -> String {
    let mut text = format!(
        "{} input + {} output tokens",
        usage.input_tokens, usage.output_tokens
    );
    if usage.cache_read_input_tokens.is_some() || usage.cache_write_input_tokens.is_some() {
        let long = match usage.cache_write_1h_input_tokens {
            Some(tokens) if tokens > 0 => format!(", {tokens} of them for an hour"),
            _ => String::new(),
        };
        text.push_str(&format!(
            " (cache: {} read, {} written{long})",
            usage.cache_read_input_tokens.unwrap_or(0),
            usage.cache_write_input_tokens.unwrap_or(0)
        ));
    }
    // How Bedrock served it, when it said and it was not the usual way (both are priced).
    let mut serving = Vec::new();
    if let Some(tier) = usage
        .service_tier
        .filter(|t| *t != bedrock_chat::ServiceTier::Default)
    {
        serving.push(format!("{tier} tier"));
    }
    if let Some(latency) = usage
        .latency
        .filter(|l| *l != bedrock_chat::Latency::Standard)
    {
        serving.push(format!("{latency} latency"));
    }
    if !serving.is_empty() {
        text.push_str(&format!(" [{}]", serving.join(", ")));
    }
    text
}

/// What `/tokens` says about the next turn.
fn tokens_text(count: &bedrock_chat::TokenCount) -> String {
    let exact = match count.exact {
        Some(exact) => format!("{exact} input tokens by Bedrock's count (CountTokens)"),
        None => "Bedrock's exact count is not available for this model".to_string(),
    };
    let dropped = match count.dropped {
        0 => "the whole conversation".to_string(),
        n => format!("{n} earlier messages left out by the context policy"),
    };
    format!(
        "next turn: {exact}; about {} estimated; {} messages with a short new one ({dropped})",
        count.estimated, count.messages
    )
}
