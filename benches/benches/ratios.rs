//! The figures in the README: the library's cost as a ratio to the bare AWS SDK doing the same
//! work, measured in alternating rounds in one run, so that a noisy machine slows both sides
//! alike. Each round times a few operations of each side, taking turns operation by operation,
//! and gives one ratio; each figure is the median of those ratios, so a burst of load on the
//! machine that slows one round moves one ratio, not the figure.
//!
//! For a count that does not move with the machine's load at all, see `instructions`.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench ratios` (about two minutes).
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use bedrock_chat_benches::{
    assert_same_bytes, assert_same_request, client_turn, clients, history, library_batch,
    library_stream, library_turn, sdk_batch, sdk_history, sdk_stream, sdk_turn, session,
    text_bytes,
};

/// Rounds of the rows of single turns. The median of the rounds' ratios moves between runs by
/// about its spread over the square root of the rounds: with 101 rounds, some rows moved by
/// ±1% from run to run on this machine, which is as much as the difference being measured.
const ROUNDS: usize = 301;

/// Copies of each side's history in the rows with one (see there).
const HISTORY_COPIES: usize = 4;

/// Rounds of the batches of 1,000 turns, whose operations are long.
const LONG_ROUNDS: usize = 101;

fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Runs the two blocks in rounds of `$n` pairs of operations (after a warm-up) and prints a table
/// row: the median time per operation of each side and the median of the rounds' ratios. Within
/// a round the two sides take turns operation by operation, each going first in every other
/// pair, so that a change in the machine's speed during a round (another process, the CPU's
/// clock) falls on both sides alike rather than on whichever ran in that stretch. Each block is
/// one operation and evaluates to the time it took. (A macro rather than a function because the
/// library side borrows its session mutably in every call.)
macro_rules! alternate {
    ($name:expr, $n:expr, $rounds:expr, $library:expr, $sdk:expr) => {{
        for _ in 0..($n).min(20) {
            let _ = $library;
            let _ = $sdk;
        }
        let mut lib_rounds = Vec::new();
        let mut sdk_rounds = Vec::new();
        let mut ratios = Vec::new();
        for round in 0..$rounds {
            let (mut lib, mut sdk) = (Duration::ZERO, Duration::ZERO);
            for pair in 0..$n {
                if (round + pair as usize) % 2 == 0 {
                    lib += $library;
                    sdk += $sdk;
                } else {
                    sdk += $sdk;
                    lib += $library;
                }
            }
            lib_rounds.push(lib / $n);
            sdk_rounds.push(sdk / $n);
            ratios.push(lib.as_secs_f64() / sdk.as_secs_f64());
        }
        let (lib, sdk) = (median(lib_rounds), median(sdk_rounds));
        println!(
            "| {} | {lib:.1?} | {sdk:.1?} | {:.3}x |",
            $name,
            median(ratios)
        );
        lib
    }};
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = clients().await;
        println!("| scenario | library | bare SDK | ratio |");
        println!("|---|---|---|---|");

        let mut s = session(&c.library, Vec::new());
        assert_same_request(&c, &mut s, &[]).await;
        alternate!(
            "one turn, whole reply (Converse)",
            10u32,
            ROUNDS,
            library_turn(&mut s).await,
            sdk_turn(&c.sdk, &[]).await
        );
        // The client alone, without a session: how much of the row above is the client's and
        // how much the session's.
        assert_same_bytes(
            &c,
            async || {
                client_turn(&c.library).await;
            },
            &[],
        )
        .await;
        alternate!(
            "layer: the library's BedrockClient alone, no session (Converse)",
            10u32,
            ROUNDS,
            client_turn(&c.library).await,
            sdk_turn(&c.sdk, &[]).await
        );
        for (name, to_end) in [
            ("streamed turn, to the first text", false),
            ("streamed turn, to the end of the stream", true),
        ] {
            alternate!(
                name,
                10u32,
                ROUNDS,
                library_stream(&mut s, to_end).await,
                sdk_stream(&c.sdk, to_end).await
            );
        }

        let mut per_kb = Vec::new();
        for messages in [10, 100, 1000] {
            let kb = text_bytes(&history(messages)) as f64 / 1024.0;
            // Several copies of the history on each side, each built on its own and allocated in
            // turn with the other side's, and the turns go through them in rotation. How fast a
            // long history is read depends on where its allocations landed (one copy of the
            // 1,000-message history took 5.5 ms a turn and another 6.1 ms in the same process),
            // so with one copy a side a whole run's ratio carried that luck, which no median over
            // its rounds could remove.
            let mut sessions = Vec::new();
            let mut sdk_pasts = Vec::new();
            for _ in 0..HISTORY_COPIES {
                let past = history(messages);
                sdk_pasts.push(sdk_history(&past));
                sessions.push(session(&c.library, past));
            }
            for (s, sdk_past) in sessions.iter_mut().zip(&sdk_pasts) {
                assert_same_request(&c, s, sdk_past).await;
            }
            let (mut next_lib, mut next_sdk) = (0, 0);
            // A 1,000-message turn takes some milliseconds: four pairs a round, not five.
            let n = if messages >= 1000 { 4u32 } else { 5 };
            let name = format!("one turn with {messages} messages of history ({kb:.0} KB)");
            let lib = alternate!(
                &name,
                n,
                ROUNDS,
                {
                    next_lib = (next_lib + 1) % HISTORY_COPIES;
                    library_turn(&mut sessions[next_lib]).await
                },
                {
                    next_sdk = (next_sdk + 1) % HISTORY_COPIES;
                    sdk_turn(&c.sdk, &sdk_pasts[next_sdk]).await
                }
            );
            per_kb.push((messages, lib.as_secs_f64() * 1e6 / kb));
        }

        alternate!(
            "1,000 concurrent sessions, one turn each (time per batch)",
            1u32,
            LONG_ROUNDS,
            library_batch(&c.library, 1000).await,
            sdk_batch(&c.sdk, 1000).await
        );

        // Controls: the bare SDK against itself, measured the same way. Their distance from
        // 1.000x is this machine's noise in that measurement; a library row within it of
        // another run's is no different.
        alternate!(
            "control: one turn, bare SDK against itself",
            10u32,
            ROUNDS,
            sdk_turn(&c.sdk, &[]).await,
            sdk_turn(&c.sdk, &[]).await
        );
        alternate!(
            "control: 1,000 concurrent, bare SDK against itself",
            1u32,
            LONG_ROUNDS,
            sdk_batch(&c.sdk, 1000).await,
            sdk_batch(&c.sdk, 1000).await
        );

        println!();
        for (messages, us_per_kb) in per_kb {
            println!("history {messages:>4} messages: {us_per_kb:.1} us per KB of conversation");
        }
    });
}
