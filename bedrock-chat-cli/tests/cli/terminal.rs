//! The REPL on a real pseudo-terminal, as a person at a keyboard meets it.

#[cfg(unix)]
mod pty {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use bedrock_chat::testing::{FakeBedrock, FakeReply};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

    /// rustyline asks where the cursor is; a terminal answers.
    const CURSOR_QUERY: &[u8] = b"\x1b[6n";

    struct Repl {
        master: File,
        child: Child,
        seen: Vec<u8>,
    }

    impl Repl {
        fn start(fake: &FakeBedrock, home: &std::path::Path) -> Self {
            Self::start_with(fake, home, &[])
        }

        fn start_with(
            fake: &FakeBedrock,
            home: &std::path::Path,
            args: &[&std::ffi::OsStr],
        ) -> Self {
            let master =
                openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
            grantpt(&master).unwrap();
            unlockpt(&master).unwrap();
            let name = ptsname(&master, Vec::new()).unwrap();
            let slave = File::options()
                .read(true)
                .write(true)
                .open(name.to_str().unwrap())
                .unwrap();
            // `setsid -c` makes the terminal the REPL's controlling terminal.
            let child = Command::new("setsid")
                .arg("-c")
                .arg(env!("CARGO_BIN_EXE_bedrock-chat"))
                .arg("--history-file")
                .arg(home.join("history"))
                .args(args)
                .env_clear()
                .envs(fake.child_env(home))
                .env("TERM", "xterm-256color")
                .stdin(Stdio::from(slave.try_clone().unwrap()))
                .stdout(Stdio::from(slave.try_clone().unwrap()))
                .stderr(Stdio::from(slave))
                .spawn()
                .expect("setsid (util-linux) runs the REPL");
            Repl {
                master: File::from(master),
                child,
                seen: Vec::new(),
            }
        }

        fn type_keys(&mut self, keys: &str) {
            self.master.write_all(keys.as_bytes()).unwrap();
        }

        /// Reads the terminal's output until `needle` appears, answering cursor queries;
        /// returns everything read since the last call.
        fn read_until(&mut self, needle: &str) -> String {
            let needle_text = needle;
            let needle = needle.as_bytes();
            let start = self.seen.len();
            let mut buffer = vec![0; 1 << 14];
            // A deadline rather than a blocking read forever: a REPL that never shows `needle`
            // fails the test, saying what it showed instead.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                let mut fds = [rustix::event::PollFd::new(
                    &self.master,
                    rustix::event::PollFlags::IN,
                )];
                let wait = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 200_000_000,
                };
                if rustix::event::poll(&mut fds, Some(&wait)).unwrap_or(0) == 0 {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no {needle_text:?} within 60 s; the terminal showed: {:?}",
                        String::from_utf8_lossy(&self.seen[start..])
                    );
                    continue;
                }
                let n = self.master.read(&mut buffer).unwrap();
                assert!(n > 0, "the REPL's terminal closed");
                let from = self
                    .seen
                    .len()
                    .saturating_sub(needle.len().max(CURSOR_QUERY.len()));
                self.seen.extend_from_slice(&buffer[..n]);
                let fresh = &self.seen[from..];
                if fresh.windows(CURSOR_QUERY.len()).any(|w| w == CURSOR_QUERY) {
                    self.master.write_all(b"\x1b[1;1R").unwrap();
                }
                if self.seen[start..]
                    .windows(needle.len())
                    .any(|w| w == needle)
                {
                    return String::from_utf8_lossy(&self.seen[start..]).into_owned();
                }
            }
        }
    }

    impl Drop for Repl {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Keys typed while a reply streams are not echoed into it; they wait for the next prompt.
    #[test]
    fn typed_ahead_text_is_not_echoed_into_the_reply_and_waits_at_the_prompt() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let fake = runtime.block_on(FakeBedrock::start()).unwrap();
        // At a model's pace, so there is a reply under way to type into.
        fake.push(
            FakeReply::chunks(["first ", "second ", "third ", "last."])
                .chunk_delay(Duration::from_millis(200)),
        );
        let home = tempfile::tempdir().unwrap();
        let mut repl = Repl::start(&fake, home.path());
        repl.read_until("you> ");
        repl.type_keys("Hello\r");
        repl.read_until("first");
        repl.type_keys("typed ahead");
        let rest_of_reply = repl.read_until("last.");
        assert!(
            !rest_of_reply.contains("typed ahead"),
            "the keys were echoed into the reply: {rest_of_reply:?}"
        );
        // The line editor shows them at the next prompt, ready to be sent.
        let prompt = repl.read_until("typed ahead");
        assert!(prompt.contains("you> "), "{prompt:?}");
    }

    /// At a terminal a tool that may change things asks first: no, then always.
    #[test]
    fn mcp_tools_that_may_change_things_ask_first() {
        let Some(servers) = bedrock_chat::testing::McpTestServers::find("MCP at a terminal") else {
            return;
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let fake = runtime.block_on(FakeBedrock::start()).unwrap();
        let note = || {
            FakeReply::tool_use(
                "n",
                "hostile__write_note",
                serde_json::json!({"text": "hi"}),
            )
        };
        fake.push(note())
            .push(FakeReply::text("Declined, fine."))
            .push(note())
            .push(FakeReply::text("Noted once."))
            .push(note())
            .push(FakeReply::text("Noted again."))
            .push(FakeReply::tool_use(
                "h",
                "hostile__hang",
                serde_json::json!({}),
            ))
            .push(FakeReply::text("After the stop."));
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("mcp.json");
        std::fs::write(
            &config,
            serde_json::json!({"mcpServers": {"hostile": servers.hostile_stdio()}}).to_string(),
        )
        .unwrap();
        let mut repl = Repl::start_with(
            &fake,
            home.path(),
            &["--mcp-config".as_ref(), config.as_os_str()],
        );
        repl.read_until("you> ");
        repl.type_keys("Write a note\r");
        repl.read_until("[a]lways for this tool: ");
        repl.type_keys("n\r");
        repl.read_until("Declined, fine.");
        let declined = &fake.requests()[1].tool_blocks()[1]["toolResult"];
        assert_eq!(declined["status"], "error", "{declined}");
        assert!(declined.to_string().contains("declined"), "{declined}");

        repl.read_until("you> ");
        repl.type_keys("Again\r");
        repl.read_until("[a]lways for this tool: ");
        repl.type_keys("a\r");
        repl.read_until("Noted once.");
        // Always: the third call runs without a question.
        repl.read_until("you> ");
        repl.type_keys("Once more\r");
        let third = repl.read_until("Noted again.");
        assert!(!third.contains("[a]lways"), "asked again: {third:?}");
    }
}
