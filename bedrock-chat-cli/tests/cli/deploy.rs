//! `serve` as it runs on AWS: CloudWatch metrics as Embedded Metric Format lines on stdout
//! (checked against the specification after real turns and a SIGTERM), Redis over TLS with a
//! password given apart from the URL (as ElastiCache with an AUTH token), and the container's
//! own health check.

use std::collections::BTreeSet;
use std::process::Stdio;

use bedrock_chat::testing::{FakeBedrock, FakeError, FakeReply, RedisTlsServer};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::pipe::bedrock_chat;

/// Starts `serve` with `args`, returns the child, its URL and the rest of its stdout.
async fn serve(
    command: &mut tokio::process::Command,
    args: &[&str],
) -> (
    tokio::process::Child,
    String,
    BufReader<tokio::process::ChildStdout>,
) {
    let mut child = command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    (child, url, stdout)
}

#[cfg(unix)]
fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Every rule of the EMF specification a document must keep: `_aws` with an integer
/// millisecond `Timestamp` and a `CloudWatchMetrics` array of directives, each with a
/// `Namespace` (1 to 255 characters), `Dimensions` (at least one set, at most 9 keys each,
/// every key a string member of the root) and `Metrics` (at most 100, each `Name` a member of
/// the root holding a number or at most 100 numbers, each `Unit` a CloudWatch unit).
fn check_emf(line: &str, document: &Value) {
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    assert!(line.len() < 256 * 1024, "a log event holds at most 256 KB");
    let root = document.as_object().expect("the root is an object");
    let aws = root["_aws"].as_object().expect("_aws is an object");
    let timestamp = aws["Timestamp"].as_u64().expect("Timestamp is an integer");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        timestamp <= now && now - timestamp < 600_000,
        "Timestamp is in milliseconds, and recent: {timestamp}"
    );
    let directives = aws["CloudWatchMetrics"].as_array().expect("an array");
    assert!(!directives.is_empty());
    for directive in directives {
        let namespace = directive["Namespace"].as_str().expect("a Namespace");
        assert!((1..=255).contains(&namespace.len()));
        let sets = directive["Dimensions"].as_array().expect("Dimensions");
        assert!(!sets.is_empty(), "at least one dimension set");
        for set in sets {
            let keys = set.as_array().expect("a dimension set is an array");
            assert!(keys.len() <= 9, "at most 9 dimensions in a set");
            for key in keys {
                let key = key.as_str().expect("a dimension key is a string");
                assert!(
                    root.get(key).is_some_and(Value::is_string),
                    "dimension {key} is a string member of the root: {line}"
                );
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics");
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().expect("a Name");
            assert!((1..=255).contains(&name.len()));
            if let Some(unit) = metric.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "unit {unit}");
            }
            match &root[name] {
                Value::Number(_) => {}
                Value::Array(values) => {
                    assert!(!values.is_empty() && values.len() <= 100, "{name}");
                    assert!(values.iter().all(Value::is_number), "{name}");
                }
                other => panic!("metric {name} holds {other}, not numbers"),
            }
        }
    }
}

/// After real turns (one retried after throttling, one refused by Bedrock, one refused by the
/// rate limit) and a SIGTERM, stdout holds EMF lines, each valid, with every metric the
/// dashboard reads, and nothing about any visitor or conversation.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_metrics_are_valid_emf_lines_written_at_sigterm() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("After a retry.").usage(120, 30))
        .push(FakeReply::error(FakeError::AccessDenied))
        .set_fallback(FakeReply::text("Fine.").usage(80, 10));
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    let (child, url, mut stdout) = serve(
        &mut command,
        &[
            "--cloudwatch-namespace",
            "BedrockChatTest",
            "--cloudwatch-service",
            "chat-test",
            "--turns-per-minute",
            "3",
            "--model",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ],
    )
    .await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let created: Value = http
        .post(format!("{url}/api/conversations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for text in ["one", "two", "three", "four"] {
        let response = http
            .post(format!("{url}/api/conversations/{id}/messages"))
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 502, 200, 429]);

    sigterm(&child);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{output:?}");

    let mut names = BTreeSet::new();
    let mut turns = 0.0;
    let mut outcomes = BTreeSet::new();
    let mut lines = 0;
    for line in rest.lines().filter(|l| l.starts_with('{')) {
        let document: Value = serde_json::from_str(line).expect("each EMF line is JSON");
        check_emf(line, &document);
        lines += 1;
        assert!(!line.contains(&id), "no conversation id in metrics: {line}");
        assert!(!line.contains("bc_client"), "no visitor in metrics: {line}");
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "BedrockChatTest");
        assert_eq!(document["Service"], "chat-test");
        for metric in directive["Metrics"].as_array().unwrap() {
            names.insert(metric["Name"].as_str().unwrap().to_string());
        }
        if let Some(count) = document.get("Turns").and_then(Value::as_f64) {
            // Counted once: the per-outcome lines; `Service` alone is a second view of them.
            turns += count;
            outcomes.insert(document["Outcome"].as_str().unwrap().to_string());
            assert_eq!(
                document["Model"],
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
            );
        }
    }
    assert!(lines >= 3, "{rest}");
    for name in [
        "Turns",
        "InputTokens",
        "OutputTokens",
        "CostUSD",
        "TimeToFirstToken",
        "TurnDuration",
        "Retries",
        "Throttles",
        "Errors",
        "Refusals",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    assert_eq!(turns, 3.0, "three turns reached Bedrock");
    assert_eq!(
        outcomes,
        BTreeSet::from(["ok".to_string(), "access_denied".to_string()])
    );
}

/// ElastiCache's shape: Redis only over TLS, with an AUTH token. The URL is plain
/// configuration and the password comes in its own variable (a secret on ECS); a wrong one is
/// a 503 that names neither, and the password is never printed.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_with_the_password_given_apart() {
    let Some(redis) = RedisTlsServer::start().await else {
        return;
    };
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_fallback(FakeReply::text("Stored over TLS."));
    let dir = tempfile::tempdir().unwrap();
    for (password, works) in [
        (redis.password().to_string(), true),
        ("wrong".to_string(), false),
    ] {
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command
            .env("SSL_CERT_FILE", redis.ca_file())
            .env("BEDROCK_CHAT_STORE_PASSWORD", &password);
        let (child, url, _stdout) = serve(&mut command, &["--store", &redis.url()]).await;
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let created = http
            .post(format!("{url}/api/conversations"))
            .send()
            .await
            .unwrap();
        if works {
            assert_eq!(created.status(), 201);
            let id = created.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
            let reply: Value = http
                .post(format!("{url}/api/conversations/{id}/messages"))
                .json(&serde_json::json!({"text": "hi"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(reply["text"], "Stored over TLS.");
        } else {
            assert_eq!(created.status(), 503);
            let body = created.text().await.unwrap();
            assert!(body.contains("store_unavailable"), "{body}");
            assert!(
                !body.contains("wrong") && !body.contains("127.0.0.1"),
                "{body}"
            );
        }
        sigterm(&child);
        let output = child.wait_with_output().await.unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !printed.contains(redis.password()),
            "the password was printed"
        );
    }
}

/// `bedrock-chat healthcheck URL`: 0 for a server that answers, 1 (with the reason) for one
/// that does not; it needs no AWS settings at all.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_health_check_needs_no_shell_tools() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    let (child, url, _stdout) = serve(&mut command, &[]).await;
    let check = |url: String| {
        let dir = dir.path().to_path_buf();
        async move {
            bedrock_chat(None, &dir)
                .args(["healthcheck", &url])
                .output()
                .await
                .unwrap()
        }
    };
    let healthy = check(format!("{url}/readyz")).await;
    assert!(healthy.status.success(), "{healthy:?}");
    let missing = check(format!("{url}/no-such-page")).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
    sigterm(&child);
    child.wait_with_output().await.unwrap();
    let gone = check(format!("{url}/readyz")).await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("cannot connect"),
        "{gone:?}"
    );
}
