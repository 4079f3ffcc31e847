//! The interactive loop, driven through its input and interrupt abstractions.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use bedrock_chat::ChatSession;
use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply};
use bedrock_chat_cli::input::{Input, LineReader};
use bedrock_chat_cli::repl::{Interrupts, NoInterrupts, Options, Outcome, Repl};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Lines typed by a pretend user; records what went into the input history.
struct Typed {
    lines: VecDeque<Input>,
    remembered: Vec<String>,
}

impl Typed {
    fn new(lines: &[&str]) -> Self {
        Typed {
            lines: lines.iter().map(|l| Input::Line(l.to_string())).collect(),
            remembered: Vec::new(),
        }
    }
}

impl LineReader for Typed {
    fn read_line(&mut self, _prompt: &str) -> io::Result<Input> {
        Ok(self.lines.pop_front().unwrap_or(Input::Eof))
    }

    fn remember(&mut self, entry: &str) {
        self.remembered.push(entry.to_string());
    }
}

/// One Ctrl-C at a fixed (paused-clock) instant.
struct CtrlCAt {
    at: Option<Instant>,
}

impl Interrupts for CtrlCAt {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            match self.at {
                Some(at) => {
                    tokio::time::sleep_until(at).await;
                    self.at = None;
                }
                None => std::future::pending().await,
            }
        })
    }
}

fn terminal() -> Options {
    Options::interactive()
}

async fn repl(fake: &FakeBedrock, options: Options) -> Repl<Vec<u8>, Vec<u8>> {
    let (notices, notices_rx) = mpsc::unbounded_channel();
    let session = ChatSession::builder(fake.client().await.unwrap())
        .on_retry(move |n| {
            let _ = notices.send(n.to_string());
        })
        .build()
        .unwrap();
    Repl::new(session, options, Vec::new(), Vec::new(), notices_rx)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(start_paused = true)]
async fn replies_stream_to_stdout_with_thinking_and_retry_notices_on_stderr() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::chunks(["Hel", "lo", "!"]));
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed::new(&["hi"]);

    let outcome = repl.run(&mut input, &mut NoInterrupts).await.unwrap();

    assert_eq!(outcome, Outcome::Done);
    let (out, err) = repl.into_outputs();
    assert_eq!(text(&out), "Hello!\n");
    let err = text(&err);
    assert!(err.contains("thinking…"), "{err}");
    assert!(
        err.contains("throttled; retrying in 2 s (retry 1 of 5)"),
        "{err}"
    );
    assert!(err.contains("\r\x1b[2K"), "the spinner is cleared: {err:?}");
    assert_eq!(input.remembered, ["hi"]);
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_a_reply_stops_it_and_keeps_the_conversation() {
    let fake = FakeBedrock::start().await.unwrap();
    // Frames every 10 s: messageStart at 10 s, "one " at 20 s, "two " at 30 s...
    fake.push(FakeReply::text("one two three four").chunk_delay(Duration::from_secs(10)))
        .push(FakeReply::text("Fresh answer."));
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed::new(&["long answer please", "/history", "again"]);
    let mut interrupts = CtrlCAt {
        at: Some(Instant::now() + Duration::from_secs(25)),
    };

    let outcome = repl.run(&mut input, &mut interrupts).await.unwrap();

    assert_eq!(outcome, Outcome::Done);
    assert_eq!(
        repl.session().history().len(),
        2,
        "only the turn after Ctrl-C is kept"
    );
    assert_eq!(repl.session().history()[0].text(), "again");
    let requests = fake.requests();
    assert_eq!(
        requests[1].messages().len(),
        1,
        "the stopped turn is not context"
    );
    let (out, err) = repl.into_outputs();
    let out = text(&out);
    // The space after "one" is held back until more words come (a citation may go there).
    assert!(out.starts_with("one\n"), "{out:?}");
    assert!(out.contains("The conversation is empty."), "{out:?}");
    assert!(out.ends_with("Fresh answer.\n"), "{out:?}");
    assert!(text(&err).contains("Stopped."), "{}", text(&err));
}

#[tokio::test]
async fn multi_line_entries_use_a_trailing_backslash_or_a_quoted_block() {
    let fake = FakeBedrock::start().await.unwrap();
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed::new(&["first\\", "second", "\"\"\"", "a", "", "b", "\"\"\""]);
    repl.run(&mut input, &mut NoInterrupts).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests[0].messages()[0].1, "first\nsecond");
    assert_eq!(requests[1].messages()[2].1, "a\n\nb");
    assert_eq!(input.remembered, ["first\nsecond", "a\n\nb"]);
}

#[tokio::test]
async fn a_failed_turn_keeps_the_repl_running_and_retry_resends_it() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::error(FakeError::AccessDenied))
        .push(FakeReply::text("Now it works."));
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed::new(&["hello", "/retry", "/exit", "never sent"]);
    let outcome = repl.run(&mut input, &mut NoInterrupts).await.unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(fake.request_count(), 2);
    assert_eq!(fake.requests()[1].messages()[0].1, "hello");
    let (out, err) = repl.into_outputs();
    assert_eq!(text(&out), "Now it works.\n");
    assert_eq!(text(&err).matches("error: access denied").count(), 1);
}

#[tokio::test]
async fn ctrl_c_and_ctrl_d_at_the_prompt() {
    let fake = FakeBedrock::start().await.unwrap();
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed {
        lines: VecDeque::from([Input::Interrupted, Input::Line("hi".into()), Input::Eof]),
        remembered: Vec::new(),
    };
    let outcome = repl.run(&mut input, &mut NoInterrupts).await.unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn a_hostile_reply_reaches_the_terminal_as_visible_text() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::chunks([
        "safe \x1b]0;pw",
        "ned\x07\x1b[2J",
        " \u{9b}2J end",
    ]));
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed::new(&["hi", "/history"]);
    repl.run(&mut input, &mut NoInterrupts).await.unwrap();
    let (out, _) = repl.into_outputs();
    let out = text(&out);
    assert!(
        !out.contains('\x1b') && !out.contains('\u{9b}') && !out.contains('\x07'),
        "{out:?}"
    );
    assert!(
        out.contains("safe \u{241b}]0;pwned\u{2407}\u{241b}[2J <U+009B>2J end"),
        "{out}"
    );
}

#[tokio::test]
async fn save_asks_before_replacing_a_conversation() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.json");
    let save = format!("/save {}", path.display());
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed::new(&["hello", &save, "/clear", &save, "n", &save, "y"]);
    repl.run(&mut input, &mut NoInterrupts).await.unwrap();
    let (out, _) = repl.into_outputs();
    let out = text(&out);
    assert!(out.contains("Not saved."), "{out}");
    // The last answer was yes: the empty conversation replaced the first.
    let saved = bedrock_chat::SavedConversation::read(&path).unwrap();
    assert!(saved.messages().is_empty());
}

mod history_file {
    use bedrock_chat_cli::input::{EditorReader, LineReader};

    #[test]
    fn a_file_that_is_not_a_history_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let bashrc = dir.path().join(".bashrc");
        std::fs::write(&bashrc, "alias ll='ls -l'\n").unwrap();
        let mut reader = EditorReader::new(Some(bashrc.clone())).unwrap();
        let warnings = reader.take_warnings();
        assert!(
            warnings[0].contains("not a bedrock-chat input history"),
            "{warnings:?}"
        );
        reader.remember("hello");
        assert_eq!(
            std::fs::read_to_string(&bashrc).unwrap(),
            "alias ll='ls -l'\n"
        );
    }

    #[test]
    fn two_repls_sharing_a_history_keep_both_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("history");
        let mut first = EditorReader::new(Some(path.clone())).unwrap();
        let mut second = EditorReader::new(Some(path.clone())).unwrap();
        first.remember("from the first");
        second.remember("from the second");
        first.remember("two\nlines");
        let text = std::fs::read_to_string(&path).unwrap();
        for entry in ["from the first", "from the second", "two\\nlines"] {
            assert!(text.contains(entry), "{text}");
        }
        assert!(first.take_warnings().is_empty());
    }

    #[test]
    fn a_history_that_cannot_be_written_is_a_warning_not_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        // Its folder is a file: the history cannot be created.
        let mut reader = EditorReader::new(Some(file.join("history"))).unwrap();
        reader.remember("hello");
        let warnings = reader.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("input history is off"), "{warnings:?}");
        reader.remember("again");
        assert!(reader.take_warnings().is_empty(), "said once");
    }

    #[test]
    fn a_history_in_the_earlier_format_is_converted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history");
        std::fs::write(&path, "\"first\"\n\"two\\nlines\"\n").unwrap();
        let mut reader = EditorReader::new(Some(path.clone())).unwrap();
        assert!(reader.take_warnings().is_empty());
        reader.remember("third");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#V2\n"), "{text}");
        assert!(text.contains("first\ntwo\\nlines\nthird\n"), "{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_resends_a_stopped_first_message_and_usage_says_what_was_undone() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("one two three four").chunk_delay(Duration::from_secs(10)))
        .push(FakeReply::text("Answer.").usage(5, 2));
    let mut repl = repl(&fake, terminal()).await;
    let mut input = Typed::new(&["first question", "/retry", "/undo", "/usage"]);
    let mut interrupts = CtrlCAt {
        at: Some(Instant::now() + Duration::from_secs(25)),
    };
    repl.run(&mut input, &mut interrupts).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].messages(),
        [("user".to_string(), "first question".to_string())]
    );
    let (out, _) = repl.into_outputs();
    let out = text(&out);
    assert!(
        out.contains("1 of these turns are no longer in the conversation"),
        "{out}"
    );
    // The stopped reply is billed too: counted, estimated and said so.
    assert!(
        out.contains("turn   1: ") && out.contains("(reply stopped; tokens estimated)"),
        "{out}"
    );
    assert!(out.contains("1 reply was stopped before the end"), "{out}");
}

#[tokio::test]
async fn reasoning_is_shown_dimmed_before_the_answer_or_hidden_on_request() {
    for show in [true, false] {
        let fake = FakeBedrock::start().await.unwrap();
        fake.push(FakeReply::text("Answer.").thinking("Pondering \x1b[31mred\x1b[0m."));
        let mut options = terminal();
        options.show_reasoning = show;
        let mut repl = repl(&fake, options).await;
        let mut input = Typed::new(&["question"]);
        repl.run(&mut input, &mut NoInterrupts).await.unwrap();
        let (out, _) = repl.into_outputs();
        let out = text(&out);
        assert!(out.contains("Answer."), "{out}");
        if show {
            // Dimmed, and the model's own escape codes made visible, not obeyed.
            assert!(out.contains("\x1b[2mPondering"), "{out:?}");
            assert!(out.contains('␛') && !out.contains("\x1b[31m"), "{out:?}");
            assert!(out.find("Pondering").unwrap() < out.find("Answer.").unwrap());
        } else {
            assert!(!out.contains("Pondering"), "{out:?}");
        }
        assert_eq!(fake.request_count(), 1);
    }
}

/// Ctrl-C when the hostile MCP server has a call under way (its `hang`): the call is
/// cancelled, the turn stopped, and the conversation is as before it; the server stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_an_mcp_tool_call_stops_the_turn_and_keeps_the_conversation() {
    let Some(servers) = bedrock_chat::testing::McpTestServers::find("Ctrl-C in a tool call") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("hang-started");
    let mut entry = servers.hostile_stdio();
    entry["env"] = serde_json::json!({"HOSTILE_HANG_MARKER": marker});
    let config = bedrock_chat::McpConfig::from_json(
        &serde_json::json!({"mcpServers": {"hostile": entry}}).to_string(),
        |_| None,
    )
    .unwrap();
    let mcp = bedrock_chat::McpTools::connect(config).await;
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::tool_use(
        "h",
        "hostile__hang",
        serde_json::json!({}),
    ))
    .push(FakeReply::tool_use(
        "c",
        "hostile__count",
        serde_json::json!({}),
    ))
    .push(FakeReply::text("Counted."));
    let mut repl = repl(&fake, terminal()).await;
    repl.use_mcp(
        mcp.clone(),
        bedrock_chat_cli::mcp::Approval::new(true, Vec::new(), false),
    )
    .unwrap();
    let mut input = Typed::new(&["hang, please", "count"]);
    let mut interrupts = WhenFileExists { path: Some(marker) };

    let outcome = repl.run(&mut input, &mut interrupts).await.unwrap();

    assert_eq!(outcome, Outcome::Done);
    let history = repl.session().history();
    assert_eq!(history[0].text(), "count", "the stopped turn left nothing");
    assert_eq!(history.last().unwrap().text(), "Counted.");
    // The same server process answered after the stop: two calls, the hang and the count.
    let counted = &fake.requests()[2].tool_blocks()[1]["toolResult"];
    assert_eq!(counted["content"][0]["text"], "2", "{counted}");
    let (_, err) = repl.into_outputs();
    assert!(text(&err).contains("Stopped."), "{}", text(&err));
    mcp.shutdown().await;
}

/// Ctrl-C once a file exists (the hostile server makes it when its `hang` call starts).
struct WhenFileExists {
    path: Option<std::path::PathBuf>,
}

impl Interrupts for WhenFileExists {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            match self.path.clone() {
                Some(path) => {
                    // Polled: the file is a condition to wait for, made by another process.
                    while !path.exists() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    self.path = None;
                }
                None => std::future::pending().await,
            }
        })
    }
}
