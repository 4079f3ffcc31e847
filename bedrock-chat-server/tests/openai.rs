//! The OpenAI-compatible endpoint, driven by a client written by others (`async-openai`) and by
//! plain HTTP where a status matters more than a client's own retries.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::{
    ChatCompletionRequestAssistantMessageArgs, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    ChatCompletionStreamOptions, CreateChatCompletionRequestArgs, FinishReason,
};
use bedrock_chat::testing::{FakeError, FakeReply, PIXEL_PNG, StreamFault};
use bedrock_chat_server::ServerConfig;
use futures::StreamExt;
use serde_json::json;
use support::TestServer;

const MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

async fn server() -> TestServer {
    let mut config = ServerConfig::default();
    config.openai_api = true;
    config.auth_token = Some("sk-test-token".into());
    config.allowed_models = vec!["eu.anthropic.claude-haiku-4-5".into()];
    TestServer::start_with(config).await
}

fn openai(server: &TestServer) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.url("/v1"))
            .with_api_key("sk-test-token"),
    )
}

fn user(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestUserMessageArgs::default()
        .content(text)
        .build()
        .unwrap()
        .into()
}

fn assistant(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestAssistantMessageArgs::default()
        .content(text)
        .build()
        .unwrap()
        .into()
}

fn system(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestSystemMessageArgs::default()
        .content(text)
        .build()
        .unwrap()
        .into()
}

#[tokio::test]
async fn a_whole_reply_with_usage_and_the_clients_own_history_as_context() {
    let server = server().await;
    server.fake.push(FakeReply::text("Madrid.").usage(21, 4));
    let request = CreateChatCompletionRequestArgs::default()
        .model("default")
        .messages([
            system("Answer in one word."),
            user("Capital of France?"),
            assistant("Paris."),
            user("And of"),
            user("Spain?"),
        ])
        .max_tokens(50u32)
        .temperature(0.2)
        .stop(vec!["\n\n".to_string()])
        .build()
        .unwrap();
    let response = openai(&server).chat().create(request).await.unwrap();
    assert!(response.id.starts_with("chatcmpl-"));
    assert_eq!(response.model, MODEL);
    assert_eq!(
        response.choices[0].message.content.as_deref(),
        Some("Madrid.")
    );
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    let usage = response.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (21, 4, 25)
    );

    let sent = &server.fake.requests()[0];
    assert_eq!(sent.model_id, MODEL);
    assert_eq!(sent.system().as_deref(), Some("Answer in one word."));
    assert_eq!(
        sent.messages(),
        [
            ("user".to_string(), "Capital of France?".to_string()),
            ("assistant".into(), "Paris.".into()),
            ("user".into(), "And of\n\nSpain?".into()),
        ],
        "consecutive messages of one role are merged"
    );
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 50);
    assert_eq!(
        sent.body["inferenceConfig"]["stopSequences"],
        json!(["\n\n"])
    );
}

#[tokio::test]
async fn a_streamed_reply_starts_with_the_role_and_ends_with_usage_when_asked() {
    let server = server().await;
    server.fake.push(
        FakeReply::chunks(["Hel", "lo", "!"])
            .usage(9, 3)
            .stop_reason("max_tokens"),
    );
    let request = CreateChatCompletionRequestArgs::default()
        .model(MODEL)
        .messages([user("hi")])
        .stream(true)
        .stream_options(ChatCompletionStreamOptions {
            include_usage: true,
        })
        .build()
        .unwrap();
    let mut stream = openai(&server).chat().create_stream(request).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.unwrap());
    }
    let first = &chunks[0].choices[0].delta;
    assert_eq!(first.role, Some(async_openai::types::Role::Assistant));
    let text: String = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter_map(|c| c.delta.content.clone())
        .collect();
    assert_eq!(text, "Hello!");
    let finish = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .find_map(|c| c.finish_reason);
    assert_eq!(finish, Some(FinishReason::Length));
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage.as_ref().unwrap().completion_tokens, 3);
}

#[tokio::test]
async fn a_failure_after_the_stream_started_is_an_error_the_client_raises() {
    let server = server().await;
    server.fake.push(
        FakeReply::chunks(["one ", "two ", "three"])
            .fault_after(2, StreamFault::Exception(FakeError::ServiceUnavailable)),
    );
    let request = CreateChatCompletionRequestArgs::default()
        .model("default")
        .messages([user("count")])
        .stream(true)
        .build()
        .unwrap();
    let mut stream = openai(&server).chat().create_stream(request).await.unwrap();
    let mut text = String::new();
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                for choice in chunk.choices {
                    assert_eq!(choice.finish_reason, None, "never a normal stop");
                    text.push_str(&choice.delta.content.unwrap_or_default());
                }
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the client saw an error");
    assert_eq!(text, "one two ");

    // The raw wire: an error chunk in OpenAI's shape, and no [DONE].
    server.fake.push(
        FakeReply::chunks(["one ", "two"])
            .fault_after(1, StreamFault::Exception(FakeError::ServiceUnavailable)),
    );
    let body = reqwest::Client::new()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth("sk-test-token")
        .json(&json!({"model": "default", "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = body
        .trim()
        .lines()
        .rfind(|l| l.starts_with("data:"))
        .unwrap();
    let error: serde_json::Value =
        serde_json::from_str(last.trim_start_matches("data:").trim()).unwrap();
    assert!(error["error"]["message"].is_string(), "{body}");
    assert!(!body.contains("[DONE]"));
}

#[tokio::test]
async fn errors_come_in_openais_shape_with_statuses_clients_handle() {
    let server = server().await;
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value, token: &str| {
        http.post(server.url("/v1/chat/completions"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let hi = json!([{"role": "user", "content": "hi"}]);

    let cases: Vec<(serde_json::Value, &str, u16, &str)> = vec![
        (
            json!({"model": "default", "messages": hi}),
            "wrong",
            401,
            "authentication_error",
        ),
        (
            json!({"model": "anthropic.some-other-model", "messages": hi}),
            "sk-test-token",
            404,
            "not_found_error",
        ),
        (
            json!({"model": "default", "messages": []}),
            "sk-test-token",
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "default", "messages": [{"role": "assistant", "content": "hi"}]}),
            "sk-test-token",
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "default", "messages": hi, "temperature": 1.5}),
            "sk-test-token",
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "default", "messages": hi, "tools": [{"type": "function", "function": {"name": "no spaces allowed"}}]}),
            "sk-test-token",
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "default", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
            "sk-test-token",
            400,
            "invalid_request_error",
        ),
    ];
    for (body, token, status, kind) in cases {
        let response = post(body.clone(), token).await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], kind, "{error}");
        assert!(error["error"]["message"].as_str().unwrap().len() > 10);
        assert!(error["error"].as_object().unwrap().contains_key("param"));
        assert!(error["error"].as_object().unwrap().contains_key("code"));
    }
    assert_eq!(
        server.fake.request_count(),
        0,
        "nothing invalid reached Bedrock"
    );

    // Bedrock's failures, after the server's own retries.
    for (error, status) in [
        (FakeError::Throttling, 429),
        (FakeError::Validation("bad input".into()), 400),
        (FakeError::ServiceUnavailable, 503),
        (FakeError::AccessDenied, 502),
    ] {
        server.fake.push_times(3, FakeReply::error(error.clone()));
        let response = post(json!({"model": "default", "messages": hi}), "sk-test-token")
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{error:?}");
        if status == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        server.fake.reset();
    }

    // What the official client makes of a 400.
    let request = CreateChatCompletionRequestArgs::default()
        .model("nope")
        .messages([user("hi")])
        .build()
        .unwrap();
    match openai(&server).chat().create(request).await {
        Err(OpenAIError::ApiError(error)) => {
            assert!(
                error.message.contains("not available on this server"),
                "{error}"
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn models_lists_the_servers_model_and_the_allowed_ones() {
    let server = server().await;
    let models = openai(&server).models().list().await.unwrap();
    let ids: Vec<&str> = models.data.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [MODEL, "eu.anthropic.claude-haiku-4-5"]);
    server.fake.push(FakeReply::text("ok"));
    let request = CreateChatCompletionRequestArgs::default()
        .model("eu.anthropic.claude-haiku-4-5")
        .messages([user("hi")])
        .build()
        .unwrap();
    openai(&server).chat().create(request).await.unwrap();
    assert_eq!(
        server.fake.requests()[0].model_id,
        "eu.anthropic.claude-haiku-4-5"
    );
}

#[tokio::test]
async fn the_endpoint_is_off_unless_switched_on() {
    let server = TestServer::start().await;
    let response = reqwest::Client::new()
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"model": "default", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(server.fake.request_count(), 0);
}

fn weather_tool() -> async_openai::types::ChatCompletionTool {
    async_openai::types::ChatCompletionToolArgs::default()
        .function(async_openai::types::FunctionObject {
            name: "get_weather".into(),
            description: Some("Today's weather in a city".into()),
            parameters: Some(json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            })),
            strict: None,
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn tool_calls_go_to_the_client_and_its_results_come_back_as_tool_messages() {
    use async_openai::types::{
        ChatCompletionMessageToolCall, ChatCompletionRequestToolMessageArgs,
        ChatCompletionToolType, FunctionCall,
    };
    let server = server().await;
    server
        .fake
        .push(FakeReply::text("Let me look. ").tool_call(
            "tooluse_1",
            "get_weather",
            json!({"city": "Lisbon"}),
        ))
        .push(FakeReply::text("Sunny, take no umbrella."));
    let client = openai(&server);
    let first = CreateChatCompletionRequestArgs::default()
        .model("default")
        .messages([user("Umbrella in Lisbon?")])
        .tools(vec![weather_tool()])
        .build()
        .unwrap();
    let reply = client.chat().create(first).await.unwrap();
    let choice = &reply.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    let calls = choice.message.tool_calls.clone().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "tooluse_1");
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].function.arguments).unwrap(),
        json!({"city": "Lisbon"})
    );
    let sent = &server.fake.requests()[0].body;
    assert_eq!(
        sent["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "get_weather"
    );

    // The client runs its tool and sends the result back as a tool message.
    let call: ChatCompletionRequestMessage = ChatCompletionRequestAssistantMessageArgs::default()
        .content("Let me look. ")
        .tool_calls(vec![ChatCompletionMessageToolCall {
            id: "tooluse_1".into(),
            r#type: ChatCompletionToolType::Function,
            function: FunctionCall {
                name: "get_weather".into(),
                arguments: r#"{"city":"Lisbon"}"#.into(),
            },
        }])
        .build()
        .unwrap()
        .into();
    let result: ChatCompletionRequestMessage = ChatCompletionRequestToolMessageArgs::default()
        .tool_call_id("tooluse_1")
        .content("Sunny, 21 °C")
        .build()
        .unwrap()
        .into();
    let second = CreateChatCompletionRequestArgs::default()
        .model("default")
        .messages([user("Umbrella in Lisbon?"), call, result])
        .tools(vec![weather_tool()])
        .build()
        .unwrap();
    let reply = client.chat().create(second).await.unwrap();
    assert_eq!(
        reply.choices[0].message.content.as_deref(),
        Some("Sunny, take no umbrella.")
    );
    let sent = &server.fake.requests()[1];
    let messages = sent.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[1]["content"][1]["toolUse"]["toolUseId"],
        "tooluse_1"
    );
    assert_eq!(
        messages[2]["content"][0]["toolResult"]["toolUseId"],
        "tooluse_1"
    );
    assert_eq!(
        messages[2]["content"][0]["toolResult"]["content"][0]["text"],
        "Sunny, 21 °C"
    );
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_numbered_deltas() {
    let server = server().await;
    server.fake.push(
        FakeReply::tool_use("a", "get_weather", json!({"city": "Porto"}))
            .tool_call("b", "get_weather", json!({"city": "Faro"}))
            .interleave_tool_calls(),
    );
    let request = CreateChatCompletionRequestArgs::default()
        .model("default")
        .messages([user("Weather in Porto and Faro?")])
        .tools(vec![weather_tool()])
        .tool_choice(async_openai::types::ChatCompletionToolChoiceOption::Required)
        .stream(true)
        .build()
        .unwrap();
    let mut stream = openai(&server).chat().create_stream(request).await.unwrap();
    let mut ids = vec![String::new(); 2];
    let mut arguments = vec![String::new(); 2];
    let mut finish = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for choice in chunk.choices {
            for call in choice.delta.tool_calls.unwrap_or_default() {
                let n = call.index as usize;
                if let Some(id) = call.id {
                    ids[n] = id;
                }
                if let Some(function) = call.function {
                    arguments[n].push_str(&function.arguments.unwrap_or_default());
                }
            }
            finish = choice.finish_reason.or(finish);
        }
    }
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(arguments, [r#"{"city":"Porto"}"#, r#"{"city":"Faro"}"#]);
    assert_eq!(finish, Some(FinishReason::ToolCalls));
    let sent = &server.fake.requests()[0].body;
    assert_eq!(sent["toolConfig"]["toolChoice"], json!({"any": {}}));
}

/// Images as OpenAI's clients send them, inline `data:` URLs, reach Bedrock as image blocks
/// before the text; a URL to fetch, a document or broken base64 is a 400 saying which.
#[tokio::test]
async fn an_inline_image_reaches_bedrock_and_a_url_to_fetch_is_refused() {
    use async_openai::types::{
        ChatCompletionRequestMessageContentPartImageArgs,
        ChatCompletionRequestMessageContentPartTextArgs, ImageUrlArgs,
    };
    use base64::Engine;
    let server = server().await;
    server.fake.push(FakeReply::text("A single pixel."));
    let data_url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(PIXEL_PNG)
    );
    let message: ChatCompletionRequestMessage = ChatCompletionRequestUserMessageArgs::default()
        .content(vec![
            ChatCompletionRequestMessageContentPartTextArgs::default()
                .text("What is in this picture?")
                .build()
                .unwrap()
                .into(),
            ChatCompletionRequestMessageContentPartImageArgs::default()
                .image_url(ImageUrlArgs::default().url(data_url).build().unwrap())
                .build()
                .unwrap()
                .into(),
        ])
        .build()
        .unwrap()
        .into();
    let request = CreateChatCompletionRequestArgs::default()
        .model("default")
        .messages(vec![message])
        .build()
        .unwrap();
    let reply = openai(&server).chat().create(request).await.unwrap();
    assert_eq!(
        reply.choices[0].message.content.as_deref(),
        Some("A single pixel.")
    );
    let sent = &server.fake.requests()[0].body["messages"][0]["content"];
    assert_eq!(sent[0]["image"]["format"], "png", "{sent}");
    assert_eq!(
        sent[0]["image"]["source"]["bytes"],
        base64::engine::general_purpose::STANDARD.encode(PIXEL_PNG)
    );
    assert_eq!(sent[1]["text"], "What is in this picture?");

    let http = reqwest::Client::new();
    for (url, says) in [
        ("https://example.com/cat.png", "not fetched"),
        ("data:application/pdf;base64,JVBERi0xLjcK", "not an image"),
        ("data:image/png;base64,@@@", "cannot be decoded"),
    ] {
        let response = http
            .post(server.url("/v1/chat/completions"))
            .bearer_auth("sk-test-token")
            .json(
                &json!({"model": "default", "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": url}},
                ]}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
    }
    assert_eq!(server.fake.requests().len(), 1, "refused before Bedrock");
}

/// A conversation that ends with an empty user message is told so, not that it does not end
/// with the user.
#[tokio::test]
async fn an_empty_last_user_message_is_named() {
    let server = server().await;
    let http = reqwest::Client::new();
    for content in [json!(null), json!(""), json!("   "), json!([])] {
        let response = http
            .post(server.url("/v1/chat/completions"))
            .bearer_auth("sk-test-token")
            .json(&json!({"model": "default", "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": content},
            ]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{content}");
        let body: serde_json::Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("messages[2], the last message, has no content"),
            "{content}: {message}"
        );
    }
    assert!(server.fake.requests().is_empty());
}

/// `response_format` through plain HTTP: the body as OpenAI clients send it.
async fn complete(server: &TestServer, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth("sk-test-token")
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_json_schema_response_format_gets_json_of_the_schema() {
    let server = server().await;
    let schema = json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"]
    });
    let answer: serde_json::Value = complete(
        &server,
        json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "The largest city in France?"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": true}},
        }),
    )
    .await
    .json()
    .await
    .unwrap();
    let content: serde_json::Value =
        serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(
        content["city"].is_string() && content["population"].is_i64(),
        "{content}"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let sent = &server.fake.requests()[0].body;
    assert_eq!(
        sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"],
        "city"
    );
}

#[tokio::test]
async fn an_older_model_and_json_object_answer_through_a_forced_call_given_back_as_content() {
    let mut config = ServerConfig::default();
    config.openai_api = true;
    config.auth_token = Some("sk-test-token".into());
    config.allowed_models = vec!["us.anthropic.claude-3-haiku-20240307-v1:0".into()];
    let server = TestServer::start_with(config).await;
    for (model, format, stream) in [
        (
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}),
            false,
        ),
        (MODEL, json!({"type": "json_object"}), false),
        (
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}),
            true,
        ),
    ] {
        let response = complete(
            &server,
            json!({
                "model": model,
                "messages": [{"role": "user", "content": "Is it ok?"}],
                "response_format": format,
                "stream": stream,
            }),
        )
        .await;
        assert_eq!(response.status(), 200);
        let (content, finish, tool_calls) = if stream {
            let body = response.text().await.unwrap();
            let mut content = String::new();
            let mut finish = String::new();
            let mut tool_calls = false;
            for line in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
                let Ok(chunk) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let choice = &chunk["choices"][0];
                content.push_str(choice["delta"]["content"].as_str().unwrap_or_default());
                tool_calls |= choice["delta"].get("tool_calls").is_some();
                if let Some(reason) = choice["finish_reason"].as_str() {
                    finish = reason.to_string();
                }
            }
            (content, finish, tool_calls)
        } else {
            let answer: serde_json::Value = response.json().await.unwrap();
            let message = &answer["choices"][0]["message"];
            (
                message["content"].as_str().unwrap_or_default().to_string(),
                answer["choices"][0]["finish_reason"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                message
                    .get("tool_calls")
                    .is_some_and(|t| !t.as_array().unwrap().is_empty()),
            )
        };
        let parsed: serde_json::Value =
            serde_json::from_str(&content).unwrap_or_else(|e| panic!("{e}: {content:?}"));
        assert!(parsed.is_object(), "{content}");
        assert_eq!(finish, "stop", "{model} {format}");
        assert!(!tool_calls, "the carrying call is not handed to the client");
        let sent = server.fake.requests().pop().unwrap().body;
        assert!(
            sent["toolConfig"]["toolChoice"]["tool"].is_object(),
            "{sent}"
        );
    }
    let bad = complete(
        &server,
        json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["param"], "response_format");
}

#[tokio::test]
async fn a_schema_that_loops_or_is_huge_is_answered_or_refused_and_the_server_stays_up() {
    let server = server().await;
    // A tree: a node whose child is a node. Answered (the fake's example stops following it).
    let looped = json!({
        "type": "object",
        "properties": {"child": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}}
    });
    let response = complete(
        &server,
        json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "A tree?"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "tree", "schema": looped}},
        }),
    )
    .await;
    assert_eq!(response.status(), 200);
    // A 5 MB schema is refused before it is sent or priced.
    let huge = json!({"type": "object", "description": "x".repeat(5 << 20)});
    let response = complete(
        &server,
        json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "Huge?"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "huge", "schema": huge}},
        }),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "response_format");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("65536"),
        "{body}"
    );
    // A name that is not a string, or is 100 KB, is refused without being echoed whole.
    for name in [json!(7), json!("n".repeat(100_000))] {
        let response = complete(
            &server,
            json!({
                "model": MODEL,
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": {"type": "object"}}},
            }),
        )
        .await;
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().len() < 2_000);
    }
    assert_eq!(
        server.fake.request_count(),
        1,
        "only the tree reached Bedrock"
    );
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}
