//! The operator's MCP tools in the browser chat: shown as they run, counted in the visitor's
//! limits, and reachable only through the model. Against the hostile MCP server (Python SDK).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use bedrock_chat::testing::{FakeReply, McpTestServers};
use bedrock_chat::{McpConfig, McpTools};
use bedrock_chat_server::{ServerConfig, ServerTools};
use serde_json::{Value, json};
use support::{TestServer, events, without_limits};

async fn hostile(servers: &McpTestServers) -> McpTools {
    let config = McpConfig::from_json(
        &json!({"mcpServers": {"hostile": servers.hostile_stdio()}}).to_string(),
        |_| None,
    )
    .unwrap();
    McpTools::connect(config).await
}

async fn server_with(mcp: &McpTools, config: ServerConfig) -> TestServer {
    let mut config = config;
    config.tools = Some(ServerTools::new(mcp.clone()));
    TestServer::start_with(config).await
}

/// The `count` tool's answer: how many calls the server process has answered.
async fn calls_answered(mcp: &McpTools) -> u64 {
    let count = mcp.find("hostile__count").unwrap();
    let text = bedrock_chat::Tool::call(&count, json!({}))
        .await
        .unwrap()
        .to_text();
    text.parse::<u64>().unwrap() - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_stream_as_events_and_show_in_the_conversation() {
    let Some(servers) = McpTestServers::find("serve MCP tools") else {
        return;
    };
    let mcp = hostile(&servers).await;
    let server = server_with(&mcp, ServerConfig::default()).await;
    server
        .fake
        .push(
            FakeReply::tool_use("a", "hostile__files_read", json!({"name": "menu.txt"}))
                // Not read-only and not allowed: never offered, so never run.
                .tool_call("b", "hostile__write_note", json!({"text": "pwned"})),
        )
        .push(FakeReply::text("The menu says hello."));
    let visitor = server.visitor();
    let id = visitor.create().await;
    let events = events(visitor.say_streaming(&id, "What's on the menu?").await).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "tool_call",
            "tool_call",
            "tool_result",
            "tool_result",
            "delta",
            "delta",
            "delta",
            "delta",
            "done"
        ],
        "{events:?}"
    );
    assert_eq!(
        events[0].1,
        json!({"id": "a", "name": "hostile__files_read", "input": {"name": "menu.txt"}})
    );
    assert_eq!(
        events[2].1,
        json!({"id": "a", "ok": true, "text": "the contents of menu.txt"})
    );
    assert_eq!(events[3].1["ok"], false);
    assert!(
        events[3].1["text"]
            .as_str()
            .unwrap()
            .contains("no tool named"),
        "{events:?}"
    );
    let offered: Vec<String> = server.fake.requests()[0].body["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["toolSpec"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        offered.contains(&"hostile__files_read".to_string()),
        "{offered:?}"
    );
    assert!(
        !offered.contains(&"hostile__write_note".to_string()),
        "{offered:?}"
    );

    // The conversation shows the calls with their answers, and no empty tool-result message.
    let conversation = visitor.conversation(&id).await;
    let messages = conversation["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[1]["tool_calls"][0]["name"], "hostile__files_read");
    assert_eq!(messages[1]["tool_calls"][0]["ok"], true);
    assert_eq!(
        messages[1]["tool_calls"][0]["result"],
        "the contents of menu.txt"
    );
    assert_eq!(messages[2]["text"], "The menu says hello.");
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_capped_per_reply_and_per_minute_by_address() {
    let Some(servers) = McpTestServers::find("serve MCP limits") else {
        return;
    };
    let mcp = hostile(&servers).await;
    let mut config = without_limits(ServerConfig::default());
    config.limits.tool_calls_per_turn = 2;
    config.limits.tool_calls_per_minute = 3;
    let server = server_with(&mcp, config).await;
    let three = || {
        FakeReply::tool_use("a", "hostile__search", json!({"query": "1"}))
            .tool_call("b", "hostile__search", json!({"query": "2"}))
            .tool_call("c", "hostile__search", json!({"query": "3"}))
    };
    server
        .fake
        .push(three())
        .push(FakeReply::text("Two of three."))
        .push(three())
        .push(FakeReply::text("One of three."));
    let before = calls_answered(&mcp).await;

    let visitor = server.visitor();
    let id = visitor.create().await;
    let body: Value = visitor
        .say(&id, "Search thrice")
        .await
        .json()
        .await
        .unwrap();
    let results = &body["tool_results"];
    assert_eq!(results[0]["ok"], true, "{body}");
    assert_eq!(results[1]["ok"], true, "{body}");
    assert_eq!(results[2]["ok"], false, "{body}");
    assert!(
        results[2]["text"]
            .as_str()
            .unwrap()
            .contains("made the 2 tool calls"),
        "{body}"
    );

    // A fresh cookie from the same address shares the minute's allowance: one call left.
    let other = server.visitor();
    let id = other.create().await;
    let body: Value = other
        .say(&id, "Search thrice again")
        .await
        .json()
        .await
        .unwrap();
    let oks: Vec<&Value> = body["tool_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["ok"])
        .collect();
    assert_eq!(oks, [&json!(true), &json!(false), &json!(false)], "{body}");
    assert!(
        body["tool_results"][1]["text"]
            .as_str()
            .unwrap()
            .contains("too many tool calls"),
        "{body}"
    );
    assert_eq!(body["text"], "One of three.");
    // Three calls reached the MCP server in all.
    assert_eq!(
        calls_answered(&mcp).await - before,
        3 + 1,
        "three searches, then this count"
    );
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_reaches_a_tool_except_through_the_model_and_v1_never_runs_them() {
    let Some(servers) = McpTestServers::find("serve MCP reach") else {
        return;
    };
    let mcp = hostile(&servers).await;
    let mut config = ServerConfig::default();
    config.openai_api = true;
    config.auth_token = Some("sk-test-token".into());
    let server = server_with(&mcp, config).await;
    let before = calls_answered(&mcp).await;
    let http = reqwest::Client::new();
    for path in [
        "/api/tools",
        "/api/tools/hostile__write_note",
        "/api/mcp",
        "/mcp",
    ] {
        let response = http
            .post(server.url(path))
            .bearer_auth("sk-test-token")
            .json(&json!({"text": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    // /v1 passes the model's tool calls back to its caller; the server never runs them.
    server.fake.push(FakeReply::tool_use(
        "a",
        "hostile__files_read",
        json!({"name": "x"}),
    ));
    let reply: Value = http
        .post(server.url("/v1/chat/completions"))
        .bearer_auth("sk-test-token")
        .json(&json!({
            "model": "default",
            "messages": [{"role": "user", "content": "read x"}],
            "tools": [{"type": "function", "function": {"name": "hostile__files_read",
                "parameters": {"type": "object"}}}]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "hostile__files_read",
        "{reply}"
    );
    assert_eq!(
        calls_answered(&mcp).await,
        before + 1,
        "only this count reached the server"
    );
    mcp.shutdown().await;
}
