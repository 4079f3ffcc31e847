//! The page in a real headless Chromium (Debian's `chromium` and `chromium-driver`), driven over
//! WebDriver: what a visitor types, sees and clicks.
//!
//! Each test starts its own ChromeDriver on a free port and stops it on drop. Without Chromium
//! these tests fail in CI (`CI` is set) with the command that installs it; on a developer's
//! machine they are skipped with that same message.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::time::Duration;

use bedrock_chat::testing::{FakeError, FakeReply};
use fantoccini::{Client, Locator};
use serde_json::json;
use support::TestServer;
use support::browser::{browser, wait_for, wait_until};

async fn texts(client: &Client, role: &str) -> Vec<String> {
    let value = client
        .execute(
            &format!(
                "return [...document.querySelectorAll('.message[data-role=\"{role}\"] .body')].map(e => e.textContent);"
            ),
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

async fn type_and_enter(client: &Client, text: &str) {
    let input = wait_for(client, "textarea[aria-label='Message']").await;
    input.send_keys(text).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap(); // Enter
}

async fn click_button(client: &Client, name: &str) {
    let xpath = format!("//button[normalize-space(.)='{name}' and not(@hidden)]");
    click(client, Locator::XPath(&xpath)).await;
}

/// Clicks the element once it is there. The page re-renders lists as answers arrive, so an
/// element found a moment ago may have been replaced: it is then looked up again.
async fn click(client: &Client, locator: Locator<'_>) {
    let mut last_error = None;
    for _ in 0..20 {
        let element = client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("no {locator:?}: {e}"));
        match element.click().await {
            Ok(()) => return,
            Err(error) => last_error = Some(error),
        }
    }
    panic!("{locator:?} could not be clicked: {last_error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chats_sees_the_stream_and_the_conversation_survives_a_reload() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    server
        .fake
        .push(
            FakeReply::chunks([
                "The capital of France is **Paris**.\n\n",
                "- It is on the Seine\n- It has ",
                "2.1 million people\n\n```rust\nfn main() {}\n```",
                "\n\n| city | people |\n|---|---:|\n| Paris | 2.1 M |",
            ])
            .chunk_delay(Duration::from_millis(150)),
        )
        .push(FakeReply::text("Madrid."));
    client.goto(&server.url("/")).await.unwrap();

    type_and_enter(&client, "What is the capital of France?").await;
    // The reply bubble is there from the start, thinking, then filled as text arrives.
    wait_for(&client, ".message[data-role='assistant']").await;
    wait_until(&client, "document.querySelector('#stop:not([hidden])')").await;
    wait_until(
        &client,
        "document.querySelector('.message[data-role=\"assistant\"] strong')?.textContent === 'Paris'",
    )
    .await;
    wait_until(&client, "document.querySelector('#stop').hidden").await;
    let replies = texts(&client, "assistant").await;
    assert!(
        replies[0].contains("The capital of France is Paris."),
        "{replies:?}"
    );
    assert!(replies[0].contains("fn main() {}"));
    wait_for(&client, ".message[data-role='assistant'] li").await;
    wait_for(&client, ".message[data-role='assistant'] pre code").await;
    // A table is a table, not rows of pipes.
    wait_until(
        &client,
        "[...document.querySelectorAll('.message[data-role=\"assistant\"] table th')].map(c => c.textContent).join() === 'city,people' \
         && document.querySelector('.message[data-role=\"assistant\"] table td')?.textContent === 'Paris'",
    )
    .await;
    wait_until(
        &client,
        "document.querySelector('#usage').textContent.includes('tokens')",
    )
    .await;
    // The first message names the conversation, in the header at once (it said "New chat"
    // until the visitor switched away and back), and the page asks for no /favicon.ico.
    wait_until(
        &client,
        "document.querySelector('#title').textContent === 'What is the capital of France?'",
    )
    .await;
    wait_until(
        &client,
        "document.querySelector(\"link[rel='icon']\") !== null",
    )
    .await;

    // Shift+Enter adds a line; Enter sends.
    let input = wait_for(&client, "textarea[aria-label='Message']").await;
    input.send_keys("And Spain?").await.unwrap();
    input.send_keys("\u{E008}\u{E007}").await.unwrap(); // Shift+Enter
    input.send_keys("\u{E008}").await.unwrap(); // release Shift
    let value = client
        .execute("return document.querySelector('#input').value;", vec![])
        .await
        .unwrap();
    assert_eq!(value, json!("And Spain?\n"));
    input.send_keys("\u{E007}").await.unwrap();
    wait_until(
        &client,
        "[...document.querySelectorAll('.message[data-role=\"assistant\"]')].length === 2 && document.querySelector('#stop').hidden",
    )
    .await;

    client.refresh().await.unwrap();
    wait_until(
        &client,
        "document.querySelectorAll('.message[data-role=\"assistant\"]').length === 2",
    )
    .await;
    assert_eq!(
        texts(&client, "user").await,
        ["What is the capital of France?", "And Spain?\n"]
    );
    wait_until(
        &client,
        "document.querySelectorAll('#conversations li').length === 1",
    )
    .await;
    wait_until(&client, "document.querySelector('button.regenerate')").await;
    let requests = server.fake.requests();
    assert_eq!(
        requests[1].messages().len(),
        3,
        "the first exchange is context"
    );

    // The screenshot in the README.
    let png = client.screenshot().await.unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bedrock-chat-serve.png");
    std::fs::write(&out, png).unwrap();
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_slow_reply_and_the_conversation_is_as_before() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    server
        .fake
        .push(
            FakeReply::text("one two three four five six seven")
                .chunk_delay(Duration::from_millis(400)),
        )
        .push(FakeReply::text("Short answer."));
    client.goto(&server.url("/")).await.unwrap();
    type_and_enter(&client, "Tell me a long story").await;
    wait_until(
        &client,
        "(document.querySelector('.message[data-role=\"assistant\"] .body')?.textContent || '').includes('one')",
    )
    .await;
    click_button(&client, "Stop").await;
    wait_until(
        &client,
        "document.querySelector('.notice')?.textContent.includes('Stopped')",
    )
    .await;
    assert!(texts(&client, "assistant").await.is_empty());
    assert!(texts(&client, "user").await.is_empty());
    let value = client
        .execute("return document.querySelector('#input').value;", vec![])
        .await
        .unwrap();
    assert_eq!(
        value,
        json!("Tell me a long story"),
        "the text is back in the box"
    );

    // The next message is sent without the stopped one as context.
    client
        .execute("document.querySelector('#input').value = '';", vec![])
        .await
        .unwrap();
    type_and_enter(&client, "Short one").await;
    wait_until(
        &client,
        "document.querySelector('.message[data-role=\"assistant\"] .body')?.textContent === 'Short answer.'",
    )
    .await;
    assert_eq!(server.fake.requests().last().unwrap().messages().len(), 1);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_turn_is_an_error_bubble_with_bedrocks_message_and_retry_works() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::error(FakeError::Validation(
            "The model returned the following errors: invalid block".into(),
        )))
        .push(FakeReply::error(FakeError::Throttling))
        .push(FakeReply::text("It worked."));
    client.goto(&server.url("/")).await.unwrap();
    type_and_enter(&client, "hello").await;
    let error = wait_for(&client, ".message[data-role='error']").await;
    let text = error.text().await.unwrap();
    assert!(text.contains("invalid block"), "{text}");
    // The first message failed: no empty "New chat" is left in the list (which is the
    // server's list for this visitor, read again after the failure).
    wait_until(
        &client,
        "localStorage.getItem('bc_current') === null \
         && document.querySelectorAll('#sidebar li').length === 0",
    )
    .await;
    let png = client.screenshot().await.unwrap();
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("bedrock-chat-serve-error.png"),
        png,
    )
    .unwrap();
    click_button(&client, "Retry").await;
    // The throttled attempt shows its notice, worded as the REPL words it.
    wait_until(
        &client,
        "document.querySelector('.notice')?.textContent.includes('throttled; retrying in')",
    )
    .await;
    wait_until(
        &client,
        "document.querySelector('.message[data-role=\"assistant\"] .body')?.textContent === 'It worked.'",
    )
    .await;
    assert!(
        client
            .find(Locator::Css(".message[data-role='error']"))
            .await
            .is_err()
    );
    assert_eq!(texts(&client, "user").await, ["hello"]);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_chat_switching_deleting_and_regenerate() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::text("About cats."))
        .push(FakeReply::text("About dogs."))
        .push(FakeReply::text("Dogs, again."));
    client.goto(&server.url("/")).await.unwrap();
    type_and_enter(&client, "Cats?").await;
    wait_until(&client, "document.querySelector('.message[data-role=\"assistant\"] .body')?.textContent === 'About cats.'").await;
    click_button(&client, "New chat").await;
    wait_until(
        &client,
        "document.querySelectorAll('.message').length === 0",
    )
    .await;
    type_and_enter(&client, "Dogs?").await;
    wait_until(&client, "document.querySelector('.message[data-role=\"assistant\"] .body')?.textContent === 'About dogs.'").await;
    wait_until(
        &client,
        "document.querySelectorAll('#conversations li').length === 2",
    )
    .await;
    assert_eq!(
        server.fake.requests()[1].messages().len(),
        1,
        "a new chat has no context"
    );

    click_button(&client, "Regenerate").await;
    wait_until(&client, "document.querySelector('.message[data-role=\"assistant\"] .body')?.textContent === 'Dogs, again.'").await;
    assert_eq!(texts(&client, "assistant").await, ["Dogs, again."]);

    // Switch to the first conversation by its title.
    click_button(&client, "Cats?").await;
    wait_until(
        &client,
        "document.querySelector('.message[data-role=\"user\"] .body')?.textContent === 'Cats?'",
    )
    .await;
    // Delete it: the list keeps the other.
    click(&client, Locator::Css("button[aria-label='Delete Cats?']")).await;
    wait_until(
        &client,
        "document.querySelectorAll('#conversations li').length === 1",
    )
    .await;
    wait_until(
        &client,
        "document.querySelectorAll('.message').length === 0",
    )
    .await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_stays_text_and_nothing_runs() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    let hostile = "<img src=x onerror=\"window.__pwned='img'\"> <script>window.__pwned='script'</script> \
                   [click](javascript:window.__pwned='link') <b>bold?</b> **real bold**";
    server.fake.push(FakeReply::chunks([hostile]));
    client.goto(&server.url("/")).await.unwrap();
    type_and_enter(&client, "<img src=y onerror=\"window.__pwned='user'\">").await;
    wait_until(&client, "document.querySelector('#stop').hidden && document.querySelector('.message[data-role=\"assistant\"] strong')").await;
    let pwned = client
        .execute(
            "return [window.__pwned, document.querySelectorAll('#messages img, #messages script, #messages b').length, \
             [...document.querySelectorAll('#messages a')].map(a => a.href)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        pwned,
        json!([null, 0, []]),
        "nothing ran, no element came from the text"
    );
    let reply = &texts(&client, "assistant").await[0];
    assert!(reply.contains("<img src=x onerror="), "{reply}");
    assert!(reply.contains("<script>"), "{reply}");
    let user = &texts(&client, "user").await[0];
    assert!(user.contains("<img src=y"), "{user}");
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_browser_sees_nothing_of_this_ones_conversations() {
    let Some((_first_driver, first)) = browser().await else {
        return;
    };
    let Some((_second_driver, second)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fake.set_fallback(FakeReply::text("private answer"));
    first.goto(&server.url("/")).await.unwrap();
    type_and_enter(&first, "my private question").await;
    wait_until(
        &first,
        "document.querySelectorAll('#conversations li').length === 1",
    )
    .await;
    second.goto(&server.url("/")).await.unwrap();
    wait_for(&second, "textarea").await;
    // Give the page's start-up requests their answers before looking.
    wait_until(&second, "document.readyState === 'complete'").await;
    let seen = second
        .execute(
            "return fetch('/api/conversations').then(r => r.json()).then(b => b.conversations.length);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen, json!(0));
    assert!(
        second
            .find(Locator::Css("#conversations li"))
            .await
            .is_err()
    );
    first.close().await.unwrap();
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_fits_a_phone_screen() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&server.url("/")).await.unwrap();
    wait_for(&client, "textarea").await;
    // The list folds behind the menu button; the message box spans the screen.
    let layout = client
        .execute(
            "const menu = getComputedStyle(document.querySelector('#menu')).display; \
             const side = document.querySelector('#sidebar').getBoundingClientRect(); \
             const box = document.querySelector('#input').getBoundingClientRect(); \
             return [menu, side.right <= 0, box.width > 200, document.documentElement.scrollWidth <= window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout, json!(["block", true, true, true]));
    // A wide table of numbers scrolls sideways: no number is broken across lines.
    server.fake.push(FakeReply::text(
        "| case | count | ratio |\n|---|---:|---:|\n| first | 1234567890123 | 996/14 |\n| second | 9876543210987 | 12345/678 |",
    ));
    type_and_enter(&client, "Numbers, please").await;
    wait_for(&client, ".message[data-role='assistant'] table td").await;
    let broken = client
        .execute(
            "return [...document.querySelectorAll('.message[data-role=\"assistant\"] td')].filter(td => { \
               const range = document.createRange(); range.selectNodeContents(td); \
               return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1; \
             }).map(td => td.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(broken, json!([]), "cells broken across lines");
    let fits = client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "the page itself never scrolls sideways");

    // The drawer opens with the menu button and closes with it, with Escape, and with a tap
    // outside it; aria-expanded says which every time.
    let open = "document.querySelector('#sidebar').getBoundingClientRect().left >= 0 \
                && document.querySelector('#menu').getAttribute('aria-expanded') === 'true'";
    let closed = "document.querySelector('#sidebar').getBoundingClientRect().right <= 0 \
                  && document.querySelector('#menu').getAttribute('aria-expanded') === 'false'";
    click_button(&client, "☰").await;
    wait_until(&client, open).await;
    click_button(&client, "☰").await;
    wait_until(&client, closed).await;
    click_button(&client, "☰").await;
    wait_until(&client, open).await;
    client
        .execute(
            "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}));",
            vec![],
        )
        .await
        .unwrap();
    wait_until(&client, closed).await;
    click_button(&client, "☰").await;
    wait_until(&client, open).await;
    // A tap beside the drawer (its right edge is at most 300 px on a 390 px screen).
    client
        .execute(
            "document.elementFromPoint(370, 420).dispatchEvent(new MouseEvent('click', {bubbles: true}));",
            vec![],
        )
        .await
        .unwrap();
    wait_until(&client, closed).await;
    client.close().await.unwrap();
}

/// A long reply of every kind of block the page renders, with parts past the page's limits (a
/// table of more than 200 rows, a list of more than 256 items), `\r\n` line ends in one section,
/// and a last line with no line end.
fn every_kind_of_block() -> String {
    use std::fmt::Write as _;
    let mut text = String::from(
        "# A long answer\n\nIt starts with **bold**, *italic*, `code` and a [link](https://example.com/a).\nA second line of the first paragraph.\n\n",
    );
    for n in 0..12 {
        write!(
            text,
            "## Part {n}\n\nSome prose about part {n}, with snake_case_words, 2 * 3 * 4 and ``a ` tick``; \
             it is long enough to wrap on the screen, as a model's paragraphs are.\n\n\
             - one\n- two with **bold {n}**\n- three\n\n1. first\n2. second\n10) tenth\n\n\
             ```rust\nfn part_{n}() -> u32 {{\n    {n}\n}}\n```\n\n\
             | name | value |\n|:---|---:|\n| a | {n} |\n| b *{n}* | `x` |\n\n\
             > a quote\n> > nested, **bold**\n\n~~~\ntilde fence {n}\n~~~\n\n---\n\n"
        )
        .unwrap();
    }
    text.push_str("| row | square |\n|---|---|\n");
    for row in 0..230 {
        writeln!(text, "| {row} | {} |", row * row).unwrap();
    }
    text.push('\n');
    for item in 0..300 {
        writeln!(text, "- item {item}").unwrap();
    }
    text.push_str("\r\nA paragraph\r\nwith CRLF line ends\r\n\r\n```\r\ncode, CRLF\r\n```\r\n\r\n");
    text.push_str("The last line, with no line end.");
    text
}

/// `text` in pieces of 1 to `longest` bytes, their lengths going round.
fn tiny_pieces(text: &str, longest: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut size = 1;
    while !rest.is_empty() {
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
        size = size % longest + 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_streamed_in_tiny_chunks_ends_as_the_same_page_as_one_rendered_whole() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start_with(support::without_limits(Default::default())).await;
    let markdown = every_kind_of_block();
    // Two cuts of the same reply: the page draws each dozens of times as it grows, each time
    // cut somewhere else (in a line, a cell, a fence, between a \r and its \n).
    server
        .fake
        .push(FakeReply::chunks(tiny_pieces(&markdown, 7)).chunk_delay(Duration::from_millis(1)))
        .push(FakeReply::chunks(tiny_pieces(&markdown, 23)).chunk_delay(Duration::from_millis(3)));
    client.goto(&server.url("/")).await.unwrap();
    let bodies = "return [...document.querySelectorAll('.message[data-role=\"assistant\"] .body')].map(b => b.innerHTML);";
    let ended = |count: usize| {
        format!(
            "document.querySelector('#stop').hidden \
             && document.querySelectorAll('.message[data-role=\"assistant\"] .body').length === {count} \
             && [...document.querySelectorAll('.message[data-role=\"assistant\"] .body')].every(b => \
                  b.lastElementChild?.textContent === 'The last line, with no line end.')"
        )
    };
    type_and_enter(&client, "A long answer, please").await;
    support::browser::wait_until_for(&client, &ended(1), 60).await;
    type_and_enter(&client, "Again, please").await;
    support::browser::wait_until_for(&client, &ended(2), 60).await;
    let streamed: Vec<String> =
        serde_json::from_value(client.execute(bodies, vec![]).await.unwrap()).unwrap();

    // The same replies rendered whole, as a reload shows them.
    client.refresh().await.unwrap();
    support::browser::wait_until_for(&client, &ended(2), 60).await;
    let whole: Vec<String> =
        serde_json::from_value(client.execute(bodies, vec![]).await.unwrap()).unwrap();
    // Not a vacuous comparison: everything is there, once.
    let counts = client
        .execute(
            "const b = document.querySelector('.message[data-role=\"assistant\"] .body'); \
             return [b.querySelectorAll('table').length, b.querySelectorAll('tbody tr').length, \
                     b.querySelectorAll('pre').length, b.querySelectorAll('li').length, \
                     b.querySelectorAll('blockquote blockquote').length, b.querySelectorAll('hr').length];",
            vec![],
        )
        .await
        .unwrap();
    // 12 small tables and the long one in two parts (200 rows each at most); 12 x 2 fences and
    // the CRLF one; 12 x 6 list items and 300; 12 nested quotes; 12 rules.
    assert_eq!(counts, json!([14, 12 * 2 + 230, 25, 12 * 6 + 300, 12, 12]));
    assert_eq!(streamed.len(), 2);
    for (n, (streamed, whole)) in streamed.iter().zip(&whole).enumerate() {
        if streamed != whole {
            let at = streamed
                .bytes()
                .zip(whole.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(streamed.len().min(whole.len()));
            let from = at.saturating_sub(200);
            panic!(
                "reply {n}: streamed and whole renders differ at byte {at}:\nstreamed: …{}…\nwhole:    …{}…",
                streamed
                    .get(from..(at + 200).min(streamed.len()))
                    .unwrap_or(streamed),
                whole
                    .get(from..(at + 200).min(whole.len()))
                    .unwrap_or(whole)
            );
        }
    }
    client.close().await.unwrap();
}

/// axe-core's violations on the page as it is now: `id: targets` for each.
async fn axe_violations(client: &Client) -> Vec<String> {
    let value = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             axe.run(document).then((r) => done(r.violations.map((v) => \
               `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_core_finds_nothing_on_desktop_phone_and_dark() {
    let Some((driver, client)) = browser().await else {
        return;
    };
    let Some(axe) = support::browser::axe_core() else {
        return;
    };
    let mut config = bedrock_chat_server::ServerConfig::default();
    config.notice = Some("Demo: replies are canned.".to_string());
    let server = TestServer::start_with(config).await;
    server.fake.push(FakeReply::text(
        "## A heading\n\nSome **bold**, *italic*, `code` and a [link](https://example.com).\n\n\
         | city | people |\n|---|---:|\n| Paris | 2.1 M |\n\n```rust\nfn main() {}\n```\n\n\
         - one\n- two\n\n> a quote with `code`",
    ));
    client.goto(&server.url("/")).await.unwrap();
    wait_for(&client, "textarea").await;
    // With the operator's notice, files sent and about to be sent, a refused one, a search.
    let pdf = b"%PDF-1.4\n%%EOF\n";
    for (name, mime, bytes) in [
        ("dot.png", "image/png", PNG),
        ("report.pdf", "application/pdf", pdf),
    ] {
        client
            .execute(&drop_file(name, mime, bytes), vec![])
            .await
            .unwrap();
    }
    wait_until(
        &client,
        "document.querySelectorAll('#attachments li').length === 2",
    )
    .await;
    type_and_enter(&client, "A table and some code, please").await;
    wait_until(
        &client,
        "document.querySelector('#stop').hidden \
         && document.querySelector('.message[data-role=\"assistant\"] table td') \
         && document.querySelector('.message[data-role=\"assistant\"] pre code') \
         && document.querySelector('.message[data-role=\"user\"] .files img') \
         && document.querySelector('button.regenerate') && document.querySelector('button.edit')",
    )
    .await;
    for (name, mime, bytes) in [
        ("next.png", "image/png", PNG),
        ("drawing.svg", "image/svg+xml", b"<svg/>".as_slice()),
    ] {
        client
            .execute(&drop_file(name, mime, bytes), vec![])
            .await
            .unwrap();
    }
    let search = wait_for(&client, "input[type='search']").await;
    search.send_keys("table").await.unwrap();
    wait_until(
        &client,
        "document.querySelector('#attachments li') && document.querySelector('#composer-status').textContent \
         && document.querySelector('#conversations .snippet') && document.querySelector('.site-notice')",
    )
    .await;
    // The page's policy does not let it load axe; WebDriver's scripts are not the page's.
    let loaded = client
        .execute(&format!("{axe}\n;return typeof axe.run;"), vec![])
        .await
        .unwrap();
    assert_eq!(loaded, json!("function"));

    let dark_background = "getComputedStyle(document.body).backgroundColor === 'rgb(23, 23, 26)'";
    assert_eq!(
        axe_violations(&client).await,
        Vec::<String>::new(),
        "desktop"
    );
    client.set_window_size(390, 844).await.unwrap();
    wait_until(&client, "window.innerWidth <= 400").await;
    assert_eq!(axe_violations(&client).await, Vec::<String>::new(), "phone");
    driver
        .cdp(
            &client,
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
        )
        .await;
    wait_until(&client, dark_background).await;
    assert_eq!(
        axe_violations(&client).await,
        Vec::<String>::new(),
        "phone, dark"
    );
    // The phone's drawer, open.
    click_button(&client, "☰").await;
    wait_until(
        &client,
        "document.querySelector('#sidebar').getBoundingClientRect().left >= 0",
    )
    .await;
    assert_eq!(
        axe_violations(&client).await,
        Vec::<String>::new(),
        "phone, dark, drawer open"
    );
    client.set_window_size(1100, 760).await.unwrap();
    wait_until(&client, "window.innerWidth > 1000").await;
    assert_eq!(
        axe_violations(&client).await,
        Vec::<String>::new(),
        "desktop, dark"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_a_conversation_by_a_word_of_its_text() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start_with(support::without_limits(Default::default())).await;
    server
        .fake
        .push(FakeReply::text("Cats sleep most of the day."))
        .push(FakeReply::text("The platypus lays eggs."))
        .push(FakeReply::text("Parrots can talk."));
    client.goto(&server.url("/")).await.unwrap();
    for (n, question) in ["Tell me about cats", "A strange mammal?", "Birds?"]
        .into_iter()
        .enumerate()
    {
        if n > 0 {
            click_button(&client, "New chat").await;
        }
        type_and_enter(&client, question).await;
        wait_until(
            &client,
            &format!(
                "document.querySelector('#stop').hidden \
                 && document.querySelectorAll('#conversations li').length === {}",
                n + 1
            ),
        )
        .await;
    }
    // "platypus" is only in a reply's text, not in any title.
    let search = wait_for(&client, "input[type='search']").await;
    search.send_keys("PLATYPUS").await.unwrap();
    wait_until(
        &client,
        "document.querySelectorAll('#conversations li').length === 1 \
         && document.querySelector('#conversations li .title').textContent === 'A strange mammal?' \
         && document.querySelector('#conversations li .snippet').textContent.toLowerCase().includes('platypus') \
         && document.querySelector('#search-status').textContent.includes('1 conversation')",
    )
    .await;
    // Choosing it opens it.
    click(&client, Locator::Css("#conversations li .open")).await;
    wait_until(
        &client,
        "document.querySelector('.message[data-role=\"assistant\"] .body')?.textContent === 'The platypus lays eggs.'",
    )
    .await;
    // A word in no conversation: none, said so; Escape in the box shows them all again.
    let search = wait_for(&client, "input[type='search']").await;
    search.clear().await.unwrap();
    search.send_keys("zebra").await.unwrap();
    wait_until(
        &client,
        "document.querySelectorAll('#conversations li').length === 0 \
         && document.querySelector('#search-status').textContent.startsWith('No conversation')",
    )
    .await;
    search.send_keys("\u{E00C}").await.unwrap(); // Escape
    wait_until(
        &client,
        "document.querySelectorAll('#conversations li').length === 3 \
         && document.querySelector('#search').value === ''",
    )
    .await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_persists_export_downloads_and_edit_replaces_the_last_exchange() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    server
        .fake
        .push(FakeReply::text("Paris is the capital of France."))
        .push(FakeReply::text("Berlin."))
        .push(FakeReply::text("Madrid is the capital of Spain."));
    client.goto(&server.url("/")).await.unwrap();
    type_and_enter(&client, "Capital of France?").await;
    wait_until(&client, "document.querySelector('button.edit')").await;
    type_and_enter(&client, "Capital of Germany?").await;
    wait_until(
        &client,
        "document.querySelectorAll('.message[data-role=\"assistant\"]').length === 2 \
         && document.querySelector('#stop').hidden && document.querySelector('button.edit')",
    )
    .await;

    // Rename: the title in the header becomes a box; Enter saves; markup in it stays text.
    click(
        &client,
        Locator::Css("button[aria-label='Rename this conversation']"),
    )
    .await;
    let title = wait_for(&client, "#rename-input").await;
    title.clear().await.unwrap();
    title
        .send_keys("Capitals <b>of</b> Europe\u{E007}")
        .await
        .unwrap();
    wait_until(
        &client,
        "document.querySelector('#title').textContent === 'Capitals <b>of</b> Europe' \
         && !document.querySelector('#title b') \
         && document.querySelector('#conversations li .title')?.textContent === 'Capitals <b>of</b> Europe'",
    )
    .await;
    client.refresh().await.unwrap();
    wait_until(
        &client,
        "document.querySelector('#title').textContent === 'Capitals <b>of</b> Europe' \
         && document.querySelector('#conversations li .title')?.textContent === 'Capitals <b>of</b> Europe'",
    )
    .await;

    // Export: the two links answer with the conversation, as downloads of the right type.
    let exported = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             Promise.all(['#export-markdown', '#export-json'].map(async (id) => { \
               const link = document.querySelector(id); \
               const r = await fetch(link.href); \
               return [link.hasAttribute('download'), r.status, r.headers.get('content-type'), \
                       r.headers.get('content-disposition'), await r.text()]; \
             })).then(done);",
            vec![],
        )
        .await
        .unwrap();
    let [markdown, json_export] = [&exported[0], &exported[1]];
    assert_eq!(markdown[0], json!(true), "{markdown}");
    assert_eq!(markdown[1], json!(200), "{markdown}");
    assert!(
        markdown[2].as_str().unwrap().starts_with("text/markdown"),
        "{markdown}"
    );
    assert!(
        markdown[3].as_str().unwrap().starts_with("attachment"),
        "{markdown}"
    );
    let text = markdown[4].as_str().unwrap();
    assert!(
        text.contains("Capital of Germany?") && text.contains("Berlin."),
        "{text}"
    );
    assert_eq!(json_export[1], json!(200), "{json_export}");
    assert!(
        json_export[2]
            .as_str()
            .unwrap()
            .starts_with("application/json"),
        "{json_export}"
    );
    assert!(
        json_export[3].as_str().unwrap().starts_with("attachment"),
        "{json_export}"
    );
    let saved: serde_json::Value = serde_json::from_str(json_export[4].as_str().unwrap()).unwrap();
    assert!(
        saved
            .to_string()
            .contains("Paris is the capital of France."),
        "{saved}"
    );
    // The menu opens from the keyboard too.
    client
        .execute("document.querySelector('#export summary').focus();", vec![])
        .await
        .unwrap();
    client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    wait_until(&client, "document.querySelector('#export').open").await;

    // Edit the last message: the last exchange is replaced, the first one kept as context.
    click(
        &client,
        Locator::Css("button[aria-label='Edit and send again']"),
    )
    .await;
    let edit = wait_for(&client, "form.edit textarea").await;
    edit.clear().await.unwrap();
    edit.send_keys("Capital of Spain?\u{E007}").await.unwrap();
    let after_edit = "document.querySelector('#stop').hidden \
        && [...document.querySelectorAll('.message[data-role=\"user\"] .body')].map(e => e.textContent).join('|') \
             === 'Capital of France?|Capital of Spain?' \
        && [...document.querySelectorAll('.message[data-role=\"assistant\"] .body')].map(e => e.textContent).join('|') \
             === 'Paris is the capital of France.|Madrid is the capital of Spain.'";
    wait_until(&client, after_edit).await;
    client.refresh().await.unwrap();
    wait_until(&client, after_edit).await;
    let requests = server.fake.requests();
    let last = requests.last().unwrap().messages();
    assert_eq!(
        last.iter()
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>(),
        [
            "Capital of France?",
            "Paris is the capital of France.",
            "Capital of Spain?"
        ]
    );
    client.close().await.unwrap();
}

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x05, 0x02, 0x00, 0x5f, 0xc8, 0xf1, 0xd2, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Drops a file named `name` with `bytes` (given as a JS array) on the page, as a visitor
/// dragging it from their desktop does.
fn drop_file(name: &str, mime: &str, bytes: &[u8]) -> String {
    format!(
        "const dt = new DataTransfer(); \
         dt.items.add(new File([new Uint8Array({bytes:?})], {name:?}, {{type: {mime:?}}})); \
         document.querySelector('#messages').dispatchEvent(new DragEvent('drop', {{bubbles: true, cancelable: true, dataTransfer: dt}}));"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_and_a_pdf_are_sent_and_shown_again_after_a_reload() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    server.fake.push(FakeReply::text("A red dot and a report."));
    client.goto(&server.url("/")).await.unwrap();
    wait_for(&client, "textarea").await;
    // The image through the paperclip's file chooser, the PDF dropped on the page.
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("dot.png");
    std::fs::write(&png, PNG).unwrap();
    let chooser = client.find(Locator::Css("#file")).await.unwrap();
    chooser.send_keys(png.to_str().unwrap()).await.unwrap();
    let pdf =
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    client
        .execute(&drop_file("report.pdf", "application/pdf", pdf), vec![])
        .await
        .unwrap();
    // Both wait in the composer, removable, the image as a thumbnail.
    wait_until(
        &client,
        "document.querySelectorAll('#attachments li').length === 2 \
         && document.querySelector('#attachments img')?.src.startsWith('data:image/png') \
         && document.querySelector(\"#attachments button[aria-label='Remove report.pdf']\")",
    )
    .await;
    type_and_enter(&client, "What are these?").await;
    wait_until(
        &client,
        "document.querySelector('#stop').hidden && document.querySelector('button.edit') \
         && document.querySelectorAll('#attachments li').length === 0 \
         && document.querySelector('.message[data-role=\"user\"] .files img') \
         && document.querySelector('.message[data-role=\"user\"] .files .chip')?.textContent.includes('report.pdf')",
    )
    .await;
    let request = &server.fake.requests()[0].body["messages"][0]["content"];
    let kinds: Vec<&str> = request
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b.as_object()?.keys().next().map(String::as_str))
        .collect();
    assert!(
        kinds.contains(&"image") && kinds.contains(&"document") && kinds.contains(&"text"),
        "{request}"
    );

    // After a reload the files come from the server: the image is shown (served as an image,
    // which the page's policy allows), the PDF is a link that downloads it.
    client.refresh().await.unwrap();
    wait_until(
        &client,
        "document.querySelector('.message[data-role=\"user\"] .files img')?.naturalWidth === 1 \
         && document.querySelector('.message[data-role=\"user\"] .files .chip a')?.textContent.includes('PDF')",
    )
    .await;
    let download = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             const link = document.querySelector('.message[data-role=\"user\"] .files .chip a'); \
             fetch(link.href).then(async (r) => done([link.hasAttribute('download'), r.status, \
               r.headers.get('content-disposition'), (await r.text()).slice(0, 8)]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(download[0], json!(true), "{download}");
    assert_eq!(download[1], json!(200), "{download}");
    assert!(
        download[2].as_str().unwrap().starts_with("attachment"),
        "{download}"
    );
    assert_eq!(download[3], json!("%PDF-1.4"), "{download}");
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_or_oversized_file_is_refused_with_a_message_before_sending() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    client.goto(&server.url("/")).await.unwrap();
    wait_for(&client, "textarea").await;
    let status = "document.querySelector('#composer-status').textContent";
    // An SVG (which can carry script) is no image Bedrock takes.
    client
        .execute(
            &drop_file(
                "drawing.svg",
                "image/svg+xml",
                b"<svg onload=\"alert(1)\"/>",
            ),
            vec![],
        )
        .await
        .unwrap();
    wait_until(
        &client,
        &format!(
            "{status}.includes('drawing.svg') && {status}.includes('PNG, JPEG, GIF and WebP')"
        ),
    )
    .await;
    // An image over 3.75 MB, pasted.
    client
        .execute(
            "const dt = new DataTransfer(); \
             dt.items.add(new File([new Uint8Array(3750001)], 'huge.png', {type: 'image/png'})); \
             document.querySelector('#input').dispatchEvent(new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: dt}));",
            vec![],
        )
        .await
        .unwrap();
    wait_until(
        &client,
        &format!("{status}.includes('huge.png') && {status}.includes('at most')"),
    )
    .await;
    let waiting = client
        .execute(
            "return document.querySelectorAll('#attachments li').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(waiting, json!(0), "nothing refused waits to be sent");
    assert!(server.fake.requests().is_empty(), "nothing was sent");
    client.close().await.unwrap();
}

/// The operator's MCP tools as the page shows them: each call collapsed under the reply, its
/// arguments and result inside, as it happens and again after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_show_collapsed_with_their_arguments_and_results() {
    let Some(servers) = bedrock_chat::testing::McpTestServers::find("page tool calls") else {
        return;
    };
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let config = bedrock_chat::McpConfig::from_json(
        &json!({"mcpServers": {"hostile": servers.hostile_stdio()}}).to_string(),
        |_| None,
    )
    .unwrap();
    let mcp = bedrock_chat::McpTools::connect(config).await;
    let mut server_config = bedrock_chat_server::ServerConfig::default();
    server_config.tools = Some(bedrock_chat_server::ServerTools::new(mcp.clone()));
    let server = TestServer::start_with(server_config).await;
    server
        .fake
        .push(
            FakeReply::tool_use(
                "a",
                "hostile__files_read",
                json!({"name": "<b>menu</b>.txt"}),
            )
            .tool_call("b", "hostile__fail", json!({})),
        )
        .push(FakeReply::text("The menu is read."));
    client.goto(&server.url("/")).await.unwrap();
    type_and_enter(&client, "Read the menu").await;
    wait_until(
        &client,
        "document.querySelectorAll('.tool-calls li').length === 2 \
         && !document.querySelector('.tool-calls').textContent.includes('running')",
    )
    .await;
    wait_until(&client, "document.querySelector('#stop').hidden").await;
    let summary: Vec<String> = serde_json::from_value(
        client
            .execute(
                "return [...document.querySelectorAll('.tool-calls summary')].map(s => s.textContent);",
                vec![],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary,
        ["⚙ hostile__files_read · done", "⚙ hostile__fail · failed"]
    );
    // Collapsed until opened; the file name a tool echoes stays text.
    let open = client
        .execute(
            "return [...document.querySelectorAll('.tool-calls details')].some(d => d.open);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(open, json!(false));
    click_button_css(&client, ".tool-calls summary").await;
    wait_until(
        &client,
        "document.querySelector('.tool-calls .result').textContent === 'the contents of <b>menu</b>.txt' \
         && !document.querySelector('.tool-calls b')",
    )
    .await;
    let png = client.screenshot().await.unwrap();
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("bedrock-chat-tools.png"),
        png,
    )
    .unwrap();

    // After a reload, from the conversation itself.
    client.refresh().await.unwrap();
    wait_until(
        &client,
        "document.querySelectorAll('.tool-calls li').length === 2 \
         && document.querySelector('.tool-calls li.failed')",
    )
    .await;
    mcp.shutdown().await;
}

async fn click_button_css(client: &Client, css: &str) {
    wait_for(client, css).await.click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cited_sources_are_footnotes_only_https_links_and_the_picker_picks_the_model() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let mut config = bedrock_chat_server::ServerConfig::default();
    config.allowed_models = vec!["us.anthropic.claude-haiku-4-5-20251001-v1:0".into()];
    let server = TestServer::start_with(config).await;
    let cite = |index: u32, title: &str, source: &str| {
        json!({
            "title": title,
            "source": source,
            "sourceContent": [{"text": "the quoted words"}],
            "location": {"searchResultLocation": {"searchResultIndex": index, "start": 0, "end": 1}},
        })
    };
    server.fake.push(
        FakeReply::text("From the sources: ")
            .cited(
                "Refunds take 14 days. ",
                cite(0, "refunds.md", "s3://acme/refunds.md"),
            )
            .cited(
                "Shipping takes 2. ",
                cite(1, "Shipping", "https://acme.example/shipping"),
            )
            .cited(
                "It is free. ",
                cite(
                    2,
                    "<img src=x onerror=\"window.__pwned='title'\">",
                    "javascript:window.__pwned='link'",
                ),
            ),
    );
    client.goto(&server.url("/")).await.unwrap();
    wait_until(&client, "!document.querySelector('#model-row').hidden").await;
    client
        .execute(
            "const s = document.querySelector('#model'); s.value = s.options[1].value; return s.value;",
            vec![],
        )
        .await
        .unwrap();
    type_and_enter(&client, "Refunds, shipping and price?").await;
    wait_until(
        &client,
        "document.querySelector('#stop').hidden && document.querySelectorAll('.sources li').length === 3",
    )
    .await;
    let seen = client
        .execute(
            "return [window.__pwned || null, document.querySelectorAll('#messages img').length, \
             [...document.querySelectorAll('.sources a')].map(a => a.href), \
             [...document.querySelectorAll('.sources li')].map(li => li.textContent)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen[0], json!(null), "nothing ran");
    assert_eq!(seen[1], json!(0), "no element came from a title");
    assert_eq!(
        seen[2],
        json!(["https://acme.example/shipping"]),
        "only https is a link"
    );
    let items: Vec<String> = serde_json::from_value(seen[3].clone()).unwrap();
    assert!(
        items[0].starts_with("refunds.md — s3://acme/refunds.md"),
        "{items:?}"
    );
    assert!(
        items[2].contains("<img src=x"),
        "the title shows as text: {items:?}"
    );
    assert_eq!(
        server.fake.requests()[0].model_id,
        "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    );
    // After a reload the footnotes and the conversation's model are back.
    client.refresh().await.unwrap();
    wait_until(
        &client,
        "document.querySelectorAll('.sources li').length === 3",
    )
    .await;
    wait_until(
        &client,
        "document.querySelector('#model').value === 'us.anthropic.claude-haiku-4-5-20251001-v1:0'",
    )
    .await;
    client.close().await.unwrap();
}
