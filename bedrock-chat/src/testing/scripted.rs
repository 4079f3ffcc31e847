//! A `ModelClient` that answers from a script and records what it was asked.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::client::ModelClient;
use crate::error::{Error, Result};
use crate::event_stream::{EventStream, StreamEvent};
use crate::message::Message;
use crate::request::ChatRequest;
use crate::response::{ChatResponse, TokenUsage};
use crate::stop_reason::StopReason;

/// One scripted answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Scripted {
    /// Answer with this text (streamed one word per event).
    Text(String),
    /// Fail with this error before any output.
    Error(Error),
    /// Stream these events, in order (a `converse` call gets them assembled).
    Events(Vec<Result<StreamEvent>>),
}

/// A [`ModelClient`] that answers from a script, in order, and records every request, for unit
/// tests of code built on `bedrock-chat` that need no network at all.
///
/// Clones share the script and the record.
///
/// ```
/// use bedrock_chat::testing::ScriptedClient;
/// use bedrock_chat::ChatSession;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> bedrock_chat::Result<()> {
/// let client = ScriptedClient::new().with_text("Paris.");
/// let mut session = ChatSession::builder(client.clone()).build()?;
/// assert_eq!(session.send("Capital of France?").await?.text(), "Paris.");
/// assert_eq!(client.requests()[0].messages().len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct ScriptedClient {
    state: Arc<Mutex<ScriptState>>,
}

#[derive(Default)]
struct ScriptState {
    script: VecDeque<Scripted>,
    requests: Vec<ChatRequest>,
}

impl ScriptedClient {
    /// A client with an empty script. A call with nothing scripted fails with
    /// [`Error::Config`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an answer to the script.
    pub fn push(&self, answer: Scripted) -> &Self {
        self.state().script.push_back(answer);
        self
    }

    /// Adds a text answer, builder style.
    #[must_use]
    pub fn with_text(self, text: impl Into<String>) -> Self {
        self.push(Scripted::Text(text.into()));
        self
    }

    /// Adds an error, builder style.
    #[must_use]
    pub fn with_error(self, error: Error) -> Self {
        self.push(Scripted::Error(error));
        self
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.state().requests.clone()
    }

    /// How many answers are left in the script.
    pub fn remaining(&self) -> usize {
        self.state().script.len()
    }

    fn next(&self, request: &ChatRequest) -> Result<Vec<Result<StreamEvent>>> {
        let mut state = self.state();
        state.requests.push(request.clone());
        match state.script.pop_front() {
            Some(Scripted::Text(text)) => Ok(text_events(&text)),
            Some(Scripted::Error(error)) => Err(error),
            Some(Scripted::Events(events)) => Ok(events),
            None => Err(Error::config("the ScriptedClient's script is empty")),
        }
    }

    fn state(&self) -> MutexGuard<'_, ScriptState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn text_events(text: &str) -> Vec<Result<StreamEvent>> {
    let mut events: Vec<Result<StreamEvent>> = text
        .split_inclusive(' ')
        .map(|word| Ok(StreamEvent::TextDelta(word.to_string())))
        .collect();
    events.push(Ok(StreamEvent::MessageStop(StopReason::EndTurn)));
    let output = events.len() as u64 - 1;
    events.push(Ok(StreamEvent::Metadata {
        usage: TokenUsage::new(10, output),
        latency: None,
    }));
    events
}

#[async_trait]
impl ModelClient for ScriptedClient {
    async fn converse(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let mut text = String::new();
        let mut stop_reason = StopReason::EndTurn;
        let mut usage = TokenUsage::default();
        for event in self.next(request)? {
            match event? {
                StreamEvent::TextDelta(delta) => text.push_str(&delta),
                StreamEvent::MessageStop(reason) => stop_reason = reason,
                StreamEvent::Metadata { usage: u, .. } => usage = u,
                // A scripted reply is text only.
                _ => {}
            }
        }
        Ok(ChatResponse::new(
            Message::assistant(text),
            stop_reason,
            usage,
        ))
    }

    async fn converse_stream(&self, request: &ChatRequest) -> Result<EventStream> {
        let events = self.next(request)?;
        Ok(EventStream::new(futures::stream::iter(events)))
    }
}

impl fmt::Debug for ScriptedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("ScriptedClient")
            .field("remaining", &state.script.len())
            .field("requests", &state.requests.len())
            .finish()
    }
}
