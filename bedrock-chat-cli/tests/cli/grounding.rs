//! The knowledge base, the model listing and `/tokens` from the binary, in a pipe.

use bedrock_chat::testing::{FakeBedrock, FakePassage};

use crate::pipe::{bedrock_chat, run_with_stdin, text};

fn knowledge_base(fake: &FakeBedrock) {
    fake.add_knowledge_base(
        "KBREFUND01",
        vec![
            FakePassage::new("s3://acme/refunds.md", "Refunds are paid within 14 days."),
            FakePassage::new(
                "https://acme.example/shipping",
                "Orders ship within 2 days.",
            ),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grounded_reply_has_markers_and_numbered_sources_under_it() {
    let fake = FakeBedrock::start().await.unwrap();
    knowledge_base(&fake);
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args([
        "--knowledge-base",
        "KBREFUND01",
        "--knowledge-base-results",
        "2",
    ]);
    let output = run_with_stdin(command, b"How do refunds and shipping work?\n/tokens\n").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(
        out.contains("14 days.[") && out.contains("Sources:\n  [1] "),
        "{out}"
    );
    assert!(out.contains("refunds.md — s3://acme/refunds.md"), "{out}");
    assert!(
        out.contains("shipping — https://acme.example/shipping"),
        "{out}"
    );
    let err = text(&output.stderr);
    assert!(err.contains("by Bedrock's count (CountTokens)"), "{err}");
    let (id, body) = &fake.retrievals()[0];
    assert_eq!(id, "KBREFUND01");
    assert_eq!(
        body["retrievalConfiguration"]["vectorSearchConfiguration"]["numberOfResults"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_knowledge_base_is_bad_usage_and_an_unknown_one_fails_the_turn() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (flags, says) in [
        (
            vec!["--knowledge-base", "not-an-id"],
            "10 letters and digits",
        ),
        (
            vec![
                "--knowledge-base",
                "KBREFUND01",
                "--knowledge-base-filter",
                "{team",
            ],
            "--knowledge-base-filter is not JSON",
        ),
        (
            vec![
                "--knowledge-base",
                "KBREFUND01",
                "--knowledge-base-filter",
                "{\"about\": 1}",
            ],
            "not a knowledge base filter",
        ),
    ] {
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command.args(&flags);
        let output = run_with_stdin(command, b"Hello\n").await;
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        assert!(
            text(&output.stderr).contains(says),
            "{}",
            text(&output.stderr)
        );
    }
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(["--knowledge-base", "KBMISSING1"]);
    let output = run_with_stdin(command, b"Hello\n").await;
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(
        err.contains("knowledge base KBMISSING1: not found"),
        "{err}"
    );
    assert_eq!(fake.request_count(), 0, "the model was never asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_profiles_and_models_as_a_table_or_json() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args([
        "--model",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "models",
    ]);
    let output = run_with_stdin(command, b"").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(
        out.contains("* us.anthropic.claude-haiku-4-5-20251001-v1:0"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("anthropic.claude-sonnet-4-6 ") && l.contains("profile only")),
        "{out}"
    );
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args(["models", "--json"]);
    let output = run_with_stdin(command, b"").await;
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(listing["models"].as_array().unwrap().len() > 5);
    // /models in the REPL says the same, on stderr with the other status lines.
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.arg("--demo");
    let output = run_with_stdin(command, b"/models\n").await;
    assert!(
        text(&output.stderr).contains("global.anthropic.claude-sonnet-4-6"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_tier_and_latency_reach_bedrock_and_show_in_usage() {
    let fake = FakeBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = bedrock_chat(Some(&fake), dir.path());
    command.args([
        "--service-tier",
        "flex",
        "--latency",
        "optimized",
        "--prompt-caching",
        "on",
        "--prompt-cache-ttl",
        "1h",
    ]);
    let output = run_with_stdin(command, b"Hello\n/usage\n").await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let err = text(&output.stderr);
    assert!(err.contains("[flex tier, optimized latency]"), "{err}");
    let body = &fake.requests()[0].body;
    assert_eq!(body["serviceTier"]["type"], "flex");
    assert_eq!(body["performanceConfig"]["latency"], "optimized");
    for (flag, value, says) in [
        (
            "--service-tier",
            "fast",
            "not a service tier; use default, flex, priority, reserved",
        ),
        ("--latency", "ludicrous", "not a latency profile"),
        (
            "--prompt-cache-ttl",
            "2h",
            "not a cache lifetime; use 5m, 1h",
        ),
        ("--exact-token-counts", "maybe", "exact token counts"),
    ] {
        let mut command = bedrock_chat(Some(&fake), dir.path());
        command.args([flag, value]);
        let output = run_with_stdin(command, b"Hello\n").await;
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        assert!(
            text(&output.stderr).contains(says),
            "{flag}: {}",
            text(&output.stderr)
        );
    }
}
