//! The browser page's main-thread time while a long reply streams in, measured in headless
//! Chromium (Debian's `chromium` and `chromium-driver`):
//!
//! The same ~30 KB Markdown reply (headings, paragraphs, lists, code blocks, tables, quotes; some
//! code blocks and tables long) comes from the fake Bedrock through `bedrock-chat serve` to the
//! page in **3,000 chunks** (4 ms apart, as a fast model streams) and in **30 chunks** (400 ms
//! apart), so both streams last about as long. For each, Chrome's own count of the main thread's
//! busy time (CDP `Performance.getMetrics`: `TaskDuration`, and within it `ScriptDuration`,
//! `LayoutDuration`, `RecalcStyleDuration`) from sending the message to the reply's end on the
//! screen, and the main thread's CPU time (`ThreadTime`), which other programs busy on the
//! same machine disturb less than the tasks' wall-clock durations; then the same with the CPU slowed 4x (`Emulation.setCPUThrottlingRate`), as on a
//! phone. The page should cost about as much however finely the reply is cut: the goal is a
//! ratio (3,000 chunks / 30 chunks) of at most 2.
//!
//! Chromium is driven over WebDriver (ChromeDriver on a free port), CDP commands go through
//! ChromeDriver's `goog/cdp/execute`. Each measurement loads the page afresh.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench page_stream` (about five minutes; `RUNS=N`
//! for another number of runs than 5). Other work on the machine shows in the numbers: run it on
//! an idle one.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bedrock_chat::testing::{FakeBedrock, FakeReply};
use bedrock_chat::{MemoryStore, SessionSettings};
use bedrock_chat_benches::MODEL;
use bedrock_chat_server::{AppState, Limits, ServerConfig};
use serde_json::{Value, json};

/// How long each stream lasts, about: its chunks are this long apart in total.
const STREAM: Duration = Duration::from_secs(12);

/// The reply's last paragraph: once it is on the screen, so is the whole reply.
const END: &str = "End of the reply.";

/// A model's reply of at least `bytes` bytes.
fn reply(bytes: usize) -> String {
    let mut text = String::new();
    let mut n = 0;
    while text.len() < bytes {
        let long = n % 5 == 4;
        write!(
            text,
            "## Part {n}: what to know\n\n\
             This paragraph explains **point {n}** with *some emphasis*, `inline code` and a \
             [link](https://example.com/{n}). It goes on for a while, as a model's prose does, \
             wrapping over several lines of the page when it is shown.\n\
             A second line of the same paragraph, with snake_case and 2 * 3 in it.\n\n\
             - first item of {n}\n- second item, **bold**\n- third item with `code`\n\n\
             1. step one\n2. step two\n3. step three\n\n```python\n"
        )
        .unwrap();
        for line in 0..if long { 60 } else { 5 } {
            writeln!(text, "value_{line} = compute({n}, {line})  # step {line}").unwrap();
        }
        text.push_str("```\n\n| name | value | note |\n|---|---:|---|\n");
        for row in 0..if long { 40 } else { 3 } {
            writeln!(text, "| item {row} | {} | row {row} of part {n} |", n * row).unwrap();
        }
        writeln!(text, "\n> A quote about {n}.\n").unwrap();
        n += 1;
    }
    text
}

/// `text` cut into `count` pieces (at character boundaries).
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

/// ChromeDriver, stopped on drop, and one WebDriver session in it.
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    profile: std::path::PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn start() -> Browser {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install it with `sudo apt-get install chromium chromium-driver`"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile =
            std::env::temp_dir().join(format!("page-stream-bench-{}", std::process::id()));
        let http = reqwest::Client::new();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1100,760",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let deadline = Instant::now() + Duration::from_secs(20);
        let session = loop {
            match http
                .post(format!("http://127.0.0.1:{port}/session"))
                .json(&capabilities)
                .send()
                .await
            {
                Ok(response) => {
                    let body: Value = response.json().await.unwrap();
                    break body["value"]["sessionId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no session: {body}"))
                        .to_string();
                }
                Err(error) => {
                    assert!(
                        Instant::now() < deadline,
                        "ChromeDriver did not start: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let browser = Browser {
            driver,
            http,
            session: format!("http://127.0.0.1:{port}/session/{session}"),
            profile,
        };
        browser
            .command("timeouts", json!({"script": 300_000}))
            .await;
        browser
    }

    async fn command(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/{path}", self.session))
            .json(&body)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert!(
            body["value"].get("error").is_none(),
            "WebDriver {path}: {body}"
        );
        body["value"].clone()
    }

    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.command("goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    async fn run(&self, script: &str) -> Value {
        self.command("execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// Runs `script`, which calls `done(value)` (its last argument) when it is over.
    async fn run_async(&self, script: &str) -> Value {
        let script = format!("const done = arguments[arguments.length - 1]; {script}");
        self.command("execute/async", json!({"script": script, "args": []}))
            .await
    }

    async fn metrics(&self) -> Metrics {
        let value = self.cdp("Performance.getMetrics", json!({})).await;
        let get = |name: &str| {
            value["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name)
                .and_then(|m| m["value"].as_f64())
                .unwrap_or(0.0)
                * 1000.0
        };
        Metrics {
            task: get("TaskDuration"),
            thread: get("ThreadTime"),
            script: get("ScriptDuration"),
            layout: get("LayoutDuration"),
            style: get("RecalcStyleDuration"),
        }
    }
}

/// Main-thread milliseconds, as Chrome counts them.
#[derive(Clone, Copy, Default)]
struct Metrics {
    task: f64,
    thread: f64,
    script: f64,
    layout: f64,
    style: f64,
}

impl std::ops::Sub for Metrics {
    type Output = Metrics;
    fn sub(self, other: Metrics) -> Metrics {
        Metrics {
            task: self.task - other.task,
            thread: self.thread - other.thread,
            script: self.script - other.script,
            layout: self.layout - other.layout,
            style: self.style - other.style,
        }
    }
}

/// Streams `markdown` in `chunks` pieces to a freshly loaded page: the main thread's time from
/// sending the message until the whole reply is on the screen, and the stream's wall time.
async fn measure(
    browser: &Browser,
    fake: &FakeBedrock,
    base: &str,
    markdown: &str,
    chunks: usize,
    throttle: f64,
) -> (Metrics, Duration) {
    let delay = STREAM / u32::try_from(chunks).unwrap();
    fake.push(FakeReply::chunks(pieces(markdown, chunks)).chunk_delay(delay));
    browser
        .cdp("Emulation.setCPUThrottlingRate", json!({"rate": 1}))
        .await;
    // A new chat on a fresh page (the last one would otherwise be opened again); the storage is
    // cleared where the page's script does not run, so it cannot write it again meanwhile.
    browser
        .command("url", json!({"url": format!("{base}/healthz")}))
        .await;
    browser.run("localStorage.clear();").await;
    browser
        .command("url", json!({"url": format!("{base}/")}))
        .await;
    browser
        .run_async(
            "const check = () => document.readyState === 'complete' \
               && document.querySelector('#messages').childElementCount === 0 \
               ? done(true) : setTimeout(check, 50); check();",
        )
        .await;
    browser.cdp("Performance.enable", json!({})).await;
    browser
        .cdp("Emulation.setCPUThrottlingRate", json!({"rate": throttle}))
        .await;
    let before = browser.metrics().await;
    let started = Instant::now();
    // Sent as a visitor does (the composer's submit), then checked four times a second.
    let shown = browser
        .run_async(&format!(
            "document.querySelector('#input').value = 'Tell me everything, please.'; \
             document.querySelector('#composer').requestSubmit(); \
             const deadline = Date.now() + 120000; \
             const check = () => {{ \
               const body = document.querySelector('.message[data-role=\"assistant\"] .body'); \
               if (document.querySelector('#stop').hidden && body \
                   && body.lastElementChild?.textContent === '{END}') done(true); \
               else if (Date.now() > deadline) \
                 done(document.querySelector('#messages').innerText.slice(-800)); \
               else setTimeout(check, 250); \
             }}; \
             setTimeout(check, 250);"
        ))
        .await;
    assert_eq!(shown, json!(true), "the reply never ended on the screen");
    let elapsed = started.elapsed();
    let after = browser.metrics().await;
    browser.cdp("Performance.disable", json!({})).await;
    (after - before, elapsed)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let fake = FakeBedrock::start().await.expect("fake starts");
    fake.set_recording(false);
    let client = fake.client().await.expect("client builds");
    let mut settings = SessionSettings::default();
    settings.model_id = MODEL.to_string();
    let mut config = ServerConfig::default();
    config.limits = Limits::unlimited();
    let state = AppState::new(client, settings, MemoryStore::new(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(bedrock_chat_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let browser = Browser::start().await;
    let markdown = format!("{}\n{END}", reply(30_000));
    println!(
        "A {} byte reply, streamed over about {} s; main-thread ms from sending to the whole \
         reply on the screen (Chrome's TaskDuration; script, layout, style within it).",
        markdown.len(),
        STREAM.as_secs()
    );
    for throttle in [1.0, 4.0] {
        println!("\nCPU slowed {throttle}x");
        println!(
            "{:>4}  {:>7}  {:>8} {:>7} {:>7} {:>7} {:>7}  {:>6}",
            "run", "chunks", "task", "cpu", "script", "layout", "style", "wall s"
        );
        let mut ratios = Vec::new();
        let mut cpu_ratios = Vec::new();
        let mut fine_tasks = Vec::new();
        let mut coarse_tasks = Vec::new();
        for run in 1..=runs {
            let mut tasks = [0.0; 2];
            let mut cpu = [0.0; 2];
            for (k, chunks) in [3_000, 30].into_iter().enumerate() {
                let (m, wall) = measure(&browser, &fake, &base, &markdown, chunks, throttle).await;
                println!(
                    "{run:>4}  {chunks:>7}  {:>8.0} {:>7.0} {:>7.0} {:>7.0} {:>7.0}  {:>6.1}",
                    m.task,
                    m.thread,
                    m.script,
                    m.layout,
                    m.style,
                    wall.as_secs_f64()
                );
                tasks[k] = m.task;
                cpu[k] = m.thread;
            }
            cpu_ratios.push(cpu[0] / cpu[1]);
            fine_tasks.push(tasks[0]);
            coarse_tasks.push(tasks[1]);
            ratios.push(tasks[0] / tasks[1]);
        }
        let ratio = median(&mut ratios);
        // Slowed down, the main thread's CPU time counts the throttle's waits too.
        let cpu_ratio = if throttle < 1.5 {
            format!(", of CPU time {:.2}", median(&mut cpu_ratios))
        } else {
            String::new()
        };
        println!(
            "median: 3,000 chunks {:.0} ms, 30 chunks {:.0} ms; ratio {ratio:.2}{cpu_ratio} \
             (medians of the runs' ratios; goal: at most 2)",
            median(&mut fine_tasks),
            median(&mut coarse_tasks),
        );
    }
}
