//! `ModelClient` is object safe and mockable with `mockall`.

use std::sync::Arc;

use async_trait::async_trait;
use bedrock_chat::{
    ChatRequest, ChatResponse, ChatSession, EventStream, Message, ModelClient, StopReason,
    TokenUsage,
};

mockall::mock! {
    pub Model {}

    #[async_trait]
    impl ModelClient for Model {
        async fn converse(&self, request: &ChatRequest) -> bedrock_chat::Result<ChatResponse>;
        async fn converse_stream(&self, request: &ChatRequest) -> bedrock_chat::Result<EventStream>;
    }
}

#[tokio::test]
async fn a_mocked_client_sees_the_whole_conversation() {
    let mut mock = MockModel::new();
    mock.expect_converse()
        .withf(|request| request.messages().len() == 1 && request.system() == Some("sys"))
        .times(1)
        .returning(|_| {
            Ok(ChatResponse::new(
                Message::assistant("first"),
                StopReason::EndTurn,
                TokenUsage::new(1, 1),
            ))
        });
    mock.expect_converse()
        .withf(|request| request.messages().len() == 3)
        .times(1)
        .returning(|_| {
            Ok(ChatResponse::new(
                Message::assistant("second"),
                StopReason::EndTurn,
                TokenUsage::new(1, 1),
            ))
        });

    // Chosen at run time, as a frontend would.
    let client: Arc<dyn ModelClient> = Arc::new(mock);
    let mut session = ChatSession::builder(client)
        .system_prompt("sys")
        .build()
        .unwrap();
    assert_eq!(session.send("one").await.unwrap().text(), "first");
    assert_eq!(session.send("two").await.unwrap().text(), "second");
}
