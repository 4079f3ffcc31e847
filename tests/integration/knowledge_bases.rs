//! Knowledge bases: a session searches the knowledge base (`Retrieve`, through the agent
//! runtime SDK) before each new question, gives the passages to the model as `searchResult`
//! blocks with citations on, and gets typed citations back, whole and streamed; they stay in the
//! history and in saved files. Documents with citations on are cited the same way.

use bedrock_chat::testing::FakePassage;
use bedrock_chat::{
    Attachment, CitationLocation, ContentBlock, Error, KnowledgeBase, RetrievalFilter, StreamEvent,
};
use futures::StreamExt;
use serde_json::json;

use crate::support::{Harness, assert_valid_conversation};

const KB: &str = "KBREFUND01";

fn passages() -> Vec<FakePassage> {
    vec![
        FakePassage::new(
            "s3://acme-docs/policies/refunds.md",
            "Refunds are paid within 14 days of the return. Keep the receipt.",
        )
        .metadata(json!({"team": "billing"})),
        FakePassage::new(
            "https://acme.example/help/shipping",
            "Orders ship within 2 days. Express costs extra.",
        )
        .metadata(json!({"team": "logistics"})),
        FakePassage::new("s3://acme-docs/history.md", "Acme was founded in 1962.")
            .metadata(json!({"team": "marketing"})),
    ]
}

#[tokio::test]
async fn a_question_is_grounded_and_the_reply_cites_typed_sources_whole_and_streamed() {
    let h = Harness::start().await;
    h.fake.add_knowledge_base(KB, passages());
    let client = h.fake.client().await.unwrap();
    let kb = KnowledgeBase::new(KB).results(2).with_client(&client);
    let mut session = h.builder().await.retriever(kb).build().unwrap();

    let reply = session
        .send("How long do refunds and shipping take?")
        .await
        .unwrap();
    // Retrieve got the question and the result count.
    let (id, body) = &h.fake.retrievals()[0];
    assert_eq!(id, KB);
    assert_eq!(
        body["retrievalQuery"]["text"],
        "How long do refunds and shipping take?"
    );
    assert_eq!(
        body["retrievalConfiguration"]["vectorSearchConfiguration"]["numberOfResults"],
        2
    );
    // The model got the passages, citations on, before the question.
    let sent = &h.fake.requests()[0].body["messages"][0]["content"];
    for passage in [&sent[0], &sent[1]] {
        assert_eq!(passage["searchResult"]["citations"]["enabled"], true);
    }
    assert!(
        [&sent[0], &sent[1]]
            .iter()
            .any(|p| p["searchResult"]["title"] == "refunds.md"
                && p["searchResult"]["source"] == "s3://acme-docs/policies/refunds.md")
    );
    assert_eq!(sent[2]["text"], "How long do refunds and shipping take?");
    // The reply's citations are typed: the passage, its place, the words cited.
    let citations: Vec<_> = reply.citations().cloned().collect();
    assert_eq!(citations.len(), 2);
    let refunds = citations
        .iter()
        .position(|c| c.source.as_deref() == Some("s3://acme-docs/policies/refunds.md"))
        .unwrap();
    assert_eq!(
        citations[refunds].cited_text,
        "Refunds are paid within 14 days of the return."
    );
    assert_eq!(
        citations[refunds].location,
        CitationLocation::SearchResult {
            index: refunds as u32,
            start: 0,
            end: 1
        }
    );
    let sources = reply.sources();
    assert_eq!(sources.list().len(), 2);
    // Only the https location is a link; the s3 one is shown as text.
    let links: Vec<Option<&str>> = sources.list().iter().map(|s| s.link()).collect();
    assert!(
        links.contains(&Some("https://acme.example/help/shipping")),
        "{sources:?}"
    );
    assert!(links.contains(&None), "{sources:?}");
    assert!(
        reply.text().contains("Refunds are paid within 14 days"),
        "{}",
        reply.text()
    );

    // Streamed: the same citations arrive as events and end up in the history.
    let mut stream = session.send_streaming("And shipping?").await.unwrap();
    let mut streamed = Vec::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::Citation { citation, .. } = event.unwrap() {
            streamed.push(citation);
        }
    }
    drop(stream);
    assert_eq!(streamed.len(), 2);
    let kept: Vec<_> = session.history()[3].citations().cloned().collect();
    assert_eq!(kept, streamed);
    assert!(
        session.history()[3]
            .content()
            .iter()
            .any(|b| matches!(b, ContentBlock::CitationsContent(_)))
    );
    // The next request is one Bedrock takes: cited text goes back as text, passages stay.
    session.send("Thanks").await.unwrap();
    let last = h.fake.requests().pop().unwrap();
    assert_valid_conversation(&last);
    assert!(last.body["messages"][1]["content"][1]["text"].is_string());
    assert!(last.body["messages"][0]["content"][0]["searchResult"].is_object());

    // Saved and loaded, the citations and passages are still there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    session.save(&path).unwrap();
    let mut loaded = h.session().await;
    loaded.load(&path).unwrap();
    assert_eq!(loaded.history()[1].citations().count(), 2);
    assert_eq!(loaded.history()[0].search_results().count(), 2);
}

#[tokio::test]
async fn a_filter_reaches_retrieve_and_an_unknown_knowledge_base_fails_the_turn_cleanly() {
    let h = Harness::start().await;
    h.fake.add_knowledge_base(KB, passages());
    let client = h.fake.client().await.unwrap();
    let filter =
        RetrievalFilter::from_json(&json!({"equals": {"key": "team", "value": "logistics"}}))
            .unwrap();
    let kb = KnowledgeBase::new(KB).filter(filter).with_client(&client);
    let mut session = h.builder().await.retriever(kb).build().unwrap();
    session.send("How long do refunds take?").await.unwrap();
    let sent = &h.fake.requests()[0].body["messages"][0]["content"];
    assert_eq!(
        sent[0]["searchResult"]["source"],
        "https://acme.example/help/shipping"
    );
    assert!(
        sent[1]["text"].is_string(),
        "only the one passage the filter lets through"
    );

    let missing = KnowledgeBase::new("KBMISSING1").with_client(&client);
    let mut session = h.builder().await.retriever(missing).build().unwrap();
    let before = h.fake.request_count();
    let error = session.send("Anything?").await.unwrap_err();
    assert!(matches!(error, Error::KnowledgeBase { .. }), "{error:?}");
    assert!(error.to_string().contains("KBMISSING1"), "{error}");
    assert!(error.to_string().contains("not found"), "{error}");
    assert_eq!(h.fake.request_count(), before, "the model was not asked");
    assert!(session.history().is_empty());
}

#[tokio::test]
async fn a_document_with_citations_on_is_cited_by_page() {
    let h = Harness::start().await;
    let mut session = h.session().await;
    let pdf = Attachment::from_bytes(b"%PDF-1.7 refunds policy".to_vec(), "policy.pdf")
        .unwrap()
        .with_citations();
    let reply = session
        .send_with("What does the policy say?", vec![pdf])
        .await
        .unwrap();
    let sent = &h.fake.requests()[0].body["messages"][0]["content"][0];
    assert_eq!(sent["document"]["citations"]["enabled"], true);
    let citation = reply.citations().next().unwrap();
    assert_eq!(citation.title.as_deref(), Some("policy"));
    assert!(matches!(
        citation.location,
        CitationLocation::DocumentPages {
            document: 0,
            start: 1,
            end: 2
        }
    ));
    assert_eq!(
        reply.sources().list()[0].location.as_deref(),
        Some("page 2")
    );
}

#[tokio::test]
async fn a_session_that_cites_documents_asks_it_of_every_document_in_the_request() {
    let h = Harness::start().await;
    let mut session = h.builder().await.cite_documents(true).build().unwrap();
    let notes = Attachment::from_bytes(b"Refunds take 14 days.".to_vec(), "notes.txt").unwrap();
    let reply = session
        .send_with("What do the notes say?", vec![notes])
        .await
        .unwrap();
    session.send("And?").await.unwrap();
    // The earlier document, sent again as context, is cited too: all of a request's or none.
    let last = h.fake.requests().pop().unwrap();
    assert_eq!(
        last.body["messages"][0]["content"][0]["document"]["citations"]["enabled"],
        true
    );
    let citation = reply.citations().next().unwrap();
    assert!(
        matches!(
            citation.location,
            CitationLocation::DocumentChars { document: 0, .. }
        ),
        "{citation:?}"
    );
    assert_eq!(reply.sources().list()[0].title.as_deref(), Some("notes"));
}
