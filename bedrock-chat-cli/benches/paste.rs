//! How long a large paste at the interactive prompt takes to become a message: from the first
//! byte the terminal sends to the moment the REPL starts the turn ("thinking…"), through a real
//! pseudo-terminal of 120 columns, against the fake Bedrock.
//!
//! Cases: 1 MB on one line in a bracketed paste (every current terminal emulator sends one);
//! 1 MB of 100-character lines in a `"""` block without bracketed paste; and single lines of
//! growing size without bracketed paste, where rustyline redraws the whole line each time it
//! wraps to a new row (the cost grows with the square of the line's length; see the README).
//! Target: well under a second for 1 MB.
//!
//! Run: `cargo bench -p bedrock-chat-cli --bench paste` (Linux; needs util-linux's `setsid`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[cfg(target_os = "linux")]
fn main() {
    pty_bench::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the paste benchmark runs on Linux only");
}

#[cfg(target_os = "linux")]
mod pty_bench {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use bedrock_chat::testing::{FakeBedrock, FakeReply};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use rustix::termios::{Winsize, tcsetwinsize};

    const BRACKET_START: &[u8] = b"\x1b[200~";
    const BRACKET_END: &[u8] = b"\x1b[201~";
    /// rustyline asks where the cursor is; a terminal answers.
    const CURSOR_QUERY: &[u8] = b"\x1b[6n";

    pub fn main() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let fake = runtime.block_on(FakeBedrock::start()).unwrap();
        fake.set_fallback(FakeReply::text("ok"));
        let home = tempfile::tempdir().unwrap();
        let runs = 5;

        let megabyte = one_line(1_000_000);
        let mut bracketed = BRACKET_START.to_vec();
        bracketed.extend_from_slice(&megabyte);
        bracketed.extend_from_slice(BRACKET_END);
        bracketed.push(b'\r');
        report(
            "1 MB, one line, bracketed paste",
            &fake,
            home.path(),
            &bracketed,
            runs,
        );

        let mut block = b"\"\"\"\r".to_vec();
        for _ in 0..10_000 {
            block.extend_from_slice(&one_line(99));
            block.push(b'\r');
        }
        block.extend_from_slice(b"\"\"\"\r");
        report(
            "1 MB, 10,000 lines in a \"\"\" block, not bracketed",
            &fake,
            home.path(),
            &block,
            runs,
        );

        for size in [10_000, 20_000, 40_000] {
            let mut line = one_line(size);
            line.push(b'\r');
            report(
                &format!("{} KB, one line, not bracketed", size / 1000),
                &fake,
                home.path(),
                &line,
                runs,
            );
        }
    }

    fn one_line(bytes: usize) -> Vec<u8> {
        b"abcdefghi ".iter().copied().cycle().take(bytes).collect()
    }

    fn report(name: &str, fake: &FakeBedrock, home: &std::path::Path, keys: &[u8], runs: usize) {
        let mut times: Vec<Duration> = (0..runs).map(|_| paste(fake, home, keys)).collect();
        times.sort();
        println!(
            "{name:<50} median {:>9.1?}  (min {:.1?}, max {:.1?}, {runs} runs)",
            times[runs / 2],
            times[0],
            times[runs - 1]
        );
    }

    /// Starts the REPL on a new pseudo-terminal, waits for its prompt, sends `keys` as a
    /// terminal would, and returns the time until the turn starts.
    fn paste(fake: &FakeBedrock, home: &std::path::Path, keys: &[u8]) -> Duration {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        tcsetwinsize(
            &master,
            Winsize {
                ws_row: 40,
                ws_col: 120,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .unwrap();
        let slave = File::options()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        let mut master = File::from(master);
        // `setsid -c` makes the terminal the REPL's controlling terminal, so that /dev/tty, where
        // rustyline reads and draws, is this one.
        let mut child = Command::new("setsid")
            .arg("-c")
            .arg(env!("CARGO_BIN_EXE_bedrock-chat"))
            .arg("--history-file")
            .arg(home.join("history"))
            .env_clear()
            .envs(fake.child_env(home))
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("setsid (util-linux) runs the REPL");

        let mut seen = Vec::new();
        read_until(&mut master, &mut seen, b"you> ");
        let mut writer = master.try_clone().unwrap();
        let keys = keys.to_vec();
        let start = Instant::now();
        let typing = std::thread::spawn(move || writer.write_all(&keys).unwrap());
        seen.clear();
        read_until(&mut master, &mut seen, "thinking".as_bytes());
        let elapsed = start.elapsed();
        child.kill().unwrap();
        child.wait().unwrap();
        typing.join().unwrap();
        elapsed
    }

    /// Reads the terminal's output until `needle` appears, answering cursor queries.
    fn read_until(master: &mut File, seen: &mut Vec<u8>, needle: &[u8]) {
        let mut buffer = vec![0; 1 << 16];
        loop {
            let n = master.read(&mut buffer).unwrap();
            assert!(n > 0, "the REPL's terminal closed");
            let from = seen
                .len()
                .saturating_sub(needle.len().max(CURSOR_QUERY.len()));
            seen.extend_from_slice(&buffer[..n]);
            let fresh = &seen[from..];
            if fresh.windows(CURSOR_QUERY.len()).any(|w| w == CURSOR_QUERY) {
                master.write_all(b"\x1b[1;1R").unwrap();
            }
            if fresh.windows(needle.len()).any(|w| w == needle) {
                return;
            }
            // Only the tail matters; keep memory flat while megabytes of echo go by.
            if seen.len() > 1 << 20 {
                seen.drain(..seen.len() - 64);
            }
        }
    }
}
