//! Tool calls recorded from real Bedrock (published by the Vercel AI SDK, `packages/amazon-bedrock/
//! src/__fixtures__/`: `issue-17267-parallel-tool-calls.json` and `bedrock-tool-call.1.chunks.txt`),
//! replayed by `wiremock`: the tool loop runs on real answers, with frames encoded here
//! independently of `FakeBedrock`.

use crate::support::event_frames as frames;
use bedrock_chat::{BedrockClient, ChatSession, FunctionTool, RetryPolicy, StreamEvent};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Two tools called at once with text before them (a real Claude answer).
const PARALLEL_CALLS: &str = r#"{"metrics":{"latencyMs":2192},"output":{"message":{"content":[{"text":"Sure! I'll look up both values simultaneously right away!"},{"toolUse":{"input":{"ref":"R1"},"name":"get_resistor_value","toolUseId":"tooluse_hr5juciYZJwUHpRczsw13R","type":"tool_use"}},{"toolUse":{"input":{"ref":"C1"},"name":"get_capacitor_value","toolUseId":"tooluse_AZHw3Ym0S07qOv5NlXj9iJ","type":"tool_use"}}],"role":"assistant"}},"stopReason":"tool_use","usage":{"cacheReadInputTokenCount":0,"cacheReadInputTokens":0,"cacheWriteInputTokenCount":0,"cacheWriteInputTokens":0,"inputTokens":694,"outputTokens":110,"serverToolUsage":{},"totalTokens":804}}"#;

/// A streamed tool call (its input in two pieces; metadata before messageStop, as recorded).
const STREAMED_CALL: [(&str, &str); 5] = [
    (
        "contentBlockStart",
        r#"{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"tool-use-id","name":"test-tool"}}}"#,
    ),
    (
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"value\":"}}}"#,
    ),
    (
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"\"Sparkle Day\"}"}}}"#,
    ),
    ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
    (
        "metadata",
        r#"{"usage":{"inputTokens":125,"outputTokens":45,"totalTokens":170},"metrics":{"latencyMs":234}}"#,
    ),
];

const ANSWER: &str = r#"{"metrics":{"latencyMs":900},"output":{"message":{"content":[{"text":"Done."}],"role":"assistant"}},"stopReason":"end_turn","usage":{"inputTokens":900,"outputTokens":5,"totalTokens":905}}"#;

#[derive(Deserialize, schemars::JsonSchema)]
struct Part {
    r#ref: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Value1 {
    value: String,
}

async fn session(server: &MockServer) -> bedrock_chat::ChatSessionBuilder {
    let client = BedrockClient::builder()
        .region("us-east-1")
        .endpoint_url(server.uri())
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .build()
        .await
        .unwrap();
    ChatSession::builder(client)
        .model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .retry_policy(RetryPolicy::none())
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn recorded_parallel_calls_each_get_one_result_in_one_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"/converse$"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(PARALLEL_CALLS, "application/json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/converse$"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(ANSWER, "application/json"))
        .with_priority(2)
        .mount(&server)
        .await;
    let resistor = FunctionTool::new(
        "get_resistor_value",
        "A resistor's value",
        |p: Part| async move { Ok::<_, String>(format!("{} is 10 kΩ", p.r#ref)) },
    )
    .unwrap();
    let capacitor = FunctionTool::new(
        "get_capacitor_value",
        "A capacitor's value",
        |p: Part| async move { Ok::<_, String>(format!("{} is 100 nF", p.r#ref)) },
    )
    .unwrap();
    let mut session = session(&server)
        .await
        .tool(resistor)
        .tool(capacitor)
        .build()
        .unwrap();

    let reply = session.send("Values of R1 and C1?").await.unwrap();

    assert_eq!(reply.text(), "Done.");
    assert_eq!(reply.usage().input_tokens, 694 + 900);
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    let messages = bodies[1]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    let call = &messages[1]["content"];
    assert_eq!(
        call[0]["text"],
        "Sure! I'll look up both values simultaneously right away!"
    );
    assert_eq!(
        call[1]["toolUse"]["toolUseId"],
        "tooluse_hr5juciYZJwUHpRczsw13R"
    );
    let results = messages[2]["content"].as_array().unwrap();
    assert_eq!(results.len(), 2, "both answers in the one next message");
    assert_eq!(
        results[0]["toolResult"]["toolUseId"],
        "tooluse_hr5juciYZJwUHpRczsw13R"
    );
    assert_eq!(
        results[0]["toolResult"]["content"][0]["text"],
        "R1 is 10 kΩ"
    );
    assert_eq!(
        results[1]["toolResult"]["toolUseId"],
        "tooluse_AZHw3Ym0S07qOv5NlXj9iJ"
    );
    assert_eq!(
        results[1]["toolResult"]["content"][0]["text"],
        "C1 is 100 nF"
    );
    assert!(bodies[1]["toolConfig"]["tools"].as_array().unwrap().len() == 2);
}

#[tokio::test]
async fn a_recorded_streamed_call_is_assembled_from_its_pieces() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"/converse-stream$"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(
                frames(
                    &[
                        STREAMED_CALL.as_slice(),
                        &[("messageStop", r#"{"stopReason":"tool_use"}"#)],
                    ]
                    .concat(),
                ),
                "application/vnd.amazon.eventstream",
            ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/converse-stream$"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            frames(&[
                ("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":"Sparkle!"}}"#),
                ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
                ("messageStop", r#"{"stopReason":"end_turn"}"#),
                ("metadata", r#"{"usage":{"inputTokens":200,"outputTokens":3,"totalTokens":203},"metrics":{"latencyMs":100}}"#),
            ]),
            "application/vnd.amazon.eventstream",
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    let tool = FunctionTool::new("test-tool", "Takes a value", |v: Value1| async move {
        Ok::<_, String>(format!("got {}", v.value))
    })
    .unwrap();
    let mut session = session(&server).await.tool(tool).build().unwrap();

    let mut stream = session.send_streaming("go").await.unwrap();
    let mut calls = Vec::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::ToolCall(call) = event.unwrap() {
            calls.push(call);
        }
    }
    let reply = stream.finish().await.unwrap();
    assert_eq!(reply.text(), "Sparkle!");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].input, json!({"value": "Sparkle Day"}));
    let bodies = bodies(&server).await;
    let results = &bodies[1]["messages"][2]["content"][0]["toolResult"];
    assert_eq!(results["toolUseId"], "tool-use-id");
    assert_eq!(results["content"][0]["text"], "got Sparkle Day");
    assert_eq!(session.usage().total().input_tokens, 325);
}
