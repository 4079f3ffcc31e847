//! Markdown that a model can be made to write (by prompt injection, a reply is anything) must not
//! freeze the page. Each reply below is streamed in many chunks, then shown at once on a reload;
//! neither may block the page's main thread for more than 200 ms at a time (the Long Tasks API's
//! `longtask` entries), and the reply must be on the screen in full.
//!
//! Like `browser.rs`: a real headless Chromium (Debian's `chromium` and `chromium-driver`) driven
//! over WebDriver, failing in CI and skipped elsewhere when they are missing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::fmt::Write as _;
use std::time::Duration;

use bedrock_chat::testing::FakeReply;
use fantoccini::{Client, Locator};
use support::TestServer;
use support::browser::{browser, wait_for, wait_until_for as wait_until};

/// The longest the page may be busy at a time, in milliseconds.
const LONGEST_TASK_MS: f64 = 200.0;

async fn type_and_enter(client: &Client, text: &str) {
    let input = wait_for(client, "textarea[aria-label='Message']").await;
    input.send_keys(text).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap(); // Enter
}

/// Clicks the button once it is there (looked up again if the page replaced it meanwhile).
async fn click_button(client: &Client, name: &str) {
    let xpath = format!("//button[normalize-space(.)='{name}' and not(@hidden)]");
    let mut last_error = None;
    for _ in 0..20 {
        let element = client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no {name} button: {e}"));
        match element.click().await {
            Ok(()) => return,
            Err(error) => last_error = Some(error),
        }
    }
    panic!("{name} could not be clicked: {last_error:?}");
}

/// Keeps the durations of the page's long tasks in `window.__longTasks`, from now on; on a page
/// just loaded, also those since it started loading (the entries are buffered).
const OBSERVE_LONG_TASKS: &str = "window.__longTasks = []; \
     if (!window.__longTaskObserver) { \
       window.__longTaskObserver = new PerformanceObserver((list) => { \
         for (const entry of list.getEntries()) window.__longTasks.push(Math.round(entry.duration)); \
       }); \
       window.__longTaskObserver.observe({ type: 'longtask', buffered: true }); \
     } \
     return true;";

async fn observe_long_tasks(client: &Client) {
    client.execute(OBSERVE_LONG_TASKS, vec![]).await.unwrap();
}

/// The durations (ms) of the long tasks seen since `observe_long_tasks`.
async fn long_tasks(client: &Client) -> Vec<f64> {
    // An entry is queued when its task ends, but handed to the observer's callback only later:
    // `takeRecords` collects those queued and not yet handed over, so no wait is needed.
    let value = client
        .execute(
            "for (const entry of window.__longTaskObserver.takeRecords()) \
               window.__longTasks.push(Math.round(entry.duration)); \
             return window.__longTasks;",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

/// A JS expression: `expression` about `body`, the last reply's `.body`.
fn on_reply(expression: &str) -> String {
    format!(
        "(() => {{ const body = [...document.querySelectorAll('.message[data-role=\"assistant\"] .body')].pop(); \
         return Boolean(body && ({expression})); }})()"
    )
}

/// `text` in `count` chunks (or fewer), as the fake Bedrock streams them.
fn pieces(text: &str, count: usize) -> Vec<String> {
    let size = text.len().div_ceil(count).max(1);
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

/// An ordinary reply of at least `bytes` bytes: sections of headings, paragraphs with emphasis,
/// code and links, lists, quotes, code blocks and tables; and how many sections it has.
fn ordinary_reply(bytes: usize) -> (String, usize) {
    let mut text = String::new();
    let mut sections = 0;
    while text.len() < bytes {
        let n = sections;
        write!(
            text,
            "## Section {n}\n\n\
             Some text with **bold {n}**, *italic*, `code {n}` and a [link](https://example.com/{n}). \
             More words follow, with snake_case_names and 2 * 3 * 4 in them.\n\
             A second line with _emphasis_ and ``a ` tick``.\n\n\
             - item one with `x`\n- item **two**\n1. first\n2. second\n\n\
             > a quote\n> another **quote**\n\n\
             ```rust\nfn main() {{ println!(\"{{}}\", {n}); }}\n```\n\n\
             | col | val |\n|---|---:|\n| a | {n} |\n| b | 2 |\n\n---\n\n"
        )
        .unwrap();
        sections += 1;
    }
    (text, sections)
}

/// One hostile reply: its Markdown, in how many chunks it streams, and a JS expression about
/// `body` (see `on_reply`) that is true when it is shown in full.
struct Case {
    name: &'static str,
    markdown: String,
    chunks: usize,
    shown: String,
}

fn cases() -> Vec<Case> {
    const TABLE_ROWS: usize = 14_500; // 200 KB
    let (ordinary, sections) = ordinary_reply(990_000);
    let case = |name: &'static str, markdown: String, chunks: usize, shown: &str| Case {
        name,
        markdown,
        chunks,
        shown: shown.to_string(),
    };
    vec![
        case(
            "3,000 backticks after text",
            format!("Look: {}", "`".repeat(3_000)),
            100,
            "body.textContent.includes('`'.repeat(3000))",
        ),
        case(
            "3,000 backticks",
            "`".repeat(3_000),
            100,
            "body.querySelector('pre code')",
        ),
        case(
            "10,000 * around a",
            format!("{0}a{0}", "*".repeat(10_000)),
            100,
            "body.textContent.includes('*'.repeat(1000) + 'a' + '*'.repeat(1000))",
        ),
        case(
            "*a 5,000 times",
            "*a".repeat(5_000),
            100,
            "body.querySelectorAll('em').length === 2500 && body.textContent.includes('a'.repeat(5000))",
        ),
        case(
            "100,000 [",
            "[".repeat(100_000),
            100,
            "body.textContent.includes('['.repeat(100000))",
        ),
        case(
            "a 200 KB table",
            format!(
                "| one | two | three |\n|---|---|---|\n{}",
                "| a | b | c |\n".repeat(TABLE_ROWS)
            ),
            200,
            &format!(
                "body.querySelectorAll('th').length === 3 && body.querySelectorAll('td').length === {}",
                3 * TABLE_ROWS
            ),
        ),
        case(
            "10,000 _",
            format!("x {}", "_".repeat(10_000)),
            100,
            "body.textContent.includes('_'.repeat(10000))",
        ),
        case(
            "]( 20,000 times",
            "](".repeat(20_000),
            100,
            "body.textContent.includes(']('.repeat(20000))",
        ),
        case(
            "`a 10,000 times",
            "`a".repeat(10_000),
            100,
            "body.querySelectorAll('code').length === 5000 && body.textContent.includes('a'.repeat(10000))",
        ),
        case(
            "50,000 >",
            ">".repeat(50_000),
            100,
            "body.querySelector('blockquote') && body.textContent.includes('>'.repeat(40000))",
        ),
        case(
            "a 1 MB ordinary reply",
            ordinary,
            250,
            &format!(
                "body.querySelectorAll('h2').length === {sections} \
                 && body.querySelectorAll('pre code').length === {sections} \
                 && body.querySelectorAll('.table table').length === {sections} \
                 && body.querySelectorAll('a[href^=\"https://example.com/\"]').length === {sections}"
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_markdown_never_blocks_the_page_streamed_or_reloaded() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let server = TestServer::start().await;
    let cases = cases();
    for (n, case) in cases.iter().enumerate() {
        // Each reply ends with a line of its own: when that is shown, the whole reply is.
        let end = format!("End of reply {n}.");
        let markdown = format!("{}\n\n{end}", case.markdown);
        server.fake.push(
            FakeReply::chunks(pieces(&markdown, case.chunks)).chunk_delay(Duration::from_millis(2)),
        );
        if n == 0 {
            client.goto(&server.url("/")).await.unwrap();
        } else {
            click_button(&client, "New chat").await;
            wait_until(
                &client,
                "document.querySelectorAll('.message').length === 0",
                15,
            )
            .await;
        }
        let ended = on_reply(&format!(
            "body.lastElementChild?.textContent.includes('{end}')"
        ));
        let shown = on_reply(&case.shown);

        // Streamed: the reply grows on the screen chunk by chunk.
        observe_long_tasks(&client).await;
        type_and_enter(&client, &format!("Reply {n}, please.")).await;
        wait_until(
            &client,
            &format!(
                "{ended} && document.querySelector('#stop').hidden \
                 && document.querySelector('#conversations li.current')"
            ),
            30,
        )
        .await;
        let tasks = long_tasks(&client).await;
        eprintln!(
            "{}, streamed: longest task {:?} ms",
            case.name,
            tasks.iter().copied().fold(0.0, f64::max)
        );
        assert!(
            tasks.iter().all(|&ms| ms <= LONGEST_TASK_MS),
            "{}, streamed: the page was busy for {tasks:?} ms at a time",
            case.name
        );
        wait_until(&client, &shown, 5).await;

        // Reloaded: the conversation is shown at once.
        client.refresh().await.unwrap();
        observe_long_tasks(&client).await;
        wait_until(&client, &ended, 30).await;
        let tasks = long_tasks(&client).await;
        eprintln!(
            "{}, reloaded: longest task {:?} ms",
            case.name,
            tasks.iter().copied().fold(0.0, f64::max)
        );
        assert!(
            tasks.iter().all(|&ms| ms <= LONGEST_TASK_MS),
            "{}, reloaded: the page was busy for {tasks:?} ms at a time",
            case.name
        );
        wait_until(&client, &shown, 5).await;
    }
    client.close().await.unwrap();
}
