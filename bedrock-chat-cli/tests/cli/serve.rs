//! `bedrock-chat serve`: the binary starts the browser chat with the REPL's settings.

use std::process::Stdio;

use bedrock_chat::testing::{FakeBedrock, FakeReply};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::pipe::bedrock_chat;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_its_url_uses_the_chat_settings_and_stops_on_sigterm() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("Served."));
    let dir = tempfile::tempdir().unwrap();
    let mut child = bedrock_chat(Some(&fake), dir.path())
        // Settings before and after the subcommand.
        .args([
            "--system",
            "Be brief.",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--model",
            "served-model",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    assert!(
        line.contains("serving served-model on http://127.0.0.1:"),
        "{line}"
    );
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert_eq!(
        fake.request_count(),
        0,
        "nothing reaches Bedrock before the first message"
    );

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let created: serde_json::Value = http
        .post(format!("{url}/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let reply: serde_json::Value = http
        .post(format!("{url}/api/conversations/{id}/messages"))
        .json(&serde_json::json!({"text": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["text"], "Served.");
    let request = &fake.requests()[0];
    assert_eq!(request.model_id, "served-model");
    assert_eq!(request.system().as_deref(), Some("Be brief."));

    #[cfg(unix)]
    {
        let pid = child.id().unwrap();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().await.unwrap();
        assert!(status.success(), "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_openai_gateway_on_the_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = bedrock_chat(None, dir.path())
        .args(["serve", "--openai-api", "--addr", "0.0.0.0:0"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--auth-token"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_would_refuse_every_message_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, says) in [
        ("--ttl", "0", "longer than 0"),
        ("--ttl", "1e30", "longer than any wait"),
        // clap's range check, naming the flag and the range.
        ("--max-streams", "0", "--max-streams <N>': 0 is not in 1.."),
        (
            "--turns-per-minute",
            "0",
            "--turns-per-minute <N>': 0 is not in 1..",
        ),
        (
            "--conversations-per-client",
            "0",
            "--conversations-per-client <N>': 0 is not in 1..",
        ),
    ] {
        let output = bedrock_chat(None, dir.path())
            .args(["serve", "--addr", "127.0.0.1:0", flag, value])
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offered_model_without_a_price_is_refused_as_it_could_spend_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let output = bedrock_chat(None, dir.path())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--models",
            "amazon.nova-pro-v1:0",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("amazon.nova-pro-v1:0 has no price") && stderr.contains("--price-table"),
        "{stderr}"
    );
    // An invalid filter is bad usage at start, not a 502 for every visitor later.
    let output = bedrock_chat(None, dir.path())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--knowledge-base",
            "KBREFUND01",
            "--knowledge-base-filter",
            r#"{"andAll": [{"equals": {"key": "a", "value": 1}}]}"#,
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least two filters"), "{stderr}");
}

/// An instance killed (SIGKILL) mid-reply: the conversation is exactly as before that message,
/// and once the dead instance's lease lapses the other instance serves the next turn.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_reply_loses_nothing_and_the_other_serves_the_next_turn() {
    use std::time::Duration;

    use bedrock_chat::testing::RedisServer;

    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::text("first answer."))
        .push(FakeReply::text("a b c d e f g h").chunk_delay(Duration::from_millis(500)))
        .set_fallback(FakeReply::text("after the crash."));
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = bedrock_chat(Some(&fake), dir.path())
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--turn-lease",
                "1s",
                "--store",
            ])
            .arg(redis.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        async move {
            let mut lines = BufReader::new(stdout).lines();
            let line = lines.next_line().await.unwrap().unwrap();
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap()
                .trim_end_matches('/')
                .to_string();
            // Keep reading, as a terminal would, for as long as the server runs.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            (child, url)
        }
    };
    let (mut doomed, a) = start().await;
    let (mut survivor, b) = start().await;
    let http = reqwest::Client::new();
    let cookie = "bc_client=0123456789abcdef0123456789abcdef";
    let created: serde_json::Value = http
        .post(format!("{a}/api/conversations"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let say = |base: &str, text: &str| {
        http.post(format!("{base}/api/conversations/{id}/messages"))
            .header("cookie", cookie)
            .json(&serde_json::json!({"text": text}))
    };
    assert_eq!(say(&a, "first").send().await.unwrap().status(), 200);
    // A slow reply on the doomed instance: its first words arrive, then it is killed.
    let mut slow = say(&a, "second")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut received = String::new();
    while !received.contains("event: delta") {
        let chunk = slow
            .chunk()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the reply never began: {received}"));
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();

    // Until the lease lapses the conversation is busy; then the other instance serves it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = say(&b, "third").send().await.unwrap();
        if response.status() != 409 {
            break response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(response.status(), 200);
    let conversation: serde_json::Value = http
        .get(format!("{b}/api/conversations/{id}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        conversation["messages"],
        serde_json::json!([
            {"role": "user", "text": "first", "attachments": []}, {"role": "assistant", "text": "first answer.", "attachments": []},
            {"role": "user", "text": "third", "attachments": []}, {"role": "assistant", "text": "after the crash.", "attachments": []}
        ]),
        "the cut-off turn left nothing behind"
    );
    // The request Bedrock got for the third turn was a valid conversation without the second.
    assert_eq!(fake.requests().last().unwrap().messages().len(), 3);
    survivor.start_kill().unwrap();
}

/// Without credentials `serve` says so at start, as the REPL does, rather than let the first
/// visitor find out; and its logs to a file or pipe carry no colour codes and no page of the
/// SDK's instance-metadata dump.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_credentials_warns_at_start_in_plain_text() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = bedrock_chat(Some(&fake), dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let warned = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            said.push_str(&line);
            said.push('\n');
            if line.contains("warning:") && line.contains("credentials") {
                return;
            }
        }
    })
    .await;
    assert!(warned.is_ok(), "no warning about credentials in:\n{said}");
    assert!(
        !said.contains('\u{1b}'),
        "colour codes in a pipe:\n{said:?}"
    );
    assert!(said.len() < 4000, "a dump of the SDK's internals:\n{said}");
    assert_eq!(fake.request_count(), 0);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// `serve --demo` runs with no AWS set-up at all, says so on its first lines and on the page,
/// and answers with the canned reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_needs_no_aws_and_the_page_says_replies_are_canned() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = bedrock_chat(None, dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_REGION")
        .args(["serve", "--demo", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = stdout.next_line().await.unwrap().unwrap();
    let second = stdout.next_line().await.unwrap().unwrap();
    assert!(second.starts_with("Demo: replies are canned"), "{second}");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains(
            "<section class=\"site-notice\" aria-label=\"Notice\"><p>Demo: replies are canned"
        ),
        "{page}"
    );
    let created: serde_json::Value = http
        .post(format!("{url}/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let reply: serde_json::Value = http
        .post(format!("{url}/api/conversations/{id}/messages"))
        .json(&serde_json::json!({"text": "Hello <b>there</b>"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("canned demo reply"), "{reply}");
    assert!(text.contains("(`Hello <b>there</b>`)"), "{text}");
}
