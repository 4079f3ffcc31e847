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
