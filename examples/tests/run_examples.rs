//! Runs every example, unchanged, against the fake Bedrock through the standard AWS environment
//! variables, so an example that stops working fails CI.
//!
//! Run with `cargo test -p bedrock-chat-examples` (which also builds the examples).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply, PIXEL_PNG, isolated_aws_env};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// `target/<profile>/examples/<name>`: this test runs from `target/<profile>/deps`.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test -p bedrock-chat-examples`",
        path.display()
    );
    path
}

fn example(name: &str, endpoint: &str, dir: &Path) -> Command {
    let mut command = Command::new(example_path(name));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(isolated_aws_env(dir))
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn run(mut command: Command) -> Output {
    let output = command.output().await.unwrap();
    assert!(
        output.status.success(),
        "example failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_question() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("Paris."));
    let dir = tempfile::tempdir().unwrap();
    let mut command = example("one_question", &fake.endpoint_url(), dir.path());
    command.arg("Capital of France?");
    let output = run(command).await;
    assert_eq!(stdout(&output), "Paris.\n");
    assert_eq!(fake.requests()[0].messages()[0].1, "Capital of France?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_carries_context() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("The Loire."))
        .push(FakeReply::text("The Atlantic."))
        .push(FakeReply::text("About 1,006 km."));
    let dir = tempfile::tempdir().unwrap();
    let output = run(example("conversation", &fake.endpoint_url(), dir.path())).await;
    assert!(stdout(&output).contains("claude: About 1,006 km."));
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.messages().len(), 5);
    assert!(last.system().unwrap().contains("geography tutor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::chunks([
        "Rivers ", "run ", "to ", "the ", "sea.",
    ]));
    let dir = tempfile::tempdir().unwrap();
    let output = run(example("streaming", &fake.endpoint_url(), dir.path())).await;
    assert_eq!(stdout(&output), "Rivers run to the sea.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_use_runs_both_tools_at_once_to_an_answer() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(
        FakeReply::text("Let me work that out. ")
            .tool_call(
                "c1",
                "calculator",
                serde_json::json!({"a": 1234, "b": 5678, "operation": "multiply"}),
            )
            .tool_call("c2", "clock", serde_json::json!({}))
            .interleave_tool_calls(),
    )
    .push(FakeReply::text("1234 * 5678 = 7006652."));
    let dir = tempfile::tempdir().unwrap();
    let output = run(example("tool_use", &fake.endpoint_url(), dir.path())).await;
    assert_eq!(
        stdout(&output),
        "Let me work that out. 1234 * 5678 = 7006652.\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[calling calculator…]"), "{stderr}");
    assert!(stderr.contains("[→ 7006652.0]"), "{stderr}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let results: Vec<serde_json::Value> = requests[1].tool_blocks();
    let answered: Vec<&str> = results
        .iter()
        .filter_map(|b| b["toolResult"]["toolUseId"].as_str())
        .collect();
    assert_eq!(answered, ["c1", "c2"], "every call got exactly one result");
    assert!(
        results
            .iter()
            .all(|b| b.get("toolUse").is_some() || b["toolResult"]["status"] == "success")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_image_sends_the_picture_with_the_question() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("A single red pixel."));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pixel.png"), PIXEL_PNG).unwrap();
    let mut command = example("describe_image", &fake.endpoint_url(), dir.path());
    command.args(["pixel.png", "What is this?"]);
    let output = run(command).await;
    assert_eq!(stdout(&output), "A single red pixel.\n");
    let content = &fake.requests()[0].body["messages"][0]["content"];
    assert_eq!(content[0]["image"]["format"], "png");
    assert_eq!(content[1]["text"], "What is this?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summarise_document_keeps_the_document_for_the_follow_up() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("- one\n- two\n- three"))
        .push(FakeReply::text("Ship it."));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("John's plan #2.md"),
        "# Plan\n\nShip it on Friday.\n",
    )
    .unwrap();
    let mut command = example("summarise_document", &fake.endpoint_url(), dir.path());
    command.arg("John's plan #2.md");
    let output = run(command).await;
    assert_eq!(stdout(&output), "- one\n- two\n- three\n\nShip it.\n");
    let requests = fake.requests();
    let document = &requests[1].body["messages"][0]["content"][0]["document"];
    assert_eq!(document["name"], "Johns plan 2");
    assert_eq!(document["format"], "md");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_policy_prints_each_retry() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("Hello."));
    let dir = tempfile::tempdir().unwrap();
    let output = run(example("retry_policy", &fake.endpoint_url(), dir.path())).await;
    assert!(stdout(&output).contains("Hello."));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("throttled; retrying in"), "{stderr}");
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_client_answers_repeats_from_the_cache() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("9 to 5, Monday to Friday."));
    let dir = tempfile::tempdir().unwrap();
    let output = run(example("caching_client", &fake.endpoint_url(), dir.path())).await;
    assert!(
        stdout(&output).contains("answered 2 of 3 from the cache"),
        "{}",
        stdout(&output)
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_share_one_client() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("42"));
    let dir = tempfile::tempdir().unwrap();
    let mut command = example("concurrent_sessions", &fake.endpoint_url(), dir.path());
    command.arg("12");
    let output = run(command).await;
    assert!(stdout(&output).contains("12 sessions finished, 0 failed"));
    assert_eq!(fake.request_count(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_and_resume_remembers_across_runs() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("Hello Ada."))
        .push(FakeReply::text("Your name is Ada."));
    let dir = tempfile::tempdir().unwrap();
    let mut first = example("save_and_resume", &fake.endpoint_url(), dir.path());
    first.args(["chat.json", "My name is Ada."]);
    run(first).await;
    let mut second = example("save_and_resume", &fake.endpoint_url(), dir.path());
    second.args(["chat.json", "What is my name?"]);
    let output = run(second).await;
    assert!(stdout(&output).contains("resumed 2 messages"));
    assert_eq!(fake.requests()[1].messages().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_bedrock_serves_another_program() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(example_path("fake_bedrock"));
    server
        .args([
            "--chunk-delay",
            "0",
            "--reply",
            "First answer.",
            "--reply",
            "Every later one.",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut server = server.spawn().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let url = lines.next_line().await.unwrap().unwrap();
    let output = run(example("one_question", &url, dir.path())).await;
    assert!(
        stdout(&output).contains("First answer."),
        "{}",
        stdout(&output)
    );
    let output = run(example("one_question", &url, dir.path())).await;
    assert!(stdout(&output).contains("Every later one."));
    server.kill().await.unwrap();

    // It explains itself, and a mistake is one line and status 2, not a backtrace.
    let help = Command::new(example_path("fake_bedrock"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--port", "--throttle", "--chunk-delay", "--reply"] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
    let wrong = Command::new(example_path("fake_bedrock"))
        .args(["--chunk-delay", "soon"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .await
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        said.contains("--chunk-delay") && !said.contains("backtrace"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_prints_the_typed_trip_and_a_reply_that_does_not_fit_is_an_error() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Unscripted, the fake answers with the schema's simplest instance.
    let output = run(example("structured", &fake.endpoint_url(), dir.path())).await;
    assert_eq!(
        stdout(&output),
        "example (1 days, about €1 each)\n  day 1: example\n    - example\n"
    );
    let sent = &fake.requests()[0].body;
    assert_eq!(
        sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"],
        "Trip"
    );

    fake.push(FakeReply::text("{\"destination\": \"Lyon\"}"));
    let output = example("structured", &fake.endpoint_url(), dir.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("not a valid `structured::Trip`"), "{said}");
    assert!(
        said.contains("the reply was: {\"destination\": \"Lyon\"}"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_base_cites_its_sources_and_lists_the_models() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.add_knowledge_base(
        "KBREFUND01",
        vec![bedrock_chat::testing::FakePassage::new(
            "s3://acme/refunds.md",
            "Refunds are paid within 14 days.",
        )],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut command = example("knowledge_base", &fake.endpoint_url(), dir.path());
    command
        .envs(fake.child_env(dir.path()))
        .env("BEDROCK_KNOWLEDGE_BASE_ID", "KBREFUND01");
    let output = run(command).await;
    let out = stdout(&output);
    assert!(out.contains("Refunds are paid within 14 days."), "{out}");
    assert!(out.contains("[1] refunds.md s3://acme/refunds.md"), "{out}");
    assert!(out.contains("global.anthropic.claude-sonnet-4-6"), "{out}");
    assert!(out.contains("(through a profile only)"), "{out}");
    assert_eq!(fake.retrievals()[0].0, "KBREFUND01");
}
