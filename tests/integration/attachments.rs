//! Images and documents: formats read from the content, Bedrock's limits checked before any
//! request, names made acceptable, and attachments kept in the history and in saved files.

use bedrock_chat::testing::{FakeReply, PIXEL_PNG};
use bedrock_chat::{Attachment, DocumentFormat, ImageFormat, RetryPolicy, StreamEvent};
use futures::StreamExt;

use crate::support::{Harness, assert_valid_conversation};

#[tokio::test]
async fn an_image_and_a_document_travel_with_the_message_whole_and_streamed() {
    let h = Harness::start().await;
    h.fake
        .push(FakeReply::text("A red pixel."))
        .push(FakeReply::text("A short report."));
    let dir = tempfile::tempdir().unwrap();
    // The extension lies; the content decides.
    let picture = dir.path().join("picture.jpg");
    std::fs::write(&picture, PIXEL_PNG).unwrap();
    let report = dir.path().join("John's report #2.pdf");
    std::fs::write(&report, b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n").unwrap();
    let mut session = h
        .builder()
        .await
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let image = Attachment::from_path(&picture).unwrap();
    assert!(matches!(
        image,
        Attachment::Image {
            format: ImageFormat::Png,
            ..
        }
    ));
    session
        .send_with("What is this?", vec![image])
        .await
        .unwrap();

    let document = Attachment::from_path(&report).unwrap();
    assert!(
        matches!(&document, Attachment::Document { format: DocumentFormat::Pdf, name, .. } if name == "Johns report 2")
    );
    let mut stream = session
        .send_streaming_with("Summarise it.", vec![document])
        .await
        .unwrap();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta(_) = event.unwrap() {}
    }
    drop(stream);

    let requests = h.fake.requests();
    let first = &requests[0].body["messages"][0]["content"];
    assert_eq!(first[0]["image"]["format"], "png");
    assert_eq!(
        first[0]["image"]["source"]["bytes"],
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg=="
    );
    assert_eq!(first[1]["text"], "What is this?");
    let second = &requests[1].body["messages"][2]["content"];
    assert_eq!(second[0]["document"]["format"], "pdf");
    assert_eq!(second[0]["document"]["name"], "Johns report 2");
    // The earlier image is sent again as context: the history keeps it.
    assert_eq!(
        requests[1].body["messages"][0]["content"][0]["image"]["format"],
        "png"
    );
    assert_valid_conversation(&requests[1]);
    assert_eq!(session.history()[0].attachments().count(), 1);
    assert_eq!(session.history()[2].attachments().count(), 1);
}

#[tokio::test]
async fn limits_are_checked_before_any_request_with_clear_errors() {
    let h = Harness::start().await;
    let mut session = h.builder().await.build().unwrap();
    let pixel = || Attachment::from_bytes(PIXEL_PNG.to_vec(), "p.png").unwrap();
    let doc = || Attachment::from_bytes(b"plain text".to_vec(), "notes.txt").unwrap();

    let error = session
        .send_with("many", vec![pixel(); 21])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("at most 20 images"), "{error}");
    let error = session.send_with("many", vec![doc(); 6]).await.unwrap_err();
    assert!(error.to_string().contains("at most 5 documents"), "{error}");
    let error = session.send_with("", vec![doc()]).await.unwrap_err();
    assert!(error.to_string().contains("needs text"), "{error}");
    let error = Attachment::from_bytes(vec![0x00, 0xFF, 0x13], "data.bin").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not an attachment Bedrock takes"),
        "{error}"
    );
    let error = Attachment::from_path("/no/such/file.png").unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    let error = Attachment::from_path("/").unwrap_err();
    assert!(error.to_string().contains("not a regular file"), "{error}");
    assert_eq!(h.fake.request_count(), 0);

    // An image alone needs no text; blank text beside it is left out (Bedrock refuses a blank
    // text block), and blank text does not count as text for a document.
    session.send_with("", vec![pixel()]).await.unwrap();
    assert_eq!(h.fake.request_count(), 1);
    let error = session.send_with(" \n ", vec![doc()]).await.unwrap_err();
    assert!(error.to_string().contains("needs text"), "{error}");
    session.send_with(" \n ", vec![pixel()]).await.unwrap();
    assert_eq!(h.fake.request_count(), 2);
    let question = &session.history()[2];
    assert_eq!(question.attachments().count(), 1);
    assert_eq!(question.content().len(), 1, "the image alone: {question:?}");
}

#[tokio::test]
async fn saved_conversations_keep_attachments_and_text_only_ones_stay_version_1() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut session = h.builder().await.build().unwrap();
    session.send("just text").await.unwrap();
    let text_only = dir.path().join("text.json");
    session.save(&text_only).unwrap();
    let saved = std::fs::read_to_string(&text_only).unwrap();
    assert!(saved.contains("\"version\": 1"), "{saved}");

    let pixel = Attachment::from_bytes(PIXEL_PNG.to_vec(), "p.png").unwrap();
    session
        .send_with("and a picture", vec![pixel])
        .await
        .unwrap();
    let with_image = dir.path().join("image.json");
    session.save(&with_image).unwrap();
    let saved = std::fs::read_to_string(&with_image).unwrap();
    assert!(saved.contains("\"version\": 2"), "{saved}");

    let mut other = h.builder().await.build().unwrap();
    other.load(&with_image).unwrap();
    assert_eq!(other.history(), session.history());
    other.send("more").await.unwrap();
    assert_valid_conversation(&h.fake.requests().pop().unwrap());
}
