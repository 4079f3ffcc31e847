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
    let server = TestServer::start().await;
    server.fake.push(FakeReply::text(
        "## A heading\n\nSome **bold**, *italic*, `code` and a [link](https://example.com).\n\n\
         | city | people |\n|---|---:|\n| Paris | 2.1 M |\n\n```rust\nfn main() {}\n```\n\n\
         - one\n- two\n\n> a quote with `code`",
    ));
    client.goto(&server.url("/")).await.unwrap();
    type_and_enter(&client, "A table and some code, please").await;
    wait_until(
        &client,
        "document.querySelector('#stop').hidden \
         && document.querySelector('.message[data-role=\"assistant\"] table td') \
         && document.querySelector('.message[data-role=\"assistant\"] pre code') \
         && document.querySelector('button.regenerate')",
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
