//! The conversation stays valid and intact through failures, undo, retry, reset, save and load.

use bedrock_chat::testing::{FakeError, FakeReply, StreamFault};
use bedrock_chat::{ChatSession, Error, Message, SavedConversation};

use crate::support::{Harness, assert_valid_conversation, pairs};

#[tokio::test]
async fn empty_input_is_rejected_before_any_request() {
    let h = Harness::start().await;
    let mut session = h.session().await;
    for input in ["", "   ", "\n\t "] {
        let error = session.send(input).await.unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
        assert!(session.send_streaming(input).await.is_err());
    }
    assert_eq!(h.fake.request_count(), 0);
}

#[tokio::test]
async fn after_every_kind_of_failure_the_next_request_is_a_valid_conversation() {
    let failures = vec![
        FakeReply::error(FakeError::Validation("no".into())),
        FakeReply::error(FakeError::AccessDenied),
        FakeReply::drop_connection(),
        FakeReply::text("a b c").fault_after(1, StreamFault::DropConnection),
        FakeReply::text("a b c").fault_after(2, StreamFault::Exception(FakeError::Throttling)),
        FakeReply::text("a b c").fault_after(1, StreamFault::CorruptFrame),
        FakeReply::text("a b c").fault_after(3, StreamFault::Truncate),
    ];
    for failure in failures {
        for streaming in [false, true] {
            let h = Harness::start().await;
            h.fake
                .push(FakeReply::text("first answer"))
                .push(failure.clone())
                .push(FakeReply::text("third answer"));
            let mut session = h.session_without_retries().await;
            session.send("first").await.unwrap();
            let failed = if streaming {
                match session.send_streaming("second").await {
                    Ok(stream) => stream.finish().await.map(|_| ()),
                    Err(e) => Err(e),
                }
            } else {
                session.send("second").await.map(|_| ())
            };
            assert!(
                failed.is_err(),
                "{failure:?} (streaming {streaming}) did not fail"
            );
            assert_eq!(session.history().len(), 2, "{failure:?}: history changed");

            session.send("third").await.unwrap();
            let last = h.fake.requests().pop().unwrap();
            assert_valid_conversation(&last);
            assert_eq!(
                last.messages(),
                pairs(&[
                    ("user", "first"),
                    ("assistant", "first answer"),
                    ("user", "third")
                ])
            );
        }
    }
}

#[tokio::test]
async fn an_empty_reply_is_reported_and_not_added() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::chunks([""]).stop_reason("max_tokens"));
    let mut session = h.session().await;
    let error = session.send("hi").await.unwrap_err();
    assert!(matches!(error, Error::EmptyReply { .. }), "{error:?}");
    assert!(session.history().is_empty());
}

#[tokio::test]
async fn undo_retry_and_reset_keep_whole_exchanges() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("A1"))
        .push(FakeReply::text("A2"))
        .push(FakeReply::text("A2 again"))
        .push(FakeReply::error(FakeError::AccessDenied));
    let mut session = h.session_without_retries().await;
    session.send("Q1").await.unwrap();
    session.send("Q2").await.unwrap();

    let retried = session.retry().await.unwrap();
    assert_eq!(retried.text(), "A2 again");
    assert_eq!(
        h.fake.requests()[2].messages(),
        pairs(&[("user", "Q1"), ("assistant", "A1"), ("user", "Q2")])
    );
    assert_eq!(session.history().len(), 4);
    assert_eq!(session.history()[3].text(), "A2 again");

    // A failed retry keeps the old reply.
    session.retry().await.unwrap_err();
    assert_eq!(session.history()[3].text(), "A2 again");

    let (user, reply) = session.undo().unwrap();
    assert_eq!(
        (user.text().as_str(), reply.text().as_str()),
        ("Q2", "A2 again")
    );
    assert_eq!(session.history().len(), 2);
    session.reset();
    assert!(session.history().is_empty());
    assert!(session.undo().is_none());
    assert!(matches!(
        session.retry().await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
}

#[tokio::test]
async fn edit_replaces_the_last_exchange_and_keeps_it_on_failure() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("A1"))
        .push(FakeReply::text("A2"))
        .push(FakeReply::error(FakeError::AccessDenied))
        .push(FakeReply::text("A2 edited"))
        .push(FakeReply::text("streamed"));
    let mut session = h.session_without_retries().await;
    assert!(matches!(
        session.edit("nothing yet").await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    session.send("Q1").await.unwrap();
    session.send("Q2").await.unwrap();

    // A failed edit leaves the old exchange, and a bad one sends nothing.
    session.edit("Q2, better").await.unwrap_err();
    assert_eq!(session.history()[2].text(), "Q2");
    assert_eq!(session.history()[3].text(), "A2");
    let sent = h.fake.request_count();
    assert!(session.edit("  ").await.is_err());
    assert_eq!(h.fake.request_count(), sent);

    let edited = session.edit("Q2, better").await.unwrap();
    assert_eq!(edited.text(), "A2 edited");
    assert_eq!(
        h.fake.requests()[3].messages(),
        pairs(&[("user", "Q1"), ("assistant", "A1"), ("user", "Q2, better")])
    );
    assert_eq!(session.history().len(), 4);
    assert_eq!(session.history()[2].text(), "Q2, better");

    let mut stream = session.edit_streaming("Q2, streamed").await.unwrap();
    while let Some(event) = futures::StreamExt::next(&mut stream).await {
        event.unwrap();
    }
    drop(stream);
    assert_eq!(session.history()[2].text(), "Q2, streamed");
    assert_eq!(session.history()[3].text(), "streamed");
    assert_valid_conversation(h.fake.requests().last().unwrap());
}

#[tokio::test]
async fn a_title_survives_save_and_load_and_reset_forgets_it() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::text("Paris."));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.json");
    let mut session = h.session().await;
    session.send("Capital of France?").await.unwrap();
    for bad in ["", "  ", "two\nlines", &"x".repeat(201)] {
        assert!(session.set_title(Some(bad.to_string())).is_err(), "{bad:?}");
    }
    assert_eq!(session.title(), None);
    session.set_title(Some("Geography".into())).unwrap();
    session.save(&path).unwrap();
    assert_eq!(
        bedrock_chat::title_of(&SavedConversation::read(&path).unwrap()),
        "Geography"
    );
    let mut loaded = h.session().await;
    loaded.load(&path).unwrap();
    assert_eq!(loaded.title(), Some("Geography"));
    loaded.set_title(None).unwrap();
    assert_eq!(
        bedrock_chat::title_of(&loaded.snapshot()),
        "Capital of France?"
    );
    loaded.set_title(Some("Again".into())).unwrap();
    loaded.reset();
    assert_eq!(loaded.title(), None);
}

#[tokio::test]
async fn a_saved_conversation_loads_into_a_new_session_and_continues() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("Paris."))
        .push(FakeReply::text("Madrid."));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.json");

    let mut first = h
        .builder()
        .await
        .system_prompt("Be brief.")
        .build()
        .unwrap();
    first.send("Capital of France?").await.unwrap();
    first.save(&path).unwrap();

    let mut second = ChatSession::builder(h.fake.client().await.unwrap())
        .build()
        .unwrap();
    second.load(&path).unwrap();
    assert_eq!(second.history(), first.history());
    assert_eq!(second.system_prompt(), Some("Be brief."));
    assert_eq!(second.model_id(), first.model_id());
    second.send("And Spain?").await.unwrap();

    let last = h.fake.requests().pop().unwrap();
    assert_eq!(last.system().as_deref(), Some("Be brief."));
    assert_eq!(
        last.messages(),
        pairs(&[
            ("user", "Capital of France?"),
            ("assistant", "Paris."),
            ("user", "And Spain?")
        ])
    );
}

#[tokio::test]
async fn a_bad_conversation_file_leaves_the_session_unchanged() {
    let h = Harness::start().await;
    h.fake.push(FakeReply::text("kept"));
    let mut session = h.session().await;
    session.send("keep me").await.unwrap();
    let before = session.history().to_vec();
    let dir = tempfile::tempdir().unwrap();

    let truncated = dir.path().join("truncated.json");
    let json = session.snapshot().to_json();
    std::fs::write(&truncated, &json[..json.len() / 2]).unwrap();
    let missing = dir.path().join("missing.json");
    let swapped = dir.path().join("swapped.json");
    let mut saved = session.snapshot().to_json();
    saved = saved
        .replacen("\"user\"", "\"tmp\"", 1)
        .replacen("\"assistant\"", "\"user\"", 1)
        .replacen("\"tmp\"", "\"assistant\"", 1);
    std::fs::write(&swapped, saved).unwrap();

    for path in [&truncated, &missing, &swapped] {
        let error = session.load(path).unwrap_err();
        assert!(matches!(error, Error::ConversationFile { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
        assert_eq!(session.history(), &before[..]);
    }
}

#[tokio::test]
async fn a_history_given_to_the_builder_must_be_whole_exchanges() {
    let h = Harness::start().await;
    let client = h.fake.client().await.unwrap();
    assert!(
        ChatSession::builder(client.clone())
            .history(vec![Message::user("dangling")])
            .build()
            .is_err()
    );
    assert!(
        ChatSession::builder(client)
            .history(vec![Message::user("q"), Message::assistant("a")])
            .build()
            .is_ok()
    );
    let saved = SavedConversation::from_json(b"{}");
    assert!(saved.is_err());
}

#[tokio::test]
async fn control_characters_and_oversized_messages_are_refused_before_any_request() {
    let h = Harness::start().await;
    let mut session = h.session().await;
    let error = session.send("hello \u{1b}[31mred").await.unwrap_err();
    assert!(error.to_string().contains("U+001B"), "{error}");
    let error = session.send("\0").await.unwrap_err();
    assert!(error.to_string().contains("U+0000"), "{error}");
    let big = "x".repeat(bedrock_chat::MAX_MESSAGE_BYTES + 1);
    let error = session.send(big).await.unwrap_err();
    assert!(error.to_string().contains("shorten it"), "{error}");
    assert!(session.send("tabs\tand\nlines are fine").await.is_ok());
    assert_eq!(h.fake.request_count(), 1);
}
