//! Grounding a turn in documents: a [`Retriever`] finds the passages a question needs, which a
//! session gives the model as search results to cite.

use async_trait::async_trait;

use crate::citation::SearchResult;
use crate::error::Result;

/// Finds passages for a question, for a session to give the model before each turn
/// ([`ChatSessionBuilder::retriever`](crate::ChatSessionBuilder::retriever)): a Bedrock knowledge
/// base (`KnowledgeBase`, with the `knowledge-bases` feature), or a search of your own.
///
/// The passages go to the model as Converse `searchResult` blocks with citations on, and stay in
/// the history with the question, so later turns and saved files keep them; the reply's words
/// come back as [`CitedText`](crate::CitedText).
#[async_trait]
pub trait Retriever: Send + Sync {
    /// The passages for `query`, best first; none is a valid answer (the model then answers
    /// without sources).
    ///
    /// # Errors
    ///
    /// Any error ends the turn before the model is asked; the history is unchanged.
    async fn retrieve(&self, query: &str) -> Result<Vec<SearchResult>>;
}

#[async_trait]
impl<T: Retriever + ?Sized> Retriever for std::sync::Arc<T> {
    async fn retrieve(&self, query: &str) -> Result<Vec<SearchResult>> {
        (**self).retrieve(query).await
    }
}
