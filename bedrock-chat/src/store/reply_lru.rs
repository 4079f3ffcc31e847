//! The memory store's reply cache: entries bounded in bytes, the least recently used going
//! first, each living a TTL from when it was first asked for.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::CachedQuestion;

/// What an entry costs beyond its strings: the maps' own bookkeeping, roughly.
const ENTRY_OVERHEAD: usize = 128;

#[derive(Debug)]
struct Entry {
    /// Who asked, at most `enough + 1` of them: more would change no answer.
    askers: Vec<String>,
    reply: Option<String>,
    expires: Instant,
    used: u64,
    size: usize,
}

/// A partition's remembered questions, newest first.
#[derive(Debug)]
struct Questions {
    list: VecDeque<CachedQuestion>,
    expires: Instant,
    used: u64,
    size: usize,
}

/// What an `order` slot points at.
#[derive(Debug)]
enum Slot {
    Entry(String),
    Questions(String),
}

/// The cache itself, inside the memory store's lock of its own.
#[derive(Debug)]
pub(crate) struct ReplyLru {
    entries: HashMap<String, Entry>,
    questions: HashMap<String, Questions>,
    /// `used -> what`, least recently used first.
    order: BTreeMap<u64, Slot>,
    clock: u64,
    bytes: usize,
    max_bytes: usize,
}

impl ReplyLru {
    pub(crate) fn new(max_bytes: usize) -> Self {
        ReplyLru {
            entries: HashMap::new(),
            questions: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
            bytes: 0,
            max_bytes,
        }
    }

    /// Records that `asker` asked `key`; gives back how many others asked it (up to
    /// `enough`, or one more) and the reply kept for it.
    pub(crate) fn ask(
        &mut self,
        key: &str,
        asker: &str,
        enough: usize,
        ttl: Duration,
    ) -> (usize, Option<String>) {
        let now = Instant::now();
        if self.entries.get(key).is_some_and(|e| e.expires <= now) {
            self.remove(key);
        }
        self.clock += 1;
        let clock = self.clock;
        let is_new = !self.entries.contains_key(key);
        let entry = self
            .entries
            .entry(key.to_string())
            .or_insert_with(|| Entry {
                askers: Vec::new(),
                reply: None,
                expires: now + ttl,
                used: clock,
                size: key.len() + ENTRY_OVERHEAD,
            });
        let before = if is_new { 0 } else { entry.size };
        let known = entry.askers.iter().any(|a| a == asker);
        if !known && entry.askers.len() <= enough {
            entry.askers.push(asker.to_string());
            entry.size += asker.len();
        }
        let added = entry.size - before;
        let others = entry.askers.iter().filter(|a| *a != asker).count();
        let reply = entry.reply.clone();
        self.order.remove(&entry.used);
        entry.used = clock;
        self.order.insert(clock, Slot::Entry(key.to_string()));
        self.bytes += added;
        self.evict();
        (others, reply)
    }

    /// Keeps `reply` for `key`, unless one is kept already (the first answer stays).
    pub(crate) fn put(&mut self, key: &str, reply: &str, ttl: Duration) {
        let now = Instant::now();
        if self.entries.get(key).is_some_and(|e| e.expires <= now) {
            self.remove(key);
        }
        if !self.entries.contains_key(key) {
            self.clock += 1;
            let size = key.len() + ENTRY_OVERHEAD;
            self.entries.insert(
                key.to_string(),
                Entry {
                    askers: Vec::new(),
                    reply: None,
                    expires: now + ttl,
                    used: self.clock,
                    size,
                },
            );
            self.order.insert(self.clock, Slot::Entry(key.to_string()));
            self.bytes += size;
        }
        if let Some(entry) = self.entries.get_mut(key)
            && entry.reply.is_none()
        {
            entry.reply = Some(reply.to_string());
            entry.size += reply.len();
            self.bytes += reply.len();
        }
        self.evict();
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.used);
            self.bytes -= entry.size;
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((_, slot)) = self.order.pop_first() else {
                break;
            };
            match slot {
                Slot::Entry(key) => {
                    if let Some(entry) = self.entries.remove(&key) {
                        self.bytes -= entry.size;
                    }
                }
                Slot::Questions(partition) => {
                    if let Some(questions) = self.questions.remove(&partition) {
                        self.bytes -= questions.size;
                    }
                }
            }
        }
    }

    /// Remembers a question of `partition`, keeping its newest `most`.
    pub(crate) fn add_question(
        &mut self,
        partition: &str,
        question: CachedQuestion,
        most: usize,
        ttl: Duration,
    ) {
        let now = Instant::now();
        if self
            .questions
            .get(partition)
            .is_some_and(|q| q.expires <= now)
            && let Some(old) = self.questions.remove(partition)
        {
            self.order.remove(&old.used);
            self.bytes -= old.size;
        }
        self.clock += 1;
        let clock = self.clock;
        let questions = self
            .questions
            .entry(partition.to_string())
            .or_insert_with(|| Questions {
                list: VecDeque::new(),
                expires: now + ttl,
                used: clock,
                size: partition.len() + ENTRY_OVERHEAD,
            });
        let before = if questions.used == clock && questions.list.is_empty() {
            0
        } else {
            questions.size
        };
        questions.size += question_size(&question);
        questions.list.push_front(question);
        while questions.list.len() > most.max(1) {
            if let Some(dropped) = questions.list.pop_back() {
                questions.size -= question_size(&dropped);
            }
        }
        self.order.remove(&questions.used);
        questions.used = clock;
        self.order
            .insert(clock, Slot::Questions(partition.to_string()));
        self.bytes = self.bytes + questions.size - before;
        self.evict();
    }

    /// How many replies are kept and not yet expired.
    pub(crate) fn reply_count(&self) -> u64 {
        let now = Instant::now();
        self.entries
            .values()
            .filter(|entry| entry.reply.is_some() && entry.expires > now)
            .count() as u64
    }

    /// The questions remembered in `partition`, newest first.
    pub(crate) fn questions(&mut self, partition: &str) -> Vec<CachedQuestion> {
        let now = Instant::now();
        match self.questions.get(partition) {
            Some(questions) if questions.expires > now => questions.list.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

fn question_size(question: &CachedQuestion) -> usize {
    question.key.len() + question.embedding.len() * 4 + 32
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn askers_are_counted_once_each_and_others_only() {
        let mut lru = ReplyLru::new(1 << 20);
        assert_eq!(lru.ask("k", "a", 2, DAY), (0, None));
        assert_eq!(
            lru.ask("k", "a", 2, DAY),
            (0, None),
            "asking twice counts once"
        );
        lru.put("k", "answer", DAY);
        assert_eq!(lru.ask("k", "b", 2, DAY), (1, Some("answer".into())));
        assert_eq!(lru.ask("k", "c", 2, DAY).0, 2);
        assert_eq!(lru.ask("k", "a", 2, DAY).0, 2);
        lru.put("k", "another", DAY);
        assert_eq!(lru.ask("k", "d", 2, DAY).1.as_deref(), Some("answer"));
    }

    #[test]
    fn the_least_recently_used_goes_first_and_bytes_add_up() {
        let reply = "x".repeat(1000);
        let mut lru = ReplyLru::new(3 * (1000 + 1 + ENTRY_OVERHEAD + 1));
        for key in ["1", "2", "3"] {
            lru.ask(key, "a", 2, DAY);
            lru.put(key, &reply, DAY);
        }
        lru.ask("1", "b", 2, DAY);
        lru.ask("4", "a", 2, DAY);
        lru.put("4", &reply, DAY);
        assert!(lru.entries.contains_key("1"), "used recently");
        assert!(
            !lru.entries.contains_key("2"),
            "the least recently used went"
        );
        let sum: usize = lru.entries.values().map(|e| e.size).sum();
        assert_eq!(lru.bytes(), sum);
        assert!(lru.bytes() <= lru.max_bytes);
    }

    #[test]
    fn a_partition_keeps_its_newest_questions_within_the_bound() {
        let mut lru = ReplyLru::new(1 << 20);
        for n in 0..5 {
            let question = CachedQuestion {
                key: format!("k{n}"),
                embedding: vec![n as f32; 8],
            };
            lru.add_question("p", question, 3, DAY);
        }
        let keys: Vec<String> = lru.questions("p").into_iter().map(|q| q.key).collect();
        assert_eq!(keys, ["k4", "k3", "k2"]);
        assert!(lru.questions("other").is_empty());
        let sum: usize = lru.questions.values().map(|q| q.size).sum();
        assert_eq!(lru.bytes(), sum);
    }

    #[test]
    fn an_entry_lives_its_ttl_from_first_ask() {
        let mut lru = ReplyLru::new(1 << 20);
        lru.ask("k", "a", 2, Duration::ZERO);
        lru.put("k", "answer", Duration::ZERO);
        assert_eq!(lru.ask("k", "b", 2, DAY), (0, None));
    }
}
