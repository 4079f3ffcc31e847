//! Tools from real MCP servers (the reference server-everything, and a hostile one written with
//! the official Python SDK), over stdio and streamable HTTP, called by the model as played by
//! the fake Bedrock: every turn ends with an answer and every request is one Bedrock accepts.

use std::sync::Arc;
use std::time::Duration;

use bedrock_chat::testing::{FakeReply, McpTestServers};
use bedrock_chat::{ChatSession, McpConfig, McpTools, ServerStatus, Tool, ToolOutput};
use serde_json::{Value, json};

use crate::support::{Harness, assert_valid_conversation};

async fn connect(servers: Value) -> McpTools {
    let config = McpConfig::from_json(&json!({ "mcpServers": servers }).to_string(), |_| None)
        .expect("the configuration reads");
    McpTools::connect(config).await
}

async fn session_with(h: &Harness, mcp: &McpTools, timeout: Duration) -> ChatSession {
    let mut builder = h.builder().await.tool_timeout(timeout);
    for tool in mcp.tools() {
        builder = builder.tool(tool);
    }
    builder.build().expect("the session builds")
}

/// The results the model was sent in the last request, by call id, as JSON.
fn results(h: &Harness) -> Vec<Value> {
    let last = h.fake.requests().pop().expect("a request");
    last.tool_blocks()
        .into_iter()
        .filter_map(|b| b.get("toolResult").cloned())
        .collect()
}

fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_over_stdio_and_http_is_called_by_the_model() {
    let Some(servers) = McpTestServers::find("MCP reference server") else {
        return;
    };
    let http = servers.everything_http();
    let mcp =
        connect(json!({"everything": servers.everything_stdio(), "remote": http.entry()})).await;
    let names: Vec<String> = mcp.tools().iter().map(|t| t.name().to_string()).collect();
    for name in ["everything__echo", "remote__echo"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }
    let h = Harness::start().await;
    h.fake
        .push(
            FakeReply::tool_use("t1", "everything__echo", json!({"message": "over stdio"}))
                .tool_call("t2", "remote__echo", json!({"message": "over http"})),
        )
        .push(FakeReply::text("Both echoed."));
    let mut session = session_with(&h, &mcp, Duration::from_secs(30)).await;
    let reply = session.send("Echo twice").await.unwrap();
    assert_eq!(reply.text(), "Both echoed.");
    let results = results(&h);
    assert!(text_of(&results[0]).contains("over stdio"), "{results:?}");
    assert!(text_of(&results[1]).contains("over http"), "{results:?}");
    assert_eq!(results[0]["status"], "success");
    assert_valid_conversation(&h.fake.requests()[1]);
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_server_never_fails_a_turn() {
    let Some(servers) = McpTestServers::find("hostile MCP server") else {
        return;
    };
    let mcp =
        connect(json!({"hostile": servers.hostile_stdio(), "other": servers.hostile_stdio()}))
            .await;
    let names: Vec<String> = mcp.tools().iter().map(|t| t.name().to_string()).collect();
    // A dotted name made valid; two servers' `search` told apart by their prefixes.
    for name in ["hostile__files_read", "hostile__search", "other__search"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }
    assert!(mcp.find("hostile__files_read").unwrap().is_read_only());
    assert!(!mcp.find("hostile__write_note").unwrap().is_read_only());

    let h = Harness::start().await;
    h.fake
        .push(
            FakeReply::tool_use("a", "hostile__fail", json!({}))
                .tool_call("b", "hostile__hang", json!({}))
                .tool_call("c", "hostile__huge", json!({}))
                .tool_call("d", "hostile__files_read", json!({"name": "notes.txt"}))
                .tool_call("e", "other__search", json!({"query": "q"}))
                .tool_call("f", "hostile__picture", json!({})),
        )
        .push(FakeReply::text("Survived."));
    let mut session = session_with(&h, &mcp, Duration::from_secs(2)).await;
    let reply = session.send("Call everything").await.unwrap();
    assert_eq!(reply.text(), "Survived.");
    let results = results(&h);
    assert_eq!(results[0]["status"], "error");
    // The Python SDK keeps the exception's message to itself.
    assert!(
        text_of(&results[0]).contains("Error executing tool fail"),
        "{:?}",
        results[0]
    );
    assert_eq!(results[1]["status"], "error");
    assert!(
        text_of(&results[1]).contains("did not finish within 2 s"),
        "{:?}",
        results[1]
    );
    let huge = text_of(&results[2]);
    assert!(
        huge.len() <= 100_200,
        "{} bytes reached the model",
        huge.len()
    );
    assert!(
        huge.contains("more bytes cut"),
        "{}",
        &huge[huge.len() - 200..]
    );
    assert_eq!(text_of(&results[3]), "the contents of notes.txt");
    assert_eq!(text_of(&results[4]), "hostile results for q");
    assert_eq!(
        results[5]["content"][0]["image"]["format"], "png",
        "{:?}",
        results[5]
    );
    assert_valid_conversation(&h.fake.requests()[1]);
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_is_a_failed_result_then_restarted_on_the_next_call() {
    let Some(servers) = McpTestServers::find("MCP crash") else {
        return;
    };
    let mcp = connect(json!({"hostile": servers.hostile_stdio()})).await;
    let call = |name: &str| {
        let tool = mcp.find(name).unwrap();
        async move { tool.call(json!({})).await }
    };
    assert_eq!(call("hostile__count").await.unwrap(), ToolOutput::text("1"));
    let crashed = call("hostile__crash").await.unwrap_err();
    assert!(crashed.message().contains("broke"), "{crashed}");
    // A new process: its count starts again.
    assert_eq!(call("hostile__count").await.unwrap(), ToolOutput::text("1"));
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_gets_only_the_environment_it_is_given() {
    let Some(servers) = McpTestServers::find("MCP environment") else {
        return;
    };
    let mut entry = servers.hostile_stdio();
    entry["env"] = json!({"GIVEN": "yes"});
    let mcp = connect(json!({"hostile": entry})).await;
    let output = mcp
        .find("hostile__env")
        .unwrap()
        .call(json!({}))
        .await
        .unwrap();
    let listed = output
        .to_text()
        .split(',')
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(listed.contains(&"GIVEN".to_string()), "{listed:?}");
    for name in &listed {
        assert!(
            name == "GIVEN"
                || bedrock_chat::INHERITED_VARIABLES.contains(&name.as_str())
                // Python's own, set by the interpreter for itself.
                || name == "LC_CTYPE",
            "{name} reached the child: {listed:?}"
        );
    }
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_tool_list_is_seen_and_a_missing_server_is_reported() {
    let Some(servers) = McpTestServers::find("MCP list_changed") else {
        return;
    };
    let mcp = connect(json!({
        "hostile": servers.hostile_stdio(),
        "gone": {"command": "/nonexistent/mcp-server"}
    }))
    .await;
    assert!(mcp.find("hostile__grown").is_none());
    mcp.find("hostile__grow")
        .unwrap()
        .call(json!({}))
        .await
        .unwrap();
    // The notification may be handled just after the call's answer: waited for, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !mcp.refresh().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new tool was never listed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(mcp.find("hostile__grown").is_some());

    let summary = mcp.servers().await;
    let gone = summary.iter().find(|s| s.name == "gone").unwrap();
    assert!(
        matches!(gone.status, ServerStatus::Failed { .. }),
        "{gone:?}"
    );
    assert!(
        gone.problem
            .as_deref()
            .unwrap()
            .contains("could not be started"),
        "{gone:?}"
    );
    assert!(gone.tools.is_empty());

    // A session follows the new list without losing its conversation.
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::tool_use("g", "hostile__grown", json!({})))
        .push(FakeReply::text("It grew."));
    let mut session = h.session().await;
    let tools: Vec<Arc<dyn Tool>> = mcp
        .tools()
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Tool>)
        .collect();
    session.set_tools(tools).unwrap();
    assert_eq!(
        session.send("Use the new tool").await.unwrap().text(),
        "It grew."
    );
    assert_eq!(text_of(&results(&h)[0]), "I grew");
    // With the tools gone, the conversation holding their calls is still sent validly.
    session.set_tools(Vec::new()).unwrap();
    h.fake.push(FakeReply::text("Still here."));
    session.send("And now?").await.unwrap();
    assert_valid_conversation(&h.fake.requests()[2]);
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_that_goes_away_fails_calls_then_is_reached_again() {
    let Some(servers) = McpTestServers::find("MCP over HTTP, restarted") else {
        return;
    };
    let first = servers.hostile_http();
    let port = first.port();
    let mcp = connect(json!({"remote": first.entry()})).await;
    let call = |name: &str| {
        let tool = mcp.find(name).unwrap();
        async move { tool.call(json!({"query": "q"})).await }
    };
    assert_eq!(
        call("remote__search").await.unwrap(),
        ToolOutput::text("hostile results for q")
    );
    drop(first);
    let gone = call("remote__search").await.unwrap_err();
    assert!(!gone.message().is_empty());
    // Back on the same address: the next call reaches it (a new session, a new process).
    let _second = servers.hostile_http_on(port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match call("remote__count").await {
            Ok(output) => {
                assert_eq!(output, ToolOutput::text("1"));
                break;
            }
            // Within the backoff after the failed call: waited for, bounded.
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never reached again: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    mcp.shutdown().await;
}
