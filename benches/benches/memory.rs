//! Heap held by a session, against the size of its conversation's text.
//!
//! A counting global allocator measures the bytes a `ChatSession` holds after 100 and 1,000
//! messages of realistic size; the target is at most 2x the text.
//!
//! Run: `cargo bench -p bedrock-chat-benches --bench memory`
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use bedrock_chat::{
    ChatRequest, ChatResponse, ChatSession, EventStream, Message, ModelClient, Role, StopReason,
    TokenUsage,
};
use bedrock_chat_benches::{history, text_bytes};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:>9} {:>12} {:>12} {:>7}",
        "messages", "text bytes", "heap bytes", "ratio"
    );
    for messages in [100, 1000] {
        let turns = history(messages);
        let text = text_bytes(&turns);
        // Build the session the way a real one grows: turn by turn, through `send`.
        // Everything made from here on is either held by the session at the end or freed.
        let before = LIVE.load(Ordering::Relaxed);
        let client = Replies::default();
        for message in turns.iter().filter(|m| m.role() == Role::Assistant) {
            client.0.lock().unwrap().push_back(message.text());
        }
        let questions: Vec<String> = turns
            .iter()
            .filter(|m| m.role() == Role::User)
            .map(|m| m.text())
            .collect();
        let session = runtime.block_on(async {
            let mut session = ChatSession::builder(client).build().unwrap();
            for question in questions {
                session.send(question).await.unwrap();
            }
            session
        });
        let held = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "{messages:>9} {text:>12} {held:>12} {:>6.2}x",
            held as f64 / text as f64
        );
        drop(session);
    }
}

/// Answers each turn with the next prepared reply and keeps nothing else, so that all the memory
/// measured is the session's.
#[derive(Default)]
struct Replies(Mutex<VecDeque<String>>);

#[async_trait]
impl ModelClient for Replies {
    async fn converse(&self, _request: &ChatRequest) -> bedrock_chat::Result<ChatResponse> {
        let text = self.0.lock().unwrap().pop_front().unwrap_or_default();
        Ok(ChatResponse::new(
            Message::assistant(text),
            StopReason::EndTurn,
            TokenUsage::new(1, 1),
        ))
    }

    async fn converse_stream(&self, _request: &ChatRequest) -> bedrock_chat::Result<EventStream> {
        Err(bedrock_chat::Error::InvalidInput {
            reason: "the memory benchmark sends whole turns only".to_string(),
        })
    }
}
