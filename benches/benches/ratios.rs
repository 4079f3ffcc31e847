//! The figures in the README: the library's cost as a ratio to the bare AWS SDK doing the same
//! work, measured in alternating rounds in one run, so that a noisy machine slows both sides
//! alike. Each round times a few operations of each side, in turn first and second, and gives
//! one ratio; each figure is the median of those ratios, so a burst of load on the machine that
//! slows one round moves one ratio, not the figure.
//!
//! For a count that does not move with the machine's load at all, see `instructions`.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench ratios` (about half a minute).
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use bedrock_chat_benches::{
    assert_same_bytes, assert_same_request, client_turn, clients, history, library_batch,
    library_stream, library_turn, sdk_batch, sdk_history, sdk_stream, sdk_turn, session,
    text_bytes,
};

const ROUNDS: usize = 101;

fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Runs the two blocks in rounds of `$n` operations each (after a warm-up), the library first in
/// even rounds and the SDK first in odd ones, and prints a table row: the median time per
/// operation of each side and the median of the rounds' ratios. Each block is one operation
/// and evaluates to the time it took. (A macro rather than a function because the library side
/// borrows its session mutably in every call.)
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
            if round % 2 == 0 {
                for _ in 0..$n {
                    lib += $library;
                }
                for _ in 0..$n {
                    sdk += $sdk;
                }
            } else {
                for _ in 0..$n {
                    sdk += $sdk;
                }
                for _ in 0..$n {
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
            let past = history(messages);
            let kb = text_bytes(&past) as f64 / 1024.0;
            let sdk_past = sdk_history(&past);
            let mut s = session(&c.library, past);
            assert_same_request(&c, &mut s, &sdk_past).await;
            let (n, rounds) = if messages >= 1000 {
                (2u32, 41)
            } else {
                (5, ROUNDS)
            };
            let name = format!("one turn with {messages} messages of history ({kb:.0} KB)");
            let lib = alternate!(
                &name,
                n,
                rounds,
                library_turn(&mut s).await,
                sdk_turn(&c.sdk, &sdk_past).await
            );
            per_kb.push((messages, lib.as_secs_f64() * 1e6 / kb));
        }

        alternate!(
            "1,000 concurrent sessions, one turn each (time per batch)",
            1u32,
            41,
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
            41,
            sdk_batch(&c.sdk, 1000).await,
            sdk_batch(&c.sdk, 1000).await
        );

        println!();
        for (messages, us_per_kb) in per_kb {
            println!("history {messages:>4} messages: {us_per_kb:.1} us per KB of conversation");
        }
    });
}
