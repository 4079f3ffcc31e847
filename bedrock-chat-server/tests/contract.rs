//! The published contract (`docs/openapi.json`) checked against a running server by
//! schemathesis, the property-based API tester from PyPI: for every operation, generated
//! requests (valid and not) must get no 5xx, no status the document does not list, and no
//! response that breaks its schema.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use bedrock_chat::testing::FakeReply;
use bedrock_chat_server::ServerConfig;
use support::TestServer;

/// `schemathesis` on `PATH`; `None` (after saying why) when it is missing and this is not CI,
/// where a missing tester is a failure.
fn schemathesis() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("schemathesis"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        let help = "schemathesis is not installed: `pip install schemathesis` (or run \
                    ./scripts/test, which does)";
        assert!(std::env::var_os("CI").is_none(), "{help}");
        eprintln!("skipping the API contract test: {help}");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_nothing_undocumented() {
    let Some(tester) = schemathesis() else {
        return;
    };
    let mut config = ServerConfig::default();
    config.openai_api = true;
    // Thousands of requests from one address: the limits are tested elsewhere.
    let server = TestServer::start_with(support::without_limits(config)).await;
    server.fake.set_fallback(FakeReply::text("A reply."));
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".to_string());
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".to_string());
    let output = tokio::process::Command::new(tester)
        .arg("run")
        .arg(server.url("/openapi.json"))
        .arg("--url")
        .arg(server.url(""))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            "--no-color",
        ])
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
