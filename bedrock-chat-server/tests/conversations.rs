//! What a daily user does with conversations beyond sending messages: attach images and
//! documents, edit and resend, rename, search and export; and what a stranger would try with
//! each (files that lie about what they are, other visitors' files, floods, huge bodies).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bedrock_chat::testing::{FakeError, FakeReply, PIXEL_PNG};
use bedrock_chat_server::ServerConfig;
use serde_json::{Value, json};
use support::{TestServer, Visitor, events, without_limits};

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";

fn file(name: &str, bytes: &[u8]) -> Value {
    json!({"name": name, "data": STANDARD.encode(bytes)})
}

async fn send(visitor: &Visitor, id: &str, body: Value) -> reqwest::Response {
    visitor
        .http
        .post(format!("{}/api/conversations/{id}/messages", visitor.base))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn an_image_and_a_pdf_reach_bedrock_and_are_kept_and_served_back() {
    let server = TestServer::start().await;
    server.fake.push(FakeReply::text("A pixel and a report."));
    let visitor = server.visitor();
    let id = visitor.create().await;
    let response = send(
        &visitor,
        &id,
        json!({"text": "What are these?", "attachments": [
            file("pixel.png", PIXEL_PNG), file("Q3 report.pdf", PDF)
        ]}),
    )
    .await;
    assert_eq!(response.status(), 200);

    let sent = &server.fake.requests()[0].body["messages"][0]["content"];
    assert_eq!(sent[0]["image"]["format"], "png", "{sent}");
    assert_eq!(sent[1]["document"]["format"], "pdf", "{sent}");
    assert_eq!(sent[2]["text"], "What are these?", "{sent}");

    let conversation = visitor.conversation(&id).await;
    let attachments = &conversation["messages"][0]["attachments"];
    assert_eq!(attachments[0]["kind"], "image");
    assert_eq!(attachments[0]["format"], "png");
    assert_eq!(attachments[0]["bytes"], PIXEL_PNG.len());
    assert_eq!(attachments[1]["kind"], "document");
    assert_eq!(attachments[1]["name"], "Q3 report.pdf");
    assert_eq!(conversation["messages"][1]["attachments"], json!([]));

    let image = visitor.get(attachments[0]["url"].as_str().unwrap()).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(image.headers()["content-disposition"], "inline");
    assert_eq!(image.bytes().await.unwrap().as_ref(), PIXEL_PNG);
    let pdf = visitor.get(attachments[1]["url"].as_str().unwrap()).await;
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert_eq!(
        pdf.headers()["content-disposition"],
        "attachment; filename=\"Q3 report.pdf\""
    );
    assert_eq!(pdf.bytes().await.unwrap().as_ref(), PDF);

    // An image alone is a question; a document alone is not (Bedrock wants text with it).
    server.fake.push(FakeReply::text("Still a pixel."));
    let alone = send(
        &visitor,
        &id,
        json!({"attachments": [file("p.png", PIXEL_PNG)]}),
    )
    .await;
    assert_eq!(alone.status(), 200);
    let (status, kind, _) =
        error_of(send(&visitor, &id, json!({"attachments": [file("r.pdf", PDF)]})).await).await;
    assert_eq!((status, kind.as_str()), (400, "invalid_input"));
}

#[tokio::test]
async fn files_that_are_not_what_bedrock_takes_are_refused_before_anything_is_spent() {
    let server = TestServer::start().await;
    let visitor = server.visitor();
    let id = visitor.create().await;
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    let exe = b"MZ\x90\0\x03\0\0\0".to_vec();
    let mut huge = PIXEL_PNG.to_vec();
    huge.resize(3_800_000, 0);
    let cases = [
        (
            json!([{"name": "a.png", "data": "not base64!"}]),
            "not base64",
        ),
        (
            json!([file("tool.png", &elf)]),
            "is not an attachment Bedrock takes",
        ),
        (
            json!([file("setup.txt", &exe)]),
            "is not an attachment Bedrock takes",
        ),
        (json!([file("big.png", &huge)]), "at most 3.75 MB"),
        (
            json!(
                (0..26)
                    .map(|_| file("p.png", PIXEL_PNG))
                    .collect::<Vec<_>>()
            ),
            "at most 20 images",
        ),
    ];
    for (attachments, says) in cases {
        let body = json!({"text": "look", "attachments": attachments});
        let (status, kind, message) = error_of(send(&visitor, &id, body).await).await;
        assert_eq!(
            (status, kind.as_str()),
            (422, "invalid_attachment"),
            "{message} (expected: {says})"
        );
        assert!(message.contains(says), "{message} should say {says}");
    }
    assert_eq!(server.fake.request_count(), 0);
    assert_eq!(visitor.conversation(&id).await["messages"], json!([]));
}

#[tokio::test]
async fn another_visitor_cannot_read_an_attachment_and_documents_never_render() {
    let server = TestServer::start().await;
    server.fake.push(FakeReply::text("A page."));
    let owner = server.visitor();
    let id = owner.create().await;
    let html = b"<html><script>fetch('/api/conversations')</script></html>";
    // An SVG is text to Bedrock (read as a plain-text document), never an image to the page.
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>";
    let body = json!({"text": "Summarise", "attachments": [
        file("page.html", html), file("logo.svg", svg)
    ]});
    assert_eq!(send(&owner, &id, body).await.status(), 200);
    let url = format!("/api/conversations/{id}/messages/0/attachments/0");
    let logo = owner
        .get(&format!("/api/conversations/{id}/messages/0/attachments/1"))
        .await;
    assert_eq!(logo.headers()["content-type"], "text/plain");
    assert_eq!(
        logo.headers()["content-disposition"],
        "attachment; filename=\"logo.txt\""
    );

    // The owner gets an uploaded page only as a download, sandboxed: it can never run as
    // this site.
    let page = owner.get(&url).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    let stranger = server.visitor();
    assert_eq!(stranger.get(&url).await.status(), 404);
    for path in [
        format!("/api/conversations/{id}/messages/0/attachments/2"),
        format!("/api/conversations/{id}/messages/1/attachments/0"),
        format!("/api/conversations/{id}/messages/99999999999999999999/attachments/0"),
        format!("/api/conversations/{id}/messages/-1/attachments/0"),
        "/api/conversations/..%2f..%2fetc/messages/0/attachments/0".to_string(),
    ] {
        assert_eq!(owner.get(&path).await.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn attachments_are_counted_per_hour_by_address_as_well_as_by_cookie() {
    let mut config = without_limits(ServerConfig::default());
    config.limits.attachments_per_hour = 3;
    let server = TestServer::start_with(config).await;
    server.fake.push(FakeReply::text("One."));
    let first = server.visitor();
    let id = first.create().await;
    let two = json!({"text": "look", "attachments": [file("a.png", PIXEL_PNG), file("b.png", PIXEL_PNG)]});
    assert_eq!(send(&first, &id, two.clone()).await.status(), 200);

    // A fresh cookie from the same address starts from what the address has used.
    let second = server.visitor();
    let id = second.create().await;
    let response = send(&second, &id, two).await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, kind, message) = error_of(response).await;
    assert_eq!((status, kind.as_str()), (429, "rate_limited"));
    assert!(message.contains("files attached"), "{message}");
    assert_eq!(server.fake.request_count(), 1);
}

#[tokio::test]
async fn a_message_that_would_make_the_conversation_too_large_is_refused_unpaid() {
    let mut config = ServerConfig::default();
    config.limits.conversation_bytes = 200_000;
    let server = TestServer::start_with(config).await;
    let visitor = server.visitor();
    let id = visitor.create().await;
    let mut pdf = PDF.to_vec();
    pdf.resize(160_000, b' ');
    let body = json!({"text": "read", "attachments": [file("big.pdf", &pdf)]});
    let (status, kind, message) = error_of(send(&visitor, &id, body).await).await;
    assert_eq!((status, kind.as_str()), (413, "too_large"), "{message}");
    assert!(message.contains("start a new chat"), "{message}");
    assert_eq!(server.fake.request_count(), 0);

    // A body past the message limit is refused before it is read whole.
    let mut config = ServerConfig::default();
    config.limits.message_body_bytes = 100_000;
    let server = TestServer::start_with(config).await;
    let visitor = server.visitor();
    let id = visitor.create().await;
    let response = send(&visitor, &id, json!({"text": "x".repeat(200_000)})).await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn edit_replaces_the_last_exchange_keeping_its_files_and_failures_change_nothing() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::text("A1"))
        .push(FakeReply::text("A2"))
        .push(FakeReply::error(FakeError::AccessDenied))
        .push(FakeReply::chunks(["A2 ", "edited"]));
    let visitor = server.visitor();
    let id = visitor.create().await;
    let edit = |text: &str| {
        visitor
            .http
            .post(format!("{}/api/conversations/{id}/edit", visitor.base))
            .header("accept", "text/event-stream")
            .json(&json!({"text": text}))
            .send()
    };
    let (status, kind, _) = error_of(edit("too soon").await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (400, "invalid_input"));

    assert_eq!(visitor.say(&id, "Q1").await.status(), 200);
    let body = json!({"text": "Q2", "attachments": [file("p.png", PIXEL_PNG)]});
    assert_eq!(send(&visitor, &id, body).await.status(), 200);
    let before = visitor.conversation(&id).await;

    let failed = events(edit("Q2 better").await.unwrap()).await;
    assert_eq!(failed.last().unwrap().0, "error");
    assert_eq!(
        visitor.conversation(&id).await["messages"],
        before["messages"]
    );

    let done = events(edit("Q2 better").await.unwrap()).await;
    assert_eq!(done.last().unwrap().0, "done", "{done:?}");
    let sent = &server.fake.requests()[3];
    assert_eq!(
        sent.messages(),
        [
            ("user".to_string(), "Q1".to_string()),
            ("assistant".into(), "A1".into()),
            ("user".into(), "Q2 better".into()),
        ]
    );
    assert_eq!(
        sent.body["messages"][2]["content"][0]["image"]["format"],
        "png"
    );
    let after = visitor.conversation(&id).await;
    let messages = after["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2]["text"], "Q2 better");
    assert_eq!(messages[2]["attachments"][0]["kind"], "image");
    assert_eq!(messages[3]["text"], "A2 edited");
}

#[tokio::test]
async fn rename_search_and_export() {
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::text("We open at nine on weekdays."))
        .push(FakeReply::text("Bring a passport."));
    let visitor = server.visitor();
    let hours = visitor.create().await;
    visitor.say(&hours, "Opening hours?").await;
    let trip = visitor.create().await;
    visitor.say(&trip, "What do I need for the trip?").await;

    let rename = |id: String, title: Value| {
        visitor
            .http
            .patch(format!("{}/api/conversations/{id}", visitor.base))
            .json(&json!({"title": title}))
            .send()
    };
    let renamed: Value = rename(trip.clone(), json!("Lisbon, May"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["title"], "Lisbon, May");
    assert_eq!(visitor.conversation(&trip).await["title"], "Lisbon, May");
    for bad in [json!("two\nlines"), json!("x".repeat(201)), json!(7)] {
        let response = rename(trip.clone(), bad.clone()).await.unwrap();
        assert!(matches!(response.status().as_u16(), 400 | 422), "{bad}");
    }
    assert_eq!(
        server
            .visitor()
            .get(&format!("/api/conversations/{trip}"))
            .await
            .status(),
        404
    );

    let search = |q: &str| {
        let path = format!("/api/conversations?q={q}");
        let visitor = &visitor;
        async move { visitor.get(&path).await }
    };
    let found: Value = search("PASSPORT").await.json().await.unwrap();
    let found = found["conversations"].as_array().unwrap().clone();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], trip.as_str());
    assert_eq!(found[0]["snippet"], "Bring a passport.");
    let found: Value = search("lisbon%20may").await.json().await.unwrap();
    assert_eq!(found["conversations"][0]["id"], trip.as_str());
    let found: Value = search("nine%20passport").await.json().await.unwrap();
    assert_eq!(found["conversations"], json!([]));
    let all: Value = search("").await.json().await.unwrap();
    assert_eq!(all["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(search(&"a".repeat(300)).await.status(), 400);
    // Another visitor's search finds nothing of this one's.
    let theirs: Value = server
        .visitor()
        .get("/api/conversations?q=passport")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["conversations"], json!([]));

    // An empty title goes back to the automatic one.
    let automatic: Value = rename(trip.clone(), json!(""))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(automatic["title"], "What do I need for the trip?");
    rename(trip.clone(), json!("Lisbon \"May\" / 2027"))
        .await
        .unwrap();

    let markdown = visitor
        .get(&format!("/api/conversations/{trip}/export"))
        .await;
    assert_eq!(markdown.status(), 200);
    assert_eq!(
        markdown.headers()["content-type"],
        "text/markdown; charset=utf-8"
    );
    assert_eq!(
        markdown.headers()["content-disposition"],
        "attachment; filename=\"Lisbon__May____2027.md\""
    );
    let text = markdown.text().await.unwrap();
    assert!(text.starts_with("# Lisbon \"May\" / 2027\n"), "{text}");
    assert!(
        text.contains("## You\n\nWhat do I need for the trip?"),
        "{text}"
    );
    assert!(
        text.ends_with("## Assistant\n\nBring a passport.\n"),
        "{text}"
    );

    let json = visitor
        .get(&format!("/api/conversations/{trip}/export?format=json"))
        .await;
    assert_eq!(json.headers()["content-type"], "application/json");
    let saved = bedrock_chat::SavedConversation::from_json(&json.bytes().await.unwrap()).unwrap();
    assert_eq!(saved.title(), Some("Lisbon \"May\" / 2027"));
    assert_eq!(saved.messages().len(), 2);
    let bad = visitor
        .get(&format!("/api/conversations/{trip}/export?format=exe"))
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn limits_tell_the_page_what_a_message_may_carry() {
    let server = TestServer::start().await;
    let limits: Value = server
        .visitor()
        .get("/api/limits")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limits["image_bytes"], 3_750_000);
    assert_eq!(limits["document_bytes"], 4_500_000);
    assert_eq!(limits["images_per_message"], 20);
    assert_eq!(limits["documents_per_message"], 5);
    assert!(limits["body_bytes"].as_u64().unwrap() > 8_000_000);
    assert_eq!(limits["attachments_per_hour"], 60);
}

/// A search reads every conversation its visitor has: a script repeating it, with a fresh
/// cookie each time, is refused by its address before the store reads for it again.
#[tokio::test]
async fn a_search_flood_from_one_address_is_refused_whatever_the_cookies() {
    let mut config = without_limits(ServerConfig::default());
    config.limits.searches_per_minute = 3;
    let server = TestServer::start_with(config).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let stranger = server.visitor();
        let response = stranger.get("/api/conversations?q=anything").await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Listing without a search reads nothing more and stays open.
    assert_eq!(
        server.visitor().get("/api/conversations").await.status(),
        200
    );
}
