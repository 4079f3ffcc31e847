//! The turn engine: build a request within the context policy and the budget, send it under the
//! retry policy, recover once from a context overflow, and commit the exchange on success.

use std::future::Future;
use std::sync::Arc;

use tracing::Instrument;

use super::ChatSession;
use super::notice::Notice;
use super::structured_turn::StructuredTurn;
use crate::caching::CachePoints;
use crate::context::{ContextPolicy, shrink, window};
use crate::error::{Error, Result, ServiceDetails};
use crate::message::{ContentBlock, Message, Role, ToolResult, ToolUse};
use crate::request::{ChatRequest, Ending, validate_conversation};
use crate::response::{ChatResponse, TokenUsage};
use crate::settings::DEFAULT_MAX_TOKENS;
use crate::stop_reason::StopReason;

/// A request ready to send: what it holds and where its history begins.
pub(super) struct Prepared {
    pub(super) request: ChatRequest,
    /// The index in the history of the first message sent.
    pub(super) start: usize,
    /// The bytes of text the request carries, for the token estimates.
    pub(super) text_bytes: usize,
}

/// How a turn asks the model: a whole reply, or a stream opened up to its first text (that
/// one in `streamed_turn.rs`, which builds on this module).
pub(super) trait Ask {
    type Answer;

    /// One request with its retries.
    fn ask<'a>(
        session: &'a ChatSession,
        request: &'a ChatRequest,
    ) -> impl Future<Output = Result<Self::Answer>> + Send + 'a;
}

struct Whole;

impl Ask for Whole {
    type Answer = ChatResponse;

    /// A whole reply that stopped because the context window was full is an overflow error, as
    /// Bedrock's own refusal is.
    async fn ask(session: &ChatSession, request: &ChatRequest) -> Result<ChatResponse> {
        let route = session.route();
        let response = session
            .settings
            .retry_policy
            .run(session.on_retry.as_ref(), || route.converse(request))
            .await?;
        if *response.stop_reason() == StopReason::ModelContextWindowExceeded {
            return Err(stopped_for_context(response.request_id()));
        }
        Ok(response)
    }
}

impl ChatSession {
    /// A whole turn that keeps the first `keep` messages of the history and adds `user`, then
    /// runs the tool loop: while the model asks for tools, call them, send the results, and ask
    /// again, up to the session's limit of rounds.
    pub(super) async fn run_turn(&mut self, keep: usize, user: Message) -> Result<ChatResponse> {
        self.run_turn_as(keep, user, None).await
    }

    /// [`run_turn`](Self::run_turn), the reply in the shape `structured` asks for, if any.
    pub(super) async fn run_turn_as(
        &mut self,
        keep: usize,
        user: Message,
        structured: Option<StructuredTurn>,
    ) -> Result<ChatResponse> {
        // Set by every whole turn as it starts, and by every streamed one (to none), so a
        // cancelled structured turn leaves nothing behind for the next.
        self.structured = structured;
        let result = self.run_whole_turn(keep, user).await;
        self.structured = None;
        result
    }

    async fn run_whole_turn(&mut self, keep: usize, user: Message) -> Result<ChatResponse> {
        // Room for the reply too: most turns are one exchange.
        let mut turn = Vec::with_capacity(2);
        turn.push(user);
        // What the finished rounds were billed; a failure after them still counts it.
        let mut billed = TokenUsage::default();
        let mut round = 0;
        loop {
            let (response, mut prepared, span) =
                match self.traced::<Whole>(keep, &turn, round).await {
                    Ok(answer) => answer,
                    Err(error) => {
                        if round > 0 {
                            self.record_unfinished(billed, Some(TokenUsage::default()), 0, None);
                        }
                        return Err(error);
                    }
                };
            record_reply(&span, &response.usage(), response.stop_reason());
            billed += response.usage();
            let response = match self
                .structured
                .as_ref()
                .and_then(|s| s.answer(response.message()))
            {
                Some(answer) => response.with_message(answer),
                None => response,
            };
            let reply = response.message();
            if reply.tool_uses().next().is_some() {
                round += 1;
                if round >= self.max_tool_rounds {
                    self.record_unfinished(billed, Some(TokenUsage::default()), 0, None);
                    return Err(Error::ToolRoundsExceeded {
                        rounds: self.max_tool_rounds,
                    });
                }
                let calls: Vec<ToolUse> = reply.tool_uses().cloned().collect();
                let results = self.tools.run(&calls).await;
                turn.push(reply.clone());
                turn.push(tool_results_message(results));
                continue;
            }
            if *response.stop_reason() == StopReason::GuardrailIntervened {
                // Returned, so the user sees the guardrail's message, but not kept: the blocked
                // content would be sent again, and blocked again, with every later turn.
                self.record_unfinished(billed, Some(TokenUsage::default()), 0, None);
                return Ok(response.with_turn_usage(billed));
            }
            if reply.has_blank_content() || !reply.has_text() {
                self.record_unfinished(billed, Some(TokenUsage::default()), 0, None);
                return Err(Error::EmptyReply {
                    stop_reason: response.stop_reason().clone(),
                });
            }
            turn.push(reply.clone());
            self.commit(keep, turn, billed, &prepared);
            self.last_sent = prepared.request.take_messages();
            return Ok(response.with_turn_usage(billed));
        }
    }

    /// [`send_within_context`](Self::send_within_context) inside the turn's span, recording the
    /// time to the first answer (a whole reply, or a stream's first text) or the error.
    pub(super) async fn traced<A: Ask>(
        &mut self,
        keep: usize,
        turn: &[Message],
        round: u32,
    ) -> Result<(A::Answer, Prepared, tracing::Span)> {
        let span = turn_span(&self.settings.model_id, "chat");
        let started = std::time::Instant::now();
        let sent = self.send_within_context::<A>(keep, turn, round);
        // The span's wrapper enters and leaves the span on every poll of the request; when no
        // subscriber wants the span, that is work for nothing.
        let (answer, prepared) = if span.is_disabled() {
            sent.await
        } else {
            sent.instrument(span.clone()).await
        }
        .inspect_err(|error| record_error(&span, error))?;
        if !span.is_none() {
            span.record(
                "bedrock_chat.time_to_first_token_ms",
                started.elapsed().as_millis() as u64,
            );
        }
        Ok((answer, prepared, span))
    }

    /// Sends the turn under the retry policy. When Bedrock says the conversation is too long,
    /// sends less, once, and says so; a second overflow is the caller's error. This is the one
    /// recovery loop for whole and streamed turns.
    async fn send_within_context<A: Ask>(
        &mut self,
        keep: usize,
        turn: &[Message],
        round: u32,
    ) -> Result<(A::Answer, Prepared)> {
        let last_sent = std::mem::take(&mut self.last_sent);
        let mut prepared = if self.settings.exact_token_counts && !self.count_refused {
            let assembled = self.assemble(keep, turn, None, round, last_sent)?;
            // Boxed: the count's SDK future inline would make every turn's future deeper than
            // rustc's default query depth for callers a few functions down (see `call.rs`).
            let (counted, exact) = Box::pin(self.counted(keep, turn, round, assembled)).await?;
            self.checked(keep, counted, round == 0, exact)?
        } else {
            self.prepare_from(keep, turn, None, round, last_sent)?
        };
        let mut recovered = false;
        loop {
            match A::ask(self, &prepared.request).await {
                Err(error) if error.is_context_overflow() && !recovered => {
                    prepared =
                        self.recover_from_overflow(keep, turn, prepared.start, round, error)?;
                    recovered = true;
                }
                Err(error) => return Err(error),
                Ok(answer) => return Ok((answer, prepared)),
            }
        }
    }

    /// Builds the request for a turn that keeps the first `keep` messages of the history and
    /// adds the turn's messages so far (`turn`: the user's message, then any tool rounds),
    /// sending what the context policy allows (or from `start`, after an overflow), and checks
    /// it and the budget. `round` counts the tool rounds before this request.
    pub(super) fn prepare(
        &self,
        keep: usize,
        turn: &[Message],
        start: Option<usize>,
        round: u32,
    ) -> Result<Prepared> {
        self.prepare_from(keep, turn, start, round, Vec::new())
    }

    /// [`prepare`](Self::prepare), building the message list in `last_sent` (the last turn's
    /// list, or an empty one) where it can.
    fn prepare_from(
        &self,
        keep: usize,
        turn: &[Message],
        start: Option<usize>,
        round: u32,
        last_sent: Vec<Message>,
    ) -> Result<Prepared> {
        // After an overflow the caller reports the trimming itself.
        let report_trimming = start.is_none() && round == 0;
        let prepared = self.assemble(keep, turn, start, round, last_sent)?;
        self.checked(keep, prepared, report_trimming, None)
    }

    /// `prepared` once its cost is within the budget (by Bedrock's count of its input tokens
    /// when there is one, else the estimate), with the trimming reported.
    pub(super) fn checked(
        &self,
        keep: usize,
        prepared: Prepared,
        report_trimming: bool,
        exact_input: Option<u64>,
    ) -> Result<Prepared> {
        match exact_input {
            Some(input) => self.check_budget_of(&prepared.request, input)?,
            None => self.check_budget(&prepared.request, prepared.text_bytes)?,
        }
        if prepared.start > 0 && report_trimming {
            self.notify(&Notice::ContextTrimmed {
                dropped_messages: prepared.start,
                sent_messages: keep - prepared.start,
                after_overflow: false,
            });
        }
        Ok(prepared)
    }

    /// The request of [`prepare_from`](Self::prepare_from), before the budget is checked.
    pub(super) fn assemble(
        &self,
        keep: usize,
        turn: &[Message],
        start: Option<usize>,
        round: u32,
        last_sent: Vec<Message>,
    ) -> Result<Prepared> {
        let kept = &self.history[..keep];
        let settings = &self.settings;
        let (start, counted_bytes) = match start {
            Some(start) => (start, None),
            None => window(
                settings.context_policy,
                kept,
                settings.system_prompt.as_deref(),
                turn,
                &self.estimator,
            )?,
        };
        let messages = message_list(last_sent, &kept[start..], turn);
        let tool_config = self.tools.config(round, &messages, self.loaded_tool_blocks);
        let mut cache_points = if settings.prompt_caching {
            let tools_bytes = tool_config.as_ref().map_or(0, |config| {
                config
                    .tools
                    .iter()
                    .map(|t| t.name.len() + t.description.len() + t.input_schema.to_string().len())
                    .sum()
            });
            crate::caching::place(
                &settings.model_id,
                tools_bytes,
                settings.system_prompt.as_deref(),
                &messages,
                &self.estimator,
            )
        } else {
            CachePoints::default()
        };
        cache_points.ttl = settings.cache_ttl;
        let request = ChatRequest::for_model(Arc::clone(&self.model), messages)
            .with_system(settings.system_prompt.clone())
            .with_inference(settings.inference.clone())
            .with_tool_config(tool_config)
            .with_cache_points(cache_points)
            .with_guardrail(settings.guardrail.clone())
            .with_thinking_budget(settings.thinking_budget)
            .with_service_tier(settings.service_tier)
            .with_latency(settings.latency)
            .with_cited_documents(settings.cite_documents);
        let request = match &self.structured {
            Some(structured) => structured.apply(request),
            None => request,
        };
        // Each part was checked once, where it came in: the settings where they were set (the
        // builder, the setters, `restore`), the history as it entered the session, the user's
        // message where it was made (`user_message`), the tools when the session was built; and
        // the tool configuration and cache points are the library's own. Only a tool round
        // brings messages nothing has checked yet: the model's calls and their results. (The
        // whole request is checked in debug builds, so a test would catch a gap.)
        if round > 0 {
            validate_conversation(turn, Ending::User)?;
        }
        debug_assert!(request.validate().is_ok(), "{:?}", request.validate());
        let text_bytes = counted_bytes.unwrap_or_else(|| request_text_bytes(&request));
        debug_assert_eq!(text_bytes, request_text_bytes(&request));
        Ok(Prepared {
            request,
            start,
            text_bytes,
        })
    }

    /// Bedrock refused the conversation as too long: send less, once, or say how to continue.
    #[cold]
    fn recover_from_overflow(
        &mut self,
        keep: usize,
        turn: &[Message],
        start: usize,
        round: u32,
        error: Error,
    ) -> Result<Prepared> {
        if self.settings.context_policy == ContextPolicy::SendAll {
            return Err(error);
        }
        self.estimator.raise();
        let Some(start) = shrink(start, &self.history[..keep]) else {
            return Err(error);
        };
        tracing::info!(dropped = start, "context window exceeded; sending less");
        let prepared = self.prepare(keep, turn, Some(start), round)?;
        self.notify(&Notice::ContextTrimmed {
            dropped_messages: start,
            sent_messages: keep - start,
            after_overflow: true,
        });
        Ok(prepared)
    }

    /// Refuses, or warns about, a request that could take the session over its budget.
    fn check_budget(&self, request: &ChatRequest, text_bytes: usize) -> Result<()> {
        if self.settings.budget.is_none() {
            return Ok(());
        }
        let input = self.estimator.tokens(text_bytes, request.messages().len());
        self.check_budget_of(request, input)
    }

    /// [`check_budget`](Self::check_budget) for a request of `input` tokens.
    pub(super) fn check_budget_of(&self, request: &ChatRequest, input: u64) -> Result<()> {
        let Some(budget) = self.settings.budget else {
            return Ok(());
        };
        let Some(price) = self.price_of(request.model_id()) else {
            return Ok(());
        };
        let output = u64::from(request.inference().max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
        let next_turn_usd = price.cost(&TokenUsage::new(input, output));
        // A loaded conversation brings what it had cost: the budget is the conversation's.
        let earlier = self.conversation_start.earlier;
        let earlier_usd = price.cost(&earlier);
        let spent_usd = self.spent_usd + earlier_usd;
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

    pub(super) fn notify(&self, notice: &Notice) {
        tracing::info!(%notice, "session notice");
        if let Some(observer) = &self.on_notice {
            observer(notice);
        }
    }

    /// Records a successful turn (the user's message, any tool rounds, the final reply), billed
    /// `usage` over all its requests, of which `last` was the last: the only place the
    /// history grows.
    pub(super) fn commit(
        &mut self,
        keep: usize,
        turn: Vec<Message>,
        usage: TokenUsage,
        last: &Prepared,
    ) {
        let request = &last.request;
        if turn.len() == 2 {
            // One request: what it was billed says how many tokens its text was. (With tool
            // rounds the sum covers several requests and says nothing about one.)
            let billed_input = usage.input_tokens
                + usage.cache_read_input_tokens.unwrap_or(0)
                + usage.cache_write_input_tokens.unwrap_or(0);
            self.estimator
                .calibrate(last.text_bytes, request.messages().len(), billed_input);
        }
        self.history.truncate(keep);
        self.history.extend(turn);
        self.usage.record(usage, request.shared_model_id());
        // Kept as a running sum so that checking the budget does not grow with the session.
        if let Some(price) = self.price_of(request.model_id()) {
            self.spent_usd += price.cost(&usage);
        }
    }

    /// A turn that ended before it was committed (a stream stopped by the caller or cut off,
    /// or a tool loop that failed part-way): Bedrock bills what it read and generated, so the
    /// turn is counted in usage and against the budget. `earlier` is what its finished
    /// requests were billed; `current` what the last one was, when its closing metadata
    /// arrived, or `None` to estimate it from `request` and the bytes of text it produced.
    #[cold]
    pub(super) fn record_unfinished(
        &mut self,
        earlier: TokenUsage,
        current: Option<TokenUsage>,
        partial_text_bytes: usize,
        request: Option<&ChatRequest>,
    ) {
        let estimated = current.is_none();
        let mut usage = earlier;
        usage += current.unwrap_or_else(|| TokenUsage {
            // The likeliest count, not the high one that keeps requests within limits: this is
            // what the stopped reply is recorded, and priced, as having cost.
            input_tokens: request.map_or(0, |request| {
                self.estimator
                    .likely_tokens(request_text_bytes(request), request.messages().len())
            }),
            output_tokens: self.estimator.likely_output_tokens(partial_text_bytes),
            ..TokenUsage::default()
        });
        if usage == TokenUsage::default() {
            return;
        }
        let model_id = request.map_or(&self.model, ChatRequest::shared_model_id);
        if let Some(price) = self.price_of(model_id) {
            self.spent_usd += price.cost(&usage);
        }
        self.usage.push(super::TurnUsage {
            usage,
            model_id: Arc::clone(model_id),
            complete: false,
            estimated,
        });
    }

    /// A streamed reply stopped because the context window was full: estimate more carefully
    /// next time.
    pub(super) fn stream_overflowed(&mut self) {
        self.estimator.raise();
    }
}

/// The span of one turn, named and attributed after OpenTelemetry's semantic conventions for
/// generative AI, so an OpenTelemetry layer exports it as dashboards expect. Usage, finish
/// reason, retries and time to first token are recorded as they become known.
pub(super) fn turn_span(model: &str, operation: &'static str) -> tracing::Span {
    tracing::info_span!(
        "chat",
        otel.name = %format_args!("{operation} {model}"),
        otel.kind = "client",
        gen_ai.operation.name = operation,
        gen_ai.system = "aws.bedrock",
        gen_ai.provider.name = "aws.bedrock",
        gen_ai.request.model = %model,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        gen_ai.response.finish_reasons = tracing::field::Empty,
        error.type = tracing::field::Empty,
        bedrock_chat.retries = tracing::field::Empty,
        bedrock_chat.time_to_first_token_ms = tracing::field::Empty,
    )
}

/// Records what a finished reply used on its turn's span.
pub(super) fn record_reply(span: &tracing::Span, usage: &TokenUsage, stop_reason: &StopReason) {
    // A span no subscriber (or `log` logger) can see is `Span::none()`: nothing to record,
    // and skipping it here keeps the recording's code off a turn's path.
    if span.is_none() {
        return;
    }
    span.record("gen_ai.usage.input_tokens", usage.input_tokens);
    span.record("gen_ai.usage.output_tokens", usage.output_tokens);
    span.record(
        "gen_ai.response.finish_reasons",
        tracing::field::display(format_args!("[\"{stop_reason}\"]")),
    );
}

/// Records a failed turn on its span.
#[cold]
pub(super) fn record_error(span: &tracing::Span, error: &Error) {
    span.record("error.type", tracing::field::debug(ErrorKind(error)));
}

/// The variant name of an error, for `error.type`.
struct ErrorKind<'a>(&'a Error);

impl std::fmt::Debug for ErrorKind<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let debug = format!("{:?}", self.0);
        f.write_str(debug.split([' ', '{', '(']).next().unwrap_or("Error"))
    }
}

/// The messages `sent` then `turn`, built in `list` (the last turn's) and keeping what it holds
/// of them already: the last turn's history and user message when the history has grown by its
/// reply, or all of `sent` when the last exchange was undone. Finding that out compares
/// pointers, a read of two arrays, where cloning each message touches each message's own memory.
fn message_list(mut list: Vec<Message>, sent: &[Message], turn: &[Message]) -> Vec<Message> {
    let kept = list
        .iter()
        .zip(sent)
        .take_while(|(a, b)| a.is_same(b))
        .count();
    list.truncate(kept);
    list.extend_from_slice(&sent[kept..]);
    list.extend_from_slice(turn);
    list
}

/// Bytes of text a request carries: system prompt and messages.
fn request_text_bytes(request: &ChatRequest) -> usize {
    request.system().map_or(0, str::len)
        + request
            .messages()
            .iter()
            .map(Message::size_bytes)
            .sum::<usize>()
}

/// The user message that answers a round of tool calls: every result, together.
pub(super) fn tool_results_message(results: Vec<ToolResult>) -> Message {
    Message::new(
        Role::User,
        results.into_iter().map(ContentBlock::ToolResult).collect(),
    )
}

/// The error for a reply that stopped because the context window was full.
#[cold]
pub(super) fn stopped_for_context(request_id: Option<&str>) -> Error {
    Error::ContextWindowExceeded {
        details: ServiceDetails::new(
            "the model stopped with model_context_window_exceeded",
            request_id.map(str::to_string),
        ),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(sent: &[Message], turn: &[Message]) -> Vec<Message> {
        sent.iter().chain(turn).cloned().collect()
    }

    #[test]
    fn the_message_list_is_always_the_history_sent_then_the_turn() {
        let history: Vec<Message> = (0..6)
            .map(|i| {
                if i % 2 == 0 {
                    Message::user(format!("q{i}"))
                } else {
                    Message::assistant(format!("a{i}"))
                }
            })
            .collect();
        let user = [Message::user("next")];
        // An equal message that is not the same one must not be taken for it.
        let lookalike = Message::user("q0");
        let lasts: Vec<Vec<Message>> = vec![
            Vec::new(),
            history[..3].to_vec(), // the last turn, before its reply joined the history
            history.to_vec(),      // exactly the history
            concat(&history, &user), // the last exchange was undone
            vec![lookalike],       // equal but not the same
            history[2..].to_vec(), // the window has moved
        ];
        for last in lasts {
            for start in 0..history.len() {
                let list = message_list(last.clone(), &history[start..], &user);
                let expected = concat(&history[start..], &user);
                assert_eq!(list, expected);
                assert!(
                    list.iter().zip(&expected).all(|(a, b)| a.is_same(b)),
                    "the very messages of the history, not copies"
                );
            }
        }
    }

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn the_last_list_holds_nothing_the_history_has_let_go() {
        let client = crate::testing::ScriptedClient::new()
            .with_text("one")
            .with_text("two");
        let mut session = ChatSession::builder(client)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        session
            .send("first?")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            session.last_sent.len(),
            1,
            "the first request's list is kept"
        );
        let (user, reply) = session.undo().unwrap_or_else(|| panic!("an exchange"));
        assert!(session.last_sent.is_empty());
        // The caller, and the scripted client's record of the request it was sent in.
        assert_eq!(user.holders(), 2);
        assert_eq!(reply.holders(), 1, "only the caller");
        session
            .send("again?")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        session.reset();
        assert!(session.last_sent.is_empty(), "emptied with the history");
    }
}
