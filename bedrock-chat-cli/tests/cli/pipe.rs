//! The binary end to end, in pipe mode, as a script would drive it.

use std::path::Path;
use std::process::Output;

use bedrock_chat::testing::{
    FakeBedrock, FakeError, FakeReply, Operation, StreamFault, isolated_aws_env,
};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The binary with an isolated environment (the fake's endpoint, test credentials, a region, a
/// throwaway home and working directory) and 1 ms retry delays.
pub fn bedrock_chat(fake: Option<&FakeBedrock>, dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-chat"));
    let env = match fake {
        Some(fake) => fake.child_env(dir),
        None => isolated_aws_env(dir),
    };
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .env("BEDROCK_RETRY_BASE_DELAY", "1ms")
        .env("BEDROCK_RETRY_MAX_DELAY", "2ms")
        .current_dir(dir)
        .kill_on_drop(true);
    command
}

pub async fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Output {
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let mut input = child.stdin.take().unwrap();
    // A program that exits early (bad usage) may close its stdin first; that is not a failure.
    let _ = input.write_all(stdin).await;
    drop(input);
    child.wait_with_output().await.unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_line_is_a_turn_of_one_conversation() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("Paris."))
        .push(FakeReply::text("Madrid."));
    let dir = tempfile::tempdir().unwrap();

    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"Capital of France?\n\nAnd of Spain?\n",
    )
    .await;

    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Paris.\nMadrid.\n");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "the empty line is not a turn");
    assert_eq!(requests[1].operation, Operation::ConverseStream);
    assert_eq!(
        requests[1].messages(),
        [
            ("user".to_string(), "Capital of France?".to_string()),
            ("assistant".into(), "Paris.".into()),
            ("user".into(), "And of Spain?".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_with_a_notice_on_stderr() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push_times(2, FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("Done."));
    let dir = tempfile::tempdir().unwrap();
    let output = run_with_stdin(bedrock_chat(Some(&fake), dir.path()), b"hi\n").await;
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), "Done.\n");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("throttled; retrying in 1 ms (retry 1 of 5)"),
        "{stderr}"
    );
    assert!(stderr.contains("(retry 2 of 5)"), "{stderr}");
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stream_uses_converse() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("Whole."));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.arg("--no-stream");
    let output = run_with_stdin(command, b"hi\n").await;
    assert!(output.status.success());
    assert_eq!(text(&output.stdout), "Whole.\n");
    assert_eq!(fake.requests()[0].operation, Operation::Converse);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_flag_sends_one_turn_with_the_flags_settings() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("Bonjour."));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args([
        "-p",
        "Say hello in French",
        "--model",
        "eu.anthropic.claude-sonnet-4-6",
        "--system",
        "Be brief.",
        "--max-tokens",
        "50",
        "--temperature",
        "0.5",
        "--top-p",
        "0.9",
        "--stop",
        "END",
        "--stop",
        "STOP",
    ]);
    let output = run_with_stdin(command, b"").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Bonjour.\n");
    let request = &fake.requests()[0];
    assert_eq!(request.model_id, "eu.anthropic.claude-sonnet-4-6");
    assert_eq!(request.system().as_deref(), Some("Be brief."));
    assert_eq!(request.body["inferenceConfig"]["maxTokens"], 50);
    assert_eq!(
        request.body["inferenceConfig"]["stopSequences"],
        serde_json::json!(["END", "STOP"])
    );
}

/// Runs one failing turn followed by a line that must never be sent.
async fn failing_turn(reply: FakeReply, extra_args: &[&str]) -> (Output, usize) {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(reply);
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(extra_args);
    let output = run_with_stdin(command, b"first\nsecond\n").await;
    (output, fake.request_count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_one_actionable_line_and_exit_status_1() {
    let cases: Vec<(FakeReply, &str, usize)> = vec![
        (FakeReply::error(FakeError::AccessDenied), "Model access", 1),
        (FakeReply::error(FakeError::ResourceNotFound), "was not found in region us-east-1", 1),
        (
            FakeReply::error(FakeError::Validation(
                "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn't supported.".into(),
            )),
            "use its inference profile id",
            1,
        ),
        (
            FakeReply::error(FakeError::Validation("messages.0: invalid content".into())),
            "Bedrock rejected the request: messages.0: invalid content",
            1,
        ),
        (FakeReply::error(FakeError::Throttling), "throttling", 6),
        (FakeReply::text("a b c").fault_after(1, StreamFault::DropConnection), "cut off", 1),
    ];
    for (reply, expected, requests) in cases {
        let what = format!("{reply:?}");
        let (output, count) = failing_turn(reply, &[]).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(error_lines.len(), 1, "{what}: {stderr}");
        assert!(error_lines[0].contains(expected), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert!(
            text(&output.stdout).is_empty(),
            "{what}: a failed reply reached stdout"
        );
        assert_eq!(count, requests, "{what}: the second line must not be sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_failure_is_reported_after_the_retries() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push_times(2, FakeReply::drop_connection());
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(["--max-retries", "1"]);
    let output = run_with_stdin(command, b"hi\n").await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("could not reach Bedrock"), "{stderr}");
    assert!(stderr.contains("connection failed"), "{stderr}");
    assert!(stderr.contains("retrying in"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_refuses_connections_is_named_at_once_without_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(None, dir.path());
    // Nothing listens on port 9 (discard) here; with retries of 1 s, retrying would show.
    command
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
        .env("BEDROCK_RETRY_BASE_DELAY", "1s")
        .env("BEDROCK_RETRY_MAX_DELAY", "2s");
    let started = std::time::Instant::now();
    let output = run_with_stdin(command, b"hi\n").await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr
            .contains("cannot reach the Bedrock endpoint http://127.0.0.1:9 (connection refused)"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_say_how_to_provide_them_without_retrying() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let output = run_with_stdin(command, b"hi\n").await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    assert!(
        stderr.contains("AWS_BEARER_TOKEN_BEDROCK"),
        "the fastest way, a Bedrock API key, is named: {stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_exits_with_status_2_before_any_request() {
    let fake = FakeBedrock::start().await.unwrap();
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (vec!["--temperature", "7"], None, "between 0 and 1"),
        (vec!["--max-tokens", "0"], None, "at least 1"),
        (
            vec!["--max-tokens=-5"],
            None,
            "--max-tokens: \"-5\" is not a valid number",
        ),
        (vec!["--endpoint-url", "not a url"], None, "not a URL"),
        (vec!["--region", "Mars"], None, "not an AWS region"),
        (vec![], Some("AWS_REGION"), "no AWS region"),
        (vec!["--retry-base-delay", "soon"], None, "not a duration"),
        (vec!["--no-such-flag"], None, "unexpected argument"),
    ];
    for (args, remove, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command.args(&args);
        if let Some(name) = remove {
            command.env_remove(name);
        }
        let output = run_with_stdin(command, b"hi\n").await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_then_load_in_a_new_process_continues_the_conversation() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("Paris."))
        .push(FakeReply::text("Madrid."));
    let dir = tempfile::tempdir().unwrap();

    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"Capital of France?\n/save chat.json\n",
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Paris.\n",
        "command output stays off stdout"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("chat.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"/load chat.json\nAnd Spain?\n",
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Madrid.\n");
    assert_eq!(fake.requests()[1].messages().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_work_in_a_pipe_and_unknown_ones_get_a_hint() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("One.").usage(7, 3))
        .push(FakeReply::text("Two."));
    let dir = tempfile::tempdir().unwrap();
    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"/system Be brief.\nfirst\n/usage\n/undo\n/history\nsecond\n/model\n",
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "One.\nTwo.\n");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("7 input + 3 output tokens"), "{stderr}");
    assert!(stderr.contains("The conversation is empty."), "{stderr}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].messages().len(),
        1,
        "/undo removed the first exchange"
    );
    assert_eq!(requests[1].system().as_deref(), Some("Be brief."));

    // In a pipe an unknown command is bad usage: a hint, status 2, and nothing more is sent.
    let output = run_with_stdin(
        bedrock_chat(Some(&fake), dir.path()),
        b"/frobnicate\nnever sent\n",
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("error: unknown command /frobnicate; type /help"),
        "{stderr}"
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_prompt_is_bad_usage_and_every_error_has_one_prefix() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["-p", ""], vec!["-p", "   "]] {
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command.args(&args);
        let output = run_with_stdin(command, b"").await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).starts_with("error: -p/--prompt: the message is empty"));
    }
    for args in [vec!["--temperature", "7"], vec!["--no-such-flag"]] {
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command.args(&args);
        let output = run_with_stdin(command, b"hi\n").await;
        assert!(
            text(&output.stderr).starts_with("error: "),
            "{}",
            text(&output.stderr)
        );
    }
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_input_is_refused_without_a_request() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = run_with_stdin(bedrock_chat(Some(&fake), dir.path()), b"\xff\xfe oops\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("not valid UTF-8"));
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_documents_every_flag_with_its_variable_and_version_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(None, dir.path());
    command.arg("--help");
    let output = run_with_stdin(command, b"").await;
    assert!(output.status.success());
    let help = text(&output.stdout);
    for needle in [
        "--model",
        "BEDROCK_MODEL_ID",
        "--region",
        "AWS_REGION",
        "--profile",
        "--endpoint-url",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "--system",
        "--max-tokens",
        "--temperature",
        "--top-p",
        "--stop",
        "--max-retries",
        "--retry-base-delay",
        "--retry-max-delay",
        "--no-stream",
        "--prompt",
        "Exit codes",
        "global.anthropic.claude-sonnet-4-6",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let mut command = bedrock_chat(None, dir.path());
    command.arg("--version");
    let output = run_with_stdin(command, b"").await;
    assert!(text(&output.stdout).starts_with("bedrock-chat 0."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotenv_settings_apply_under_the_environment() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "BEDROCK_MODEL_ID=from-dotenv-model\nBEDROCK_SYSTEM_PROMPT=\"from dotenv\"\nAWS_REGION=eu-west-1\n",
    )
    .unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command
        .env_remove("AWS_REGION")
        .env("BEDROCK_SYSTEM_PROMPT", "from env");
    let output = run_with_stdin(command, b"hi\n").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let request = &fake.requests()[0];
    assert_eq!(request.model_id, "from-dotenv-model");
    assert_eq!(request.system().as_deref(), Some("from env"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_credentials_never_reach_stdout_or_stderr_even_at_trace_level() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("fine"))
        .push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::error(FakeError::AccessDenied));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command
        .env("AWS_SECRET_ACCESS_KEY", "SECRETSENTINEL+abc")
        .env("AWS_SESSION_TOKEN", "TOKENSENTINEL//xyz==")
        .env("BEDROCK_CHAT_LOG", "trace");
    let output = run_with_stdin(command, b"one\ntwo\n").await;
    assert_eq!(output.status.code(), Some(1));
    let everything = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(everything.contains("TRACE"), "trace logging is on");
    assert!(
        !everything.contains("SECRETSENTINEL"),
        "the secret key leaked"
    );
    assert!(
        !everything.contains("TOKENSENTINEL"),
        "the session token leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bedrock_api_key_in_the_environment_is_used_and_never_printed() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("fine"))
        .push(FakeReply::error(FakeError::AccessDenied));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command
        .env("AWS_BEARER_TOKEN_BEDROCK", "ABSKBEARERSENTINEL")
        .env("BEDROCK_CHAT_LOG", "trace");
    let output = run_with_stdin(command, b"one\ntwo\n").await;
    assert_eq!(output.status.code(), Some(1));
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.authorization_scheme.as_deref() == Some("Bearer")),
        "the API key was not used"
    );
    let everything = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(everything.contains("TRACE"), "trace logging is on");
    assert!(!everything.contains("BEARERSENTINEL"), "the API key leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_reaches_the_network_before_the_first_message() {
    // A stand-in for the EC2 instance metadata service that records any connection.
    let imds = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let imds_url = format!("http://{}", imds.local_addr().unwrap());
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds_url);
    let output = run_with_stdin(command, b"").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(fake.request_count(), 0);
    let connected = tokio::time::timeout(std::time::Duration::ZERO, imds.accept()).await;
    assert!(
        connected.is_err(),
        "the instance metadata service was contacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_policy_trims_with_a_warning_and_usage_shows_cost() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("A1").usage(1_000, 100))
        .push(FakeReply::text("A2").usage(1_000, 100))
        .push(FakeReply::text("A3").usage(1_000, 100));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args([
        "--context-policy",
        "last:1",
        "--model",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ]);
    let output = run_with_stdin(command, b"Q1\nQ2\nQ3\n/usage\n/history\n").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("context: the 2 oldest messages were not sent"),
        "{stderr}"
    );
    // 3 turns of 1,000 input and 100 output tokens at $3 and $15 per million: $0.0135.
    assert!(
        stderr.contains("total: 3000 input + 300 output tokens, $0.0135"),
        "{stderr}"
    );
    assert!(stderr.contains("context policy: last:1"), "{stderr}");
    assert!(
        stderr.contains("you: Q1"),
        "the full history is kept: {stderr}"
    );
    let requests = fake.requests();
    assert_eq!(requests[2].messages().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_budget_ends_the_pipe_with_status_1() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(["--budget", "0", "--budget-mode", "refuse"]);
    let output = run_with_stdin(command, b"hi\n").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("budget"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(fake.request_count(), 0);
    for bad in [["--context-policy", "most"], ["--max-context-tokens", "0"]] {
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command.args(bad);
        let output = run_with_stdin(command, b"hi\n").await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{bad:?}: {}",
            text(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_attach_to_the_next_message_with_attach_and_the_flag() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("Seen."));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.md"), "# Plan\n- ship it\n").unwrap();
    std::fs::write(dir.path().join("data.bin"), [0u8, 159, 146, 150]).unwrap();

    // In a pipe: /attach, then the message it goes with; /history shows it.
    let command = bedrock_chat(Some(&fake), dir.path());
    let output = run_with_stdin(
        command,
        b"/attach notes.md\nSummarise the plan.\n/history\n/attach data.bin\n",
    )
    .await;
    let stderr = text(&output.stderr);
    assert!(stderr.contains("Attached notes (md, 1 KB)"), "{stderr}");
    assert!(
        stderr.contains("not an attachment Bedrock takes"),
        "{stderr}"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed /attach in a pipe stops it"
    );
    let history = text(&output.stderr);
    assert!(
        history.contains("you: [notes (md, 1 KB)] Summarise the plan."),
        "{history}"
    );
    let request = &fake.requests()[0];
    let content = &request.body["messages"][0]["content"];
    assert_eq!(content[0]["document"]["format"], "md");
    assert_eq!(content[0]["document"]["name"], "notes");
    assert_eq!(content[1]["text"], "Summarise the plan.");

    // With --attach and -p: the one message carries it; a missing file is bad usage.
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(["--attach", "notes.md", "-p", "What is planned?"]);
    let output = run_with_stdin(command, b"").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let last = fake.requests().pop().unwrap();
    assert_eq!(
        last.body["messages"][0]["content"][0]["document"]["name"],
        "notes"
    );
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(["--attach", "missing.png", "-p", "hi"]);
    let output = run_with_stdin(command, b"").await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("missing.png does not exist"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_cache_answers_a_repeated_question_and_usage_counts_the_hit() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("We open at nine.").usage(1_000, 100))
        .push(FakeReply::text("Nine, again.").usage(1_000, 100));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args([
        "--reply-cache",
        "exact",
        "--model",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ]);
    let output = run_with_stdin(
        command,
        b"Opening hours?\n/clear\nOpening hours?\n/retry\n/usage\n",
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    // The second ask is answered from the cache; /retry asks the model for another answer.
    assert_eq!(
        text(&output.stdout),
        "We open at nine.\nWe open at nine.\nNine, again.\n"
    );
    assert_eq!(fake.requests().len(), 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("turn   2: 0 input + 0 output tokens, $0.00 (from the reply cache)"),
        "{stderr}"
    );
    // 1,000 input and 100 output tokens at $3 and $15 per million: $0.0045 not spent.
    assert!(
        stderr.contains("reply cache: 1 hits, 2 misses; the hits saved $0.0045"),
        "{stderr}"
    );
}

/// `--demo` needs nothing from AWS: no credentials, no region, no endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_answers_without_any_aws_set_up_and_says_it_is_canned() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(None, dir.path());
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_REGION")
        .arg("--demo");
    let output = run_with_stdin(command, b"Hello\n/usage\n").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("**This is a canned demo reply**"),
        "{stdout}"
    );
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("Demo: replies are canned"), "{stderr}");
    assert!(stderr.contains("turn   1:"), "{stderr}");
}

/// MCP tools in a pipe: read-only ones run, one that may change things is refused unless
/// allowed by name, the calls and results are shown on stderr, and /tools lists the servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_run_in_a_pipe_only_when_read_only_or_allowed() {
    let Some(servers) = bedrock_chat::testing::McpTestServers::find("REPL MCP tools") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        serde_json::json!({"mcpServers": {
            "hostile": servers.hostile_stdio(),
            "gone": {"command": "/nonexistent/server"}
        }})
        .to_string(),
    )
    .unwrap();
    for (allow, note_runs) in [(None, false), (Some("hostile__write_note"), true)] {
        let fake = FakeBedrock::start().await.unwrap();
        fake.push(
            FakeReply::tool_use(
                "a",
                "hostile__files_read",
                serde_json::json!({"name": "x.txt"}),
            )
            .tool_call(
                "b",
                "hostile__write_note",
                serde_json::json!({"text": "hi"}),
            ),
        )
        .push(FakeReply::text("Done with tools."));
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command.arg("--mcp-config").arg(&config);
        if let Some(name) = allow {
            command.args(["--allow-tools", name]);
        }
        let output = run_with_stdin(command, b"/tools\nUse the tools\n").await;
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(text(&output.stdout), "Done with tools.\n");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("warning: MCP server gone:"), "{stderr}");
        assert!(stderr.contains("hostile: connected"), "{stderr}");
        assert!(
            stderr.contains("hostile__write_note (may change things: asks first)"),
            "{stderr}"
        );
        assert!(
            stderr.contains("⚙ hostile__files_read {\"name\":\"x.txt\"}"),
            "{stderr}"
        );
        assert!(stderr.contains("→ the contents of x.txt"), "{stderr}");
        let results = fake.requests()[1].tool_blocks();
        let note = &results[3]["toolResult"];
        if note_runs {
            assert_eq!(note["status"], "success", "{note}");
            assert!(stderr.contains("→ noted: hi"), "{stderr}");
        } else {
            assert_eq!(note["status"], "error", "{note}");
            assert!(note.to_string().contains("has not allowed"), "{note}");
        }
    }
}
