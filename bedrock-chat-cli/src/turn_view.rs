//! How one turn looks: "thinking…" until the first text, retry notices as they come, the reply
//! as it streams (neutralised on a terminal, whole in a pipe), and Ctrl-C to stop. Whole and
//! streamed turns share one path for the spinner, the wait and the cancel (`Ui::wait`).

use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;

use bedrock_chat::{Attachment, ChatSession, Error, Sources, StreamEvent};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::interrupts::Interrupts;
use crate::sources::{markers, with_markers, write_sources};
use crate::terminal::visible;

/// How the REPL talks to the user.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A person at a terminal: prompts, multi-line input, Ctrl-C handling, failures do not end
    /// the program.
    pub interactive: bool,
    /// Stream replies (ConverseStream) rather than wait for whole ones (Converse).
    pub stream: bool,
    /// Standard output is a terminal: write streamed text as it arrives. Otherwise each reply is
    /// written whole, once complete, so a pipe never carries half a reply.
    pub stdout_is_terminal: bool,
    /// Standard error is a terminal: show "thinking…" until the first text arrives.
    pub stderr_is_terminal: bool,
    /// Whether standard output is known to be closed (a pipe whose reader has gone): checked
    /// before each turn, so no paid request is sent for a reply nobody can read.
    pub output_closed: fn() -> bool,
    /// Show the model's reasoning (extended thinking), dimmed, before its answer, when standard
    /// output is a terminal (it never goes to a pipe).
    pub show_reasoning: bool,
}

impl Options {
    /// Options for a person at a terminal, with output checks off; tests start here.
    pub fn interactive() -> Self {
        Options {
            interactive: true,
            stream: true,
            stdout_is_terminal: true,
            stderr_is_terminal: true,
            output_closed: || false,
            show_reasoning: true,
        }
    }
}

/// Writes an error as one line a person can act on. Its text may quote a server or a file, so
/// control characters in it are shown, not sent to the terminal.
///
/// # Errors
///
/// The I/O error of `err`.
pub fn write_error(err: &mut dyn Write, error: &Error) -> io::Result<()> {
    let text = match error.request_id() {
        Some(id) => format!("error: {error} (request id {id})"),
        None => format!("error: {error}"),
    };
    writeln!(err, "{}", visible(&text))
}

const THINKING: &str = "thinking…";
const DIM: &str = "\x1b[2m";
const UNDIM: &str = "\x1b[22m";
const CLEAR_LINE: &str = "\r\x1b[2K";

/// What a turn sends.
pub(crate) enum Turn {
    /// A new message, with any attachments.
    Say(String, Vec<Attachment>),
    /// The last message again.
    Retry,
}

/// How a turn ended.
pub(crate) enum TurnEnd {
    /// The reply arrived.
    Replied,
    /// The turn failed.
    Failed(Error),
    /// Ctrl-C stopped it.
    Cancelled,
}

/// The outputs of one turn, borrowed apart from the session.
pub(crate) struct Ui<'a, O, E> {
    pub(crate) options: Options,
    pub(crate) out: &'a mut O,
    pub(crate) err: &'a mut E,
    pub(crate) notices: &'a mut UnboundedReceiver<String>,
    pub(crate) spinner: bool,
}

impl<O: Write + Send, E: Write + Send> Ui<'_, O, E> {
    pub(crate) async fn whole_turn(
        &mut self,
        session: &mut ChatSession,
        turn: Turn,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<TurnEnd> {
        let answer = async {
            match turn {
                Turn::Say(text, attachments) => session.send_with(text, attachments).await,
                Turn::Retry => session.retry().await,
            }
        };
        let Some(reply) = self.until_answer(answer, interrupts).await? else {
            return Ok(TurnEnd::Cancelled);
        };
        match reply {
            Ok(reply) => {
                let mut sources = Sources::default();
                self.write_reply(&with_markers(reply.message(), &mut sources))?;
                writeln!(self.out)?;
                write_sources(self.out, &sources, self.options.stdout_is_terminal)?;
                self.out.flush()?;
                Ok(TurnEnd::Replied)
            }
            Err(error) => Ok(TurnEnd::Failed(error)),
        }
    }

    pub(crate) async fn streamed_turn(
        &mut self,
        session: &mut ChatSession,
        turn: Turn,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<TurnEnd> {
        let answer = async {
            match turn {
                Turn::Say(text, attachments) => {
                    session.send_streaming_with(text, attachments).await
                }
                Turn::Retry => session.retry_streaming().await,
            }
        };
        let Some(opened) = self.until_answer(answer, interrupts).await? else {
            return Ok(TurnEnd::Cancelled);
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(error) => return Ok(TurnEnd::Failed(error)),
        };
        self.hide_spinner()?;
        let live = self.options.stdout_is_terminal;
        let show_reasoning = live && self.options.show_reasoning;
        let mut wrote_text = false;
        let mut in_reasoning = false;
        // The sources cited so far, and the numbers of the open block's citations, written
        // after its text when it ends.
        let mut sources = Sources::default();
        let mut cited: Vec<usize> = Vec::new();
        // The space that ended the text so far, held back so a citation's number can follow
        // the words it cites.
        let mut held_space = String::new();
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = interrupts.next() => {
                    // Dropping the stream abandons the turn; the history is untouched.
                    if wrote_text && live {
                        writeln!(self.out)?;
                        self.out.flush()?;
                    }
                    return Ok(TurnEnd::Cancelled);
                }
            };
            match next {
                Some(Ok(StreamEvent::ReasoningDelta { text, .. })) if show_reasoning => {
                    // Dim (SGR 2), and visible() keeps the model's own text from changing it.
                    write!(self.out, "{DIM}{}{UNDIM}", visible(&text))?;
                    self.out.flush()?;
                    in_reasoning = true;
                }
                Some(Ok(StreamEvent::TextDelta(text))) => {
                    if in_reasoning {
                        // The answer starts on a line of its own, under the reasoning.
                        writeln!(self.out, "\n")?;
                        in_reasoning = false;
                    }
                    if live {
                        let trimmed = text.trim_end();
                        if !trimmed.is_empty() {
                            self.write_reply(&std::mem::take(&mut held_space))?;
                        }
                        self.write_reply(trimmed)?;
                        held_space.push_str(&text[trimmed.len()..]);
                        self.out.flush()?;
                        wrote_text = true;
                    }
                }
                Some(Ok(StreamEvent::Citation { citation, .. })) => {
                    cited.push(sources.number(&citation));
                }
                Some(Ok(StreamEvent::ContentBlockStop { .. })) if !cited.is_empty() => {
                    if live {
                        write!(self.out, "{}", markers(cited.drain(..)))?;
                        self.out.flush()?;
                    }
                    cited.clear();
                }
                Some(Ok(StreamEvent::ToolCall(call))) => {
                    if wrote_text && live {
                        writeln!(self.out)?;
                        self.out.flush()?;
                        wrote_text = false;
                    }
                    // On stderr, with the status: a pipe's stdout carries only replies.
                    writeln!(
                        self.err,
                        "{}",
                        visible(&format!(
                            "⚙ {} {}",
                            call.name,
                            crate::mcp::short(&call.input.to_string(), 200)
                        ))
                    )?;
                }
                Some(Ok(StreamEvent::ToolResult(result))) => {
                    let mark = if result.is_error() { "✗" } else { "→" };
                    writeln!(
                        self.err,
                        "{}",
                        visible(&format!(
                            "  {mark} {}",
                            crate::mcp::short(&result.text(), crate::mcp::SHOWN_RESULT_CHARS)
                        ))
                    )?;
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    if wrote_text {
                        writeln!(self.out)?;
                        self.out.flush()?;
                    }
                    return Ok(TurnEnd::Failed(error));
                }
                None => break,
            }
        }
        if live {
            writeln!(self.out)?;
        } else {
            // Only a complete reply reaches a pipe.
            sources = Sources::default();
            let text = match stream.response() {
                Some(response) => with_markers(response.message(), &mut sources),
                None => stream.text().to_string(),
            };
            self.write_reply(&text)?;
            writeln!(self.out)?;
        }
        write_sources(self.out, &sources, live)?;
        self.out.flush()?;
        Ok(TurnEnd::Replied)
    }

    /// The one path of both kinds of turn until Bedrock answers: "thinking…", retry notices as
    /// they come, and Ctrl-C (`None`). The spinner is gone when this returns.
    async fn until_answer<T>(
        &mut self,
        answer: impl Future<Output = T> + Send,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<Option<T>> {
        self.show_spinner()?;
        let answer = self.wait(Box::pin(answer), interrupts).await?;
        self.hide_spinner()?;
        Ok(answer)
    }

    /// Waits for `future` while showing retry notices; `None` if Ctrl-C came first.
    async fn wait<T>(
        &mut self,
        mut future: Pin<Box<dyn Future<Output = T> + Send + '_>>,
        interrupts: &mut dyn Interrupts,
    ) -> io::Result<Option<T>> {
        loop {
            tokio::select! {
                value = &mut future => return Ok(Some(value)),
                Some(notice) = self.notices.recv() => self.notice(&notice)?,
                () = interrupts.next() => return Ok(None),
            }
        }
    }

    /// Reply text: neutralised on a terminal; verbatim in a pipe, where it is data.
    fn write_reply(&mut self, text: &str) -> io::Result<()> {
        if self.options.stdout_is_terminal {
            write!(self.out, "{}", visible(text))
        } else {
            write!(self.out, "{text}")
        }
    }

    fn notice(&mut self, notice: &str) -> io::Result<()> {
        let spinning = self.spinner;
        self.hide_spinner()?;
        writeln!(self.err, "{}", visible(notice))?;
        if spinning {
            self.show_spinner()?;
        }
        Ok(())
    }

    pub(crate) fn drain_notices(&mut self) -> io::Result<()> {
        while let Ok(notice) = self.notices.try_recv() {
            self.notice(&notice)?;
        }
        Ok(())
    }

    fn show_spinner(&mut self) -> io::Result<()> {
        if self.options.interactive && self.options.stderr_is_terminal && !self.spinner {
            write!(self.err, "{THINKING}")?;
            self.err.flush()?;
            self.spinner = true;
        }
        Ok(())
    }

    pub(crate) fn hide_spinner(&mut self) -> io::Result<()> {
        if self.spinner {
            write!(self.err, "{CLEAR_LINE}")?;
            self.err.flush()?;
            self.spinner = false;
        }
        Ok(())
    }

    pub(crate) fn report(&mut self, error: &Error) -> io::Result<()> {
        write_error(self.err, error)
    }
}
