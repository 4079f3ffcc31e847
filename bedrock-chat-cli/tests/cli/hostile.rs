//! The binary against the attacks of hostile testing (issue 15): escape sequences from outside,
//! files that must not be destroyed, closed pipes, stalls and unbounded input.

use std::process::Stdio;
use std::time::Duration;

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::pipe::{bedrock_chat, run_with_stdin, text};

const ATTACK: &str = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07\u{9b}31m";

fn assert_no_escapes(what: &str, output: &str) {
    assert!(
        !output
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{what} carries control characters: {output:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_messages_and_file_contents_reach_stderr_neutralised() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text(&format!("reply {ATTACK}")))
        .push(FakeReply::error(FakeError::Validation(format!(
            "bad {ATTACK}"
        ))));
    let dir = tempfile::tempdir().unwrap();
    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"hi\n/history\n/model evil\x1b]0;x\x07model\n/model\nagain\n",
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert_no_escapes("stderr", &stderr);
    assert!(
        stderr.contains("\u{241b}]0;pwned"),
        "shown, not hidden: {stderr}"
    );
    // In a pipe the reply is data and stays verbatim (documented).
    assert!(text(&output.stdout).contains(ATTACK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_never_replaces_a_file_that_is_not_a_conversation_and_asks_for_force() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "precious notes").unwrap();

    let output = run_with_stdin(bedrock_chat(Some(&fake), dir.path()), b"/save notes.txt\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("was not replaced"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "precious notes"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let output =
            run_with_stdin(bedrock_chat(Some(&fake), dir.path()), b"/save /dev/null\n").await;
        assert_eq!(output.status.code(), Some(1));
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    // A saved conversation is not replaced by an empty session unless forced.
    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"hello\n/save chat.json\n",
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let saved = std::fs::read_to_string(dir.path().join("chat.json")).unwrap();
    let output = run_with_stdin(bedrock_chat(Some(&fake), dir.path()), b"/save chat.json\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("--force"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("chat.json")).unwrap(),
        saved
    );
    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"/save --force chat.json\n",
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        std::fs::read_to_string(dir.path().join("chat.json"))
            .unwrap()
            .contains("\"messages\": []")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dotenv_may_not_choose_files_and_its_endpoint_is_announced() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    let bashrc = dir.path().join("bashrc");
    std::fs::write(&bashrc, "alias ll='ls -l'\n").unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "BEDROCK_CHAT_HISTORY_FILE={}\nAWS_ENDPOINT_URL_BEDROCK_RUNTIME={}\n",
            bashrc.display(),
            fake.endpoint_url()
        ),
    )
    .unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.env_remove("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
    let output = run_with_stdin(command, b"hi\n").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("ignoring BEDROCK_CHAT_HISTORY_FILE from .env"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("go to {}", fake.endpoint_url())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&bashrc).unwrap(),
        "alias ll='ls -l'\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_timeout_ends_a_stalled_stream_in_a_pipe() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::chunks(["one ", "two"]).pause_after(1, Duration::from_secs(120)));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(["--read-timeout", "300ms", "--max-retries", "0"]);
    let started = std::time::Instant::now();
    let output = run_with_stdin(command, b"count\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(
        text(&output.stderr).contains("timed out"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        text(&output.stdout),
        "",
        "half a reply never reaches a pipe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_lines_and_devices_are_refused_without_being_read_whole() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    let mut input = vec![b'a'; 3 * 1024 * 1024];
    input.push(b'\n');
    let output = run_with_stdin(bedrock_chat(Some(&fake), dir.path()), &input).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("longer than"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(fake.request_count(), 0);

    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for target in ["/dev/zero", "fifo"] {
            let output = run_with_stdin(
                bedrock_chat(Some(&fake), dir.path()),
                format!("/load {target}\n").as_bytes(),
            )
            .await;
            assert_eq!(output.status.code(), Some(1));
            assert!(
                text(&output.stderr).contains("not a regular file"),
                "{}",
                text(&output.stderr)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_is_sent_once_stdouts_reader_has_gone() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("answer"));
    let dir = tempfile::tempdir().unwrap();
    let mut child = bedrock_chat(Some(&fake), dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"first\n").await.unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    assert_eq!(line, "answer\n");
    // The reader goes away, as `head -1` does, then more input comes.
    drop(stdout);
    stdin.write_all(b"second\n").await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(output.status.code(), Some(141), "{}", text(&output.stderr));
    assert_eq!(
        fake.request_count(),
        1,
        "no paid request for an unread reply"
    );
    assert!(!text(&output.stderr).contains("panicked"));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_outputs_are_noticed_without_panics() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push_times(2, FakeReply::error(FakeError::Throttling))
        .set_fallback(FakeReply::text("answer"));
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_bedrock-chat");

    // stderr and stdout into one pipe that closes after the first line.
    let mut command = bedrock_chat(Some(&fake), dir.path());
    let std = command.as_std_mut();
    let script =
        r#"set -o pipefail; "$0" -p hi 2>&1 | head -1 >/dev/null; echo "status=${PIPESTATUS[0]}""#;
    let output = tokio::process::Command::new("bash")
        .args(["-c", script, binary])
        .envs(
            std.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(!stdout.contains("status=101"), "a panic: {stdout}");
    assert!(
        stdout.contains("status=141") || stdout.contains("status=0"),
        "{stdout}"
    );

    // `-p` with stdout closed: refused before anything is sent.
    let before = fake.request_count();
    let output = tokio::process::Command::new("sh")
        .args(["-c", r#"exec "$0" -p hi >&-"#, binary])
        .envs(
            std.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("standard output is closed"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(fake.request_count(), before);

    // `-p` whose reply cannot be written (a full disk) fails.
    let output = tokio::process::Command::new("sh")
        .args(["-c", r#"exec "$0" -p hi >/dev/full"#, binary])
        .envs(
            std.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_files_are_checked_and_keep_their_usage() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("ok").usage(10, 5));
    let dir = tempfile::tempdir().unwrap();
    let saved = r#"{"format": "bedrock-chat/conversation", "version": 1, "modelId": "m",
        "systemPrompt": "", "messages": [{"role": "user", "content": [{"text": "a"}]},
        {"role": "assistant", "content": [{"text": "b"}]}],
        "usage": {"inputTokens": 100, "outputTokens": 50}}"#;
    std::fs::write(dir.path().join("old.json"), saved).unwrap();
    std::fs::write(
        dir.path().join("nul.json"),
        saved.replace("\"b\"", "\"b\\u0000\""),
    )
    .unwrap();
    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"/load old.json\nnext\n/save new.json\n",
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        fake.requests()[0].system(),
        None,
        "a blank prompt is no prompt"
    );
    let new = std::fs::read_to_string(dir.path().join("new.json")).unwrap();
    assert!(new.contains("\"inputTokens\": 110"), "{new}");
    assert!(new.contains("\"outputTokens\": 55"), "{new}");

    let output = run_with_stdin(bedrock_chat(Some(&fake), dir.path()), b"/load nul.json\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("control character"),
        "{}",
        text(&output.stderr)
    );
    let output = run_with_stdin(bedrock_chat(Some(&fake), dir.path()), b"/system a\x00b\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("control character"),
        "{}",
        text(&output.stderr)
    );
}

/// `.env` keys are used only when the environment has neither keys nor a profile (the library's
/// rule, applied by the REPL too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotenv_keys_never_override_environment_credentials_or_a_profile() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "AWS_ACCESS_KEY_ID=AKIDFROMDOTENV\nAWS_SECRET_ACCESS_KEY=dotenv-secret\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("aws-credentials"),
        "[work]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    let key_used = |command: tokio::process::Command| {
        let fake = &fake;
        async move {
            let before = fake.request_count();
            let output = run_with_stdin(command, b"hi\n").await;
            assert!(output.status.success(), "{}", text(&output.stderr));
            fake.requests()[before].access_key_id.clone()
        }
    };

    // The environment's keys win.
    let command = bedrock_chat(Some(&fake), dir.path());
    assert_eq!(key_used(command).await.as_deref(), Some("AKIDFAKEBEDROCK"));

    // A profile wins.
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("aws-credentials"),
        )
        .env("AWS_PROFILE", "work");
    assert_eq!(key_used(command).await.as_deref(), Some("AKIDFROMPROFILE"));

    // With neither, the .env keys are used.
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    assert_eq!(key_used(command).await.as_deref(), Some("AKIDFROMDOTENV"));
}
