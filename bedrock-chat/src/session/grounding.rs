//! Grounding a question: the passages the session's retriever finds go into the user's message,
//! before its text, as search results for the model to cite.

use super::ChatSession;
use crate::error::Result;
use crate::message::{ContentBlock, Message, Role};

impl ChatSession {
    /// `user` with the passages for its text, when the session has a retriever; as it is
    /// otherwise, or when the search finds nothing.
    pub(super) async fn grounded(&self, user: Message) -> Result<Message> {
        let Some(retriever) = &self.retriever else {
            return Ok(user);
        };
        let query = user.text();
        if query.trim().is_empty() {
            return Ok(user);
        }
        let passages = retriever.retrieve(&query).await?;
        if passages.is_empty() {
            return Ok(user);
        }
        tracing::debug!(passages = passages.len(), "question grounded");
        // Passages first, as Claude reads best (documents before the question), then the
        // message's own attachments and text.
        // Blank pieces are dropped, as Bedrock refuses blank text anywhere.
        let content: Vec<ContentBlock> = passages
            .into_iter()
            .filter_map(|mut passage| {
                passage.content.retain(|piece| !piece.trim().is_empty());
                (!passage.content.is_empty()).then_some(ContentBlock::SearchResult(passage))
            })
            .chain(user.content().iter().cloned())
            .collect();
        Ok(Message::new(Role::User, content))
    }
}
