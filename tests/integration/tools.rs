//! Tool use through the real SDK against the fake Bedrock, which answers with `toolUse` blocks
//! (whole, and streamed as Bedrock streams them) and refuses, as Bedrock does, any request that
//! breaks the tool rules: so every test here also checks that each request was one Bedrock
//! accepts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bedrock_chat::testing::FakeReply;
use bedrock_chat::{
    ChatSession, ChatSessionBuilder, ContextPolicy, Error, FunctionTool, RetryPolicy, StreamEvent,
    Tool, ToolChoice, ToolError, ToolOutput, ToolSpec,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::{Harness, assert_valid_conversation};

#[derive(Deserialize, schemars::JsonSchema)]
struct Sum {
    a: f64,
    b: f64,
}

fn add() -> FunctionTool {
    FunctionTool::new("add", "Adds two numbers", |s: Sum| async move {
        Ok::<_, String>(s.a + s.b)
    })
    .unwrap()
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NoInput {}

fn clock() -> FunctionTool {
    FunctionTool::new("clock", "The time", |_: NoInput| async move {
        Ok::<_, String>("12:00")
    })
    .unwrap()
}

async fn builder(h: &Harness) -> ChatSessionBuilder {
    h.builder().await.retry_policy(RetryPolicy::none())
}

/// The `toolResult` blocks of the last user message of a request.
fn results_sent(h: &Harness, request: usize) -> Vec<Value> {
    let requests = h.fake.requests();
    let messages = requests[request].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    messages.last().unwrap()["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["toolResult"].clone())
        .collect()
}

#[tokio::test]
async fn a_whole_turn_runs_the_tool_loop_to_the_answer() {
    let h = Harness::start().await;
    h.fake
        .push(
            FakeReply::text("Let me add. ")
                .tool_call("t1", "add", json!({"a": 2, "b": 3}))
                .usage(10, 5),
        )
        .push(FakeReply::text("2 + 3 = 5.").usage(20, 6));
    let mut session = builder(&h).await.tool(add()).build().unwrap();

    let reply = session.send("What is 2 + 3?").await.unwrap();

    assert_eq!(reply.text(), "2 + 3 = 5.");
    assert_eq!(reply.usage().input_tokens, 30, "usage of both requests");
    let requests = h.fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].tool_names(), ["add"]);
    assert_eq!(
        requests[0].body["toolConfig"]["toolChoice"],
        json!({"auto": {}})
    );
    assert_eq!(
        requests[0].body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
        "object"
    );
    let results = results_sent(&h, 1);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["toolUseId"], "t1");
    assert_eq!(results[0]["status"], "success");
    assert_eq!(results[0]["content"][0]["text"], "5.0");
    assert_valid_conversation(&requests[1]);
    assert_eq!(session.history().len(), 4);
    assert_eq!(session.exchange_count(), 1);
    assert_eq!(session.usage().turns().len(), 1);
    assert_eq!(session.usage().total().input_tokens, 30);
}

#[tokio::test]
async fn a_streamed_turn_yields_text_calls_and_results_and_commits_the_whole_exchange() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("Checking. ").tool_call("t1", "clock", json!({})))
        .push(FakeReply::text("It is noon."));
    let mut session = builder(&h).await.tool(clock()).build().unwrap();

    let mut stream = session.send_streaming("Time?").await.unwrap();
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event.unwrap());
    }
    assert_eq!(stream.response().unwrap().text(), "It is noon.");
    assert_eq!(stream.text(), "Checking. It is noon.");
    drop(stream);

    let position = |wanted: &dyn Fn(&StreamEvent) -> bool| {
        events
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("{events:?}"))
    };
    let started =
        position(&|e| matches!(e, StreamEvent::ToolUseStart { name, .. } if name == "clock"));
    let call = position(
        &|e| matches!(e, StreamEvent::ToolCall(c) if c.name == "clock" && c.input == json!({})),
    );
    let result = position(
        &|e| matches!(e, StreamEvent::ToolResult(r) if r.text() == "12:00" && !r.is_error()),
    );
    let answer = position(&|e| matches!(e, StreamEvent::TextDelta(t) if t == "noon."));
    assert!(
        started < call && call < result && result < answer,
        "{events:?}"
    );
    assert_eq!(session.history().len(), 4);
    assert_eq!(session.history()[1].tool_uses().count(), 1);
    assert_eq!(session.history()[1].text(), "Checking. ");
    assert_valid_conversation(&h.fake.requests()[1]);
}

/// A tool that waits until `parties` calls are running at once: run one at a time, it would
/// wait forever (and the test time out).
struct Rendezvous(Arc<tokio::sync::Barrier>);

#[async_trait::async_trait]
impl Tool for Rendezvous {
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("meet", "Waits for the others", json!({"type": "object"}))
    }

    async fn call(&self, input: Value) -> Result<ToolOutput, ToolError> {
        self.0.wait().await;
        Ok(ToolOutput::json(json!({"met": input["who"]})))
    }
}

#[tokio::test]
async fn several_calls_run_at_once_and_are_answered_together_streamed_and_interleaved() {
    let h = Harness::start().await;
    h.fake
        .push(
            FakeReply::tool_use("a", "meet", json!({"who": "ann"}))
                .tool_call("b", "meet", json!({"who": "bob"}))
                .tool_call("c", "meet", json!({"who": "cy"}))
                .interleave_tool_calls(),
        )
        .push(FakeReply::text("All met."));
    let barrier = Arc::new(tokio::sync::Barrier::new(3));
    let mut session = builder(&h).await.tool(Rendezvous(barrier)).build().unwrap();

    let reply = tokio::time::timeout(Duration::from_secs(10), async {
        session.send_streaming("meet").await?.finish().await
    })
    .await
    .expect("the calls did not run at once")
    .unwrap();

    assert_eq!(reply.text(), "All met.");
    let results = results_sent(&h, 1);
    let answered: Vec<(&str, &Value)> = results
        .iter()
        .map(|r| {
            (
                r["toolUseId"].as_str().unwrap(),
                &r["content"][0]["json"]["met"],
            )
        })
        .collect();
    assert_eq!(
        answered,
        [
            ("a", &json!("ann")),
            ("b", &json!("bob")),
            ("c", &json!("cy"))
        ],
        "each interleaved input reached its own call"
    );
}

struct Fails;

#[async_trait::async_trait]
impl Tool for Fails {
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("fails", "Always fails", json!({"type": "object"}))
    }
    async fn call(&self, _: Value) -> Result<ToolOutput, ToolError> {
        Err(ToolError::new("the database is down"))
    }
}

struct Panics;

#[async_trait::async_trait]
impl Tool for Panics {
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("panics", "Always panics", json!({"type": "object"}))
    }
    async fn call(&self, _: Value) -> Result<ToolOutput, ToolError> {
        panic!("tool bug")
    }
}

struct Hangs;

#[async_trait::async_trait]
impl Tool for Hangs {
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("hangs", "Never answers", json!({"type": "object"}))
    }
    async fn call(&self, _: Value) -> Result<ToolOutput, ToolError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn every_kind_of_tool_failure_is_an_error_result_the_model_sees() {
    for streamed in [false, true] {
        let h = Harness::start().await;
        h.fake
            .push(
                FakeReply::tool_use("u", "no_such_tool", json!({}))
                    .tool_call("i", "add", json!({"a": "two"}))
                    .tool_call("f", "fails", json!({}))
                    .tool_call("p", "panics", json!({}))
                    .tool_call("h", "hangs", json!({}))
                    .tool_call_raw("j", "add", "{\"a\": 1,"),
            )
            .push(FakeReply::text("Sorry, the tools failed."));
        let mut session = builder(&h)
            .await
            .tool(add())
            .tool(Fails)
            .tool(Panics)
            .tool(Hangs)
            .tool_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let reply = if streamed {
            session.send_streaming("go").await.unwrap().finish().await
        } else {
            session.send("go").await
        }
        .unwrap();
        assert_eq!(reply.text(), "Sorry, the tools failed.");
        let results = results_sent(&h, 1);
        let message = |id: &str| {
            let result = results.iter().find(|r| r["toolUseId"] == id).unwrap();
            assert_eq!(result["status"], "error", "{id}: {result}");
            result["content"][0]["text"].as_str().unwrap().to_string()
        };
        assert!(
            message("u").contains("no tool named \"no_such_tool\""),
            "{}",
            message("u")
        );
        assert!(message("u").contains("add, fails"), "{}", message("u"));
        assert!(message("i").contains("does not match"), "{}", message("i"));
        assert_eq!(message("f"), "the database is down");
        assert!(message("p").contains("panicked"), "{}", message("p"));
        assert!(message("h").contains("did not finish"), "{}", message("h"));
        if streamed {
            // Streamed input that is not JSON; a whole reply cannot carry it.
            assert!(
                message("j").contains("not a JSON object"),
                "{}",
                message("j")
            );
        }
        assert_eq!(results.len(), 6, "one result per call");
        assert_valid_conversation(&h.fake.requests()[1]);
        assert_eq!(session.history().len(), 4);
    }
}

#[tokio::test]
async fn a_model_that_never_stops_calling_tools_hits_the_round_limit_and_nothing_is_kept() {
    for streamed in [false, true] {
        let h = Harness::start().await;
        h.fake
            .push(FakeReply::text("first"))
            .set_fallback(FakeReply::tool_use("again", "clock", json!({})).usage(10, 1));
        let mut session = builder(&h)
            .await
            .tool(clock())
            .max_tool_rounds(3)
            .build()
            .unwrap();
        session.send("hi").await.unwrap();
        let before = session.history().to_vec();
        let error = if streamed {
            session.send_streaming("loop").await.unwrap().finish().await
        } else {
            session.send("loop").await
        }
        .unwrap_err();
        assert!(
            matches!(error, Error::ToolRoundsExceeded { rounds: 3 }),
            "{error:?}"
        );
        assert!(error.to_string().contains("3 rounds"), "{error}");
        assert_eq!(session.history(), &before[..]);
        assert_eq!(h.fake.request_count(), 1 + 3);
        // The rounds were billed, so they are counted.
        let last = session.usage().turns().last().unwrap().clone();
        assert!(!last.complete);
        assert_eq!(last.usage.input_tokens, 30, "{last:?}");
    }
}

#[tokio::test]
async fn dropping_a_stream_while_a_tool_runs_leaves_the_history_as_it_was() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("first"))
        .push(FakeReply::tool_use("h", "hangs", json!({})))
        .push(FakeReply::text("second"));
    let mut session = builder(&h).await.tool(Hangs).build().unwrap();
    session.send("one").await.unwrap();
    {
        let mut stream = session.send_streaming("call the slow tool").await.unwrap();
        while let Some(event) = stream.next().await {
            if matches!(event.unwrap(), StreamEvent::ToolCall(_)) {
                // The call is about to run (and never finishes): stop here.
                break;
            }
        }
    }
    assert_eq!(session.history().len(), 2);
    session.send("two").await.unwrap();
    let last = h.fake.requests().pop().unwrap();
    assert_valid_conversation(&last);
    assert!(last.tool_blocks().is_empty(), "the abandoned call was sent");
}

#[tokio::test]
async fn undo_retry_and_trimming_keep_tool_exchanges_whole() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::tool_use("t1", "clock", json!({})))
        .push(FakeReply::text("Noon."))
        .push(FakeReply::text("You are welcome."));
    let mut session = builder(&h)
        .await
        .tool(clock())
        .context_policy(ContextPolicy::LastExchanges(1))
        .build()
        .unwrap();
    session.send("Time?").await.unwrap();
    session.send("Thanks").await.unwrap();
    assert_eq!(session.history().len(), 6);
    // The second turn sent the tool exchange whole.
    let second = &h.fake.requests()[2];
    assert_eq!(second.tool_blocks().len(), 2);

    // Trimmed to the last exchange, the next request starts at "Thanks", never mid-exchange.
    h.fake.push(FakeReply::text("Bye."));
    session.send("Bye").await.unwrap();
    let third = h.fake.requests().pop().unwrap();
    assert_eq!(third.messages()[0].1, "Thanks");
    assert_valid_conversation(&third);

    session.undo().unwrap();
    let (user, reply) = session.undo().unwrap();
    assert_eq!(
        (user.text().as_str(), reply.text().as_str()),
        ("Thanks", "You are welcome.")
    );
    let (user, reply) = session.undo().unwrap();
    assert_eq!(
        (user.text().as_str(), reply.text().as_str()),
        ("Time?", "Noon.")
    );
    assert!(
        session.history().is_empty(),
        "the tool round went with its exchange"
    );

    // Retry resends a tool exchange's question, not its tool results.
    h.fake
        .push(FakeReply::tool_use("t2", "clock", json!({})))
        .push(FakeReply::text("Noon again."));
    session.send("Time?").await.unwrap();
    h.fake.push(FakeReply::text("Still noon."));
    session.retry().await.unwrap();
    let retried = h.fake.requests().pop().unwrap();
    assert_eq!(retried.messages().len(), 1);
    assert_eq!(retried.messages()[0].1, "Time?");
    assert_eq!(session.history().len(), 2);
}

#[tokio::test]
async fn saved_conversations_keep_tool_blocks_and_need_a_tool_config_when_tools_are_gone() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::tool_use("t1", "clock", json!({})))
        .push(FakeReply::text("Noon."))
        .push(FakeReply::text("Later."));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.json");
    let mut session = builder(&h).await.tool(clock()).build().unwrap();
    session.send("Time?").await.unwrap();
    session.save(&path).unwrap();

    // A session without tools loads it and goes on: the request still carries a toolConfig
    // (Bedrock requires one) naming the tool the history used.
    let mut other = builder(&h).await.build().unwrap();
    other.load(&path).unwrap();
    assert_eq!(other.history(), session.history());
    other.send("And later?").await.unwrap();
    let last = h.fake.requests().pop().unwrap();
    assert_eq!(last.tool_names(), ["clock"]);
    assert_valid_conversation(&last);

    // The same for a history given to the builder.
    h.fake.push(FakeReply::text("Later still."));
    let mut built = builder(&h)
        .await
        .history(session.history().to_vec())
        .build()
        .unwrap();
    built.send("And then?").await.unwrap();
    let last = h.fake.requests().pop().unwrap();
    assert_eq!(last.tool_names(), ["clock"]);
    assert_valid_conversation(&last);
}

#[tokio::test]
async fn tool_choice_forces_the_first_request_only_and_bad_tools_are_refused_at_build() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::tool_use("t1", "add", json!({"a": 1, "b": 1})))
        .push(FakeReply::text("2"));
    let mut session = builder(&h)
        .await
        .tool(add())
        .tool_choice(ToolChoice::Tool("add".into()))
        .build()
        .unwrap();
    session.send("1+1").await.unwrap();
    let requests = h.fake.requests();
    assert_eq!(
        requests[0].body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "add"}})
    );
    assert_eq!(
        requests[1].body["toolConfig"]["toolChoice"],
        json!({"auto": {}})
    );

    let twice = builder(&h).await.tool(add()).tool(add()).build();
    assert!(
        twice
            .unwrap_err()
            .to_string()
            .contains("already registered")
    );
    let unknown = builder(&h)
        .await
        .tool(add())
        .tool_choice(ToolChoice::Tool("sub".into()))
        .build();
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("not one of the tools")
    );
    let bad_name = FunctionTool::with_schema(
        "get weather",
        "d",
        json!({"type": "object"}),
        |_: Value| async move { Ok::<_, String>("") },
    );
    assert!(
        bad_name
            .unwrap_err()
            .to_string()
            .contains("not a valid tool name")
    );
}

#[tokio::test]
async fn a_tool_without_input_gets_an_empty_object_whole_and_streamed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let tool = FunctionTool::with_schema(
        "ping",
        "Pings",
        json!({"type": "object", "properties": {}}),
        move |input: Value| {
            let seen = seen.clone();
            async move {
                assert_eq!(input, json!({}));
                seen.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>("pong")
            }
        },
    )
    .unwrap();
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::tool_use("p1", "ping", json!({})))
        .push(FakeReply::text("ok"))
        .push(FakeReply::tool_use("p2", "ping", json!({})))
        .push(FakeReply::text("ok"));
    let mut session = builder(&h).await.tool(tool).build().unwrap();
    session.send("ping").await.unwrap();
    session
        .send_streaming("ping")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(results_sent(&h, 3)[0]["content"][0]["text"], "pong");
}

#[tokio::test]
async fn the_fake_refuses_what_bedrock_refuses() {
    // The fake's own rules, so the tests above can trust a request it answered: a result
    // without its call is refused with Bedrock's message.
    let h = Harness::start().await;
    let session: ChatSession = builder(&h).await.build().unwrap();
    drop(session);
    let client = h.fake.client().await.unwrap();
    use bedrock_chat::{
        ChatRequest, ContentBlock, Message, ModelClient, Role, ToolResult, ToolResultContent,
    };
    let orphan = Message::new(
        Role::User,
        vec![
            ContentBlock::Text("hi".into()),
            ContentBlock::ToolResult(ToolResult::success(
                "x",
                ToolResultContent::Text("y".into()),
            )),
        ],
    );
    // Built by hand past the crate's own checks (`validate` would refuse it first).
    let request =
        ChatRequest::new("m", vec![orphan]).with_tool_config(Some(bedrock_chat::ToolConfig::new(
            vec![ToolSpec::new("t", "d", json!({"type": "object"}))],
            ToolChoice::Auto,
        )));
    assert!(request.validate().is_err());
    let error = client.converse(&request).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("exceeds the number of toolUse blocks"),
        "{error}"
    );
}

mod properties {
    use super::*;
    use bedrock_chat::testing::FakeError;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        /// Send a message; the model answers after this many tool rounds, each with this many
        /// calls (of which some go to a tool that fails or does not exist).
        Send {
            rounds: usize,
            calls: usize,
            streamed: bool,
        },
        /// Send a message that fails (throttled, no retries).
        Fail,
        /// Stop a streamed turn after this many events.
        Stop {
            after: usize,
        },
        Undo,
        Retry,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..3usize, 1..4usize, any::<bool>())
                .prop_map(|(rounds, calls, streamed)| Step::Send { rounds, calls, streamed }),
            1 => Just(Step::Fail),
            1 => (0..8usize).prop_map(|after| Step::Stop { after }),
            1 => Just(Step::Undo),
            1 => Just(Step::Retry),
        ]
    }

    fn script(h: &Harness, rounds: usize, calls: usize, turn: usize) {
        for round in 0..rounds {
            let mut reply = FakeReply::text("working ");
            for call in 0..calls {
                let name = ["add", "fails", "missing"][call % 3];
                reply = reply.tool_call(
                    &format!("t{turn}r{round}c{call}"),
                    name,
                    json!({"a": 1, "b": 2}),
                );
            }
            h.fake.push(reply);
        }
        h.fake.push(FakeReply::text("done."));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever happens (tool rounds, failing tools, failed and stopped turns, undo, retry,
        /// trimming), every request is one Bedrock accepts (the fake refuses any other with a
        /// ValidationException) and the history stays a valid conversation.
        #[test]
        fn any_sequence_of_turns_keeps_every_request_and_the_history_valid(
            steps in proptest::collection::vec(step(), 1..10),
            last in 1..4usize,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let h = Harness::start().await;
                let mut session = builder(&h)
                    .await
                    .tool(add())
                    .tool(Fails)
                    .context_policy(ContextPolicy::LastExchanges(last))
                    .build()
                    .unwrap();
                for (turn, step) in steps.into_iter().enumerate() {
                    let result = match step {
                        Step::Send { rounds, calls, streamed } => {
                            script(&h, rounds, calls, turn);
                            if streamed {
                                match session.send_streaming(format!("q{turn}")).await {
                                    Ok(stream) => stream.finish().await.map(drop),
                                    Err(error) => Err(error),
                                }
                            } else {
                                session.send(format!("q{turn}")).await.map(drop)
                            }
                        }
                        Step::Fail => {
                            h.fake.push(FakeReply::error(FakeError::Throttling));
                            session.send("fails").await.map(drop)
                        }
                        Step::Stop { after } => {
                            script(&h, 1, 2, turn);
                            if let Ok(mut stream) = session.send_streaming("stop me").await {
                                for _ in 0..after {
                                    if stream.next().await.is_none() {
                                        break;
                                    }
                                }
                            }
                            h.fake.clear_script();
                            Ok(())
                        }
                        Step::Undo => {
                            session.undo();
                            Ok(())
                        }
                        Step::Retry => {
                            script(&h, 1, 1, turn);
                            let result = session.retry().await.map(drop);
                            if result.is_err() {
                                h.fake.clear_script();
                            }
                            result
                        }
                    };
                    if let Err(error) = result {
                        assert!(
                            !error.to_string().contains("Bedrock rejected"),
                            "a request broke Bedrock's rules: {error}"
                        );
                        h.fake.clear_script();
                    }
                }
                for request in h.fake.requests() {
                    assert_valid_conversation(&request);
                }
                // The history is one a new session accepts as its start.
                ChatSession::builder(h.fake.client().await.unwrap())
                    .history(session.history().to_vec())
                    .build()
                    .expect("the history stays a valid conversation");
            });
        }
    }
}

#[tokio::test]
async fn a_tool_turn_stopped_at_any_event_leaves_the_history_as_it_was() {
    // How many events a full streamed tool turn yields, counted once.
    let script = |h: &Harness| {
        h.fake
            .push(
                FakeReply::text("Let me check. ")
                    .tool_call("a", "add", json!({"a": 1, "b": 2}))
                    .tool_call("c", "clock", json!({}))
                    .interleave_tool_calls(),
            )
            .push(FakeReply::text("Three, at noon."));
    };
    let h = Harness::start().await;
    script(&h);
    let mut session = builder(&h).await.tool(add()).tool(clock()).build().unwrap();
    let mut stream = session.send_streaming("go").await.unwrap();
    let mut total = 0;
    while stream.next().await.is_some() {
        total += 1;
    }
    drop(stream);
    assert!(total > 15, "{total} events");

    for stop_after in 0..total {
        let h = Harness::start().await;
        script(&h);
        let mut session = builder(&h).await.tool(add()).tool(clock()).build().unwrap();
        {
            let mut stream = session.send_streaming("go").await.unwrap();
            for _ in 0..stop_after {
                stream.next().await.unwrap().unwrap();
            }
        }
        assert!(
            session.history().is_empty(),
            "stopped after {stop_after} events"
        );
        h.fake.clear_script();
        h.fake.push(FakeReply::text("Fresh."));
        session.send("again").await.unwrap();
        for request in h.fake.requests() {
            assert_valid_conversation(&request);
        }
        let last = h.fake.requests().pop().unwrap();
        assert!(
            last.tool_blocks().is_empty(),
            "stopped after {stop_after}: {:?}",
            last.body
        );
        assert_eq!(session.history().len(), 2);
    }
}
