//! The library's cost against the bare AWS SDK in CPU instructions, counted by Valgrind's
//! callgrind: unlike the timings of `ratios`, the counts do not move with the load on the
//! machine, so a difference of a percent is a real one.
//!
//! Each scenario runs in a child process under `valgrind --tool=callgrind --cache-sim=yes`, once
//! with no operations and once with `n`, on the library and on the bare SDK; the difference
//! divided by `n` is the cost of one operation, set-up excluded. Both sides include the fake
//! Bedrock's own work, which is the same for both. Besides instructions, each row gives
//! callgrind's estimate of cycles from its cache simulation (see [`Counts::estimated_cycles`]),
//! which follows the timings of `ratios` more closely.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench instructions` (needs Debian's `valgrind`;
//! about a minute and a half).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use bedrock_chat_benches::{
    clients_with_connect_timeout, history, library_batch, library_stream, library_turn, sdk_batch,
    sdk_history, sdk_stream, sdk_turn, session,
};

/// The child's instructions: which scenario, which side, how many operations.
const CHILD: &str = "BEDROCK_CHAT_INSTRUCTIONS_CHILD";

/// (name, scenario, operations counted).
const SCENARIOS: [(&str, &str, u32); 5] = [
    ("one turn, whole reply", "whole", 200),
    ("streamed turn, to the end of the stream", "stream", 200),
    ("one turn with 100 messages of history", "history100", 40),
    ("one turn with 1000 messages of history", "history1000", 8),
    (
        "1,000 concurrent sessions, one turn each (per turn)",
        "batch",
        1,
    ),
];

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is needed: sudo apt-get install valgrind");
        std::process::exit(1);
    }
    let me = std::env::current_exe().unwrap();
    let count = |scenario: &str, side: &str, n: u32| -> Counts {
        let output = Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--cache-sim=yes",
                "--callgrind-out-file=/dev/null",
            ])
            .arg(&me)
            .env(CHILD, format!("{scenario}:{side}:{n}"))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{log}");
        Counts::read(&log)
    };
    println!(
        "| scenario | library | bare SDK | ratio | estimated cycles: library | bare SDK | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, scenario, n) in SCENARIOS {
        let per_op = |side: &str| {
            let (none, some) = (count(scenario, side, 0), count(scenario, side, n));
            let turns = f64::from(if scenario == "batch" { 1000 } else { n });
            (
                (some.instructions - none.instructions) as f64 / turns,
                (some.estimated_cycles() - none.estimated_cycles()) as f64 / turns,
            )
        };
        let ((library, library_cycles), (sdk, sdk_cycles)) = (per_op("library"), per_op("sdk"));
        println!(
            "| {name} | {:.0}k | {:.0}k | {:.3}x | {:.0}k | {:.0}k | {:.3}x |",
            library / 1000.0,
            sdk / 1000.0,
            library / sdk,
            library_cycles / 1000.0,
            sdk_cycles / 1000.0,
            library_cycles / sdk_cycles
        );
    }
}

/// What callgrind counted in one run.
struct Counts {
    instructions: u64,
    /// Instruction and data reads and writes that missed the first-level caches.
    l1_misses: u64,
    /// Those that missed the last-level cache too.
    ll_misses: u64,
}

impl Counts {
    /// Reads callgrind's summary (`I   refs:`, `I1  misses:`, `D1  misses:`, `LL misses:`).
    fn read(log: &str) -> Counts {
        let field = |name: &str| -> u64 {
            log.lines()
                .find_map(|line| {
                    let (_, rest) = line.split_once(name)?;
                    rest.split_whitespace()
                        .next()?
                        .replace(',', "")
                        .parse()
                        .ok()
                })
                .unwrap_or_else(|| panic!("no `{name}` in\n{log}"))
        };
        Counts {
            instructions: field("I   refs:"),
            l1_misses: field("I1  misses:") + field("D1  misses:"),
            ll_misses: field("LL misses:"),
        }
    }

    /// Callgrind's own estimate of cycles: an instruction each, 10 for a first-level miss,
    /// 100 for a last-level one. It tracks time better than instructions alone, because the
    /// library's extra code and data also cost cache misses, its own and the SDK's.
    fn estimated_cycles(&self) -> u64 {
        self.instructions + 10 * self.l1_misses + 100 * self.ll_misses
    }
}

/// Runs `n` operations of one scenario on one side, after the same set-up on both.
fn child(spec: &str) {
    let mut parts = spec.split(':');
    let (scenario, side, n) = (
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
        parts.next().unwrap().parse::<u32>().unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Valgrind is slow enough that a thousand connections at once can outlast the default
        // connect timeout; the timeout changes nothing that is counted.
        let c = clients_with_connect_timeout(std::time::Duration::from_secs(300)).await;
        let messages = match scenario.as_str() {
            "history100" => 100,
            "history1000" => 1000,
            _ => 0,
        };
        let past = history(messages);
        let sdk_past = sdk_history(&past);
        let mut s = session(&c.library, past);
        let library = side == "library";
        for _ in 0..n {
            match (scenario.as_str(), library) {
                ("stream", true) => drop(library_stream(&mut s, true).await),
                ("stream", false) => drop(sdk_stream(&c.sdk, true).await),
                ("batch", true) => drop(library_batch(&c.library, 1000).await),
                ("batch", false) => drop(sdk_batch(&c.sdk, 1000).await),
                (_, true) => drop(library_turn(&mut s).await),
                (_, false) => drop(sdk_turn(&c.sdk, &sdk_past).await),
            }
        }
    });
}
