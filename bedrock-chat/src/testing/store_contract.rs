//! The contract every [`ConversationStore`] keeps, as one test suite to run against each
//! implementation (the memory store here, Redis in a server's tests), so they cannot drift.
//!
//! It is an assertion suite: it panics, with what broke, exactly as a test would.
#![allow(clippy::expect_used)]

use std::time::Duration;

use crate::session::{ChatSession, SavedConversation};
use crate::store::{ConversationStore, StoreError};
use crate::testing::ScriptedClient;

/// A conversation of one exchange whose first message is `question`.
///
/// # Panics
///
/// Never, for a non-empty `question` without control characters.
pub async fn sample_conversation(question: &str) -> SavedConversation {
    let client = ScriptedClient::new().with_text("an answer");
    let mut session = ChatSession::builder(client)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    session
        .send(question)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    session.snapshot()
}

/// Runs the contract against `store`: owners are isolated (404, never another's data), saves are
/// compare-and-set on the version, deletes are final, leases are exclusive and only their holder
/// renews or releases them. Panics with what broke.
///
/// The store must start empty for the owners `alice` and `mallory`.
///
/// # Panics
///
/// When the store breaks the contract, naming what broke.
pub async fn store_contract(store: &dyn ConversationStore) {
    let alice = "alice";
    let mallory = "mallory";
    let first = sample_conversation("What is the capital of France?").await;

    // Create and load.
    let created = store.create(alice, first.clone()).await.expect("create");
    assert_eq!(created.version, 1);
    assert_eq!(created.title, "What is the capital of France?");
    assert_eq!(created.id.len(), 32, "ids are 128 random bits in hex");
    let loaded = store.load(alice, &created.id).await.expect("load");
    assert_eq!(loaded.conversation, first);
    assert_eq!(loaded.version, 1);

    // Another owner sees nothing and changes nothing.
    assert!(matches!(
        store.load(mallory, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.save(mallory, &created.id, 1, first.clone()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete(mallory, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .lease(mallory, &created.id, Duration::from_secs(30))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.list(mallory).await.expect("list").is_empty());

    // Compare-and-set.
    let second = sample_conversation("And of Spain?").await;
    let version = store
        .save(alice, &created.id, 1, second.clone())
        .await
        .expect("save at the loaded version");
    assert_eq!(version, 2);
    assert!(matches!(
        store.save(alice, &created.id, 1, first.clone()).await,
        Err(StoreError::Conflict)
    ));
    let loaded = store.load(alice, &created.id).await.expect("load");
    assert_eq!(
        loaded.conversation, second,
        "the losing save changed nothing"
    );
    assert_eq!(loaded.title, "And of Spain?");

    // The list.
    let other = store.create(alice, first.clone()).await.expect("create");
    let list = store.list(alice).await.expect("list");
    let mut ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![created.id.as_str(), other.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(list.windows(2).all(|w| w[0].updated >= w[1].updated));

    // Leases.
    let ttl = Duration::from_secs(30);
    let lease = store.lease(alice, &created.id, ttl).await.expect("lease");
    assert!(matches!(
        store.lease(alice, &created.id, ttl).await,
        Err(StoreError::Busy)
    ));
    store
        .lease(alice, &other.id, ttl)
        .await
        .expect("leases are per conversation");
    store.renew(&lease, ttl).await.expect("the holder renews");
    let mut forged = lease.clone();
    forged.token = "not-the-token".to_string();
    assert!(matches!(
        store.renew(&forged, ttl).await,
        Err(StoreError::Busy)
    ));
    store
        .release(&forged)
        .await
        .expect("a wrong release is a no-op");
    assert!(matches!(
        store.lease(alice, &created.id, ttl).await,
        Err(StoreError::Busy)
    ));
    store.release(&lease).await.expect("release");
    let again = store
        .lease(alice, &created.id, ttl)
        .await
        .expect("free again");
    store.release(&again).await.expect("release");

    // A turn's first and last steps: lease and load together, save and release together.
    let (lease, stored) = store
        .lease_and_load(alice, &created.id, ttl)
        .await
        .expect("lease and load");
    assert_eq!((stored.version, &stored.conversation), (2, &second));
    assert!(matches!(
        store.lease_and_load(alice, &created.id, ttl).await,
        Err(StoreError::Busy)
    ));
    assert!(matches!(
        store.lease(alice, &created.id, ttl).await,
        Err(StoreError::Busy)
    ));
    assert!(matches!(
        store.lease_and_load(mallory, &created.id, ttl).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .lease_and_load(alice, "no-such-conversation", ttl)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_and_release(&lease, alice, 1, first.clone())
            .await,
        Err(StoreError::Conflict)
    ));
    let (lease, stored) = store
        .lease_and_load(alice, &created.id, ttl)
        .await
        .expect("a losing save still gives the lease back");
    assert_eq!(
        stored.conversation, second,
        "the losing save changed nothing"
    );
    let version = store
        .save_and_release(&lease, alice, stored.version, first.clone())
        .await
        .expect("save and release");
    assert_eq!(version, 3);
    let (lease, stored) = store
        .lease_and_load(alice, &created.id, ttl)
        .await
        .expect("released after saving");
    assert_eq!((stored.version, &stored.conversation), (3, &first));
    store.release(&lease).await.expect("release");

    // Delete.
    store.delete(alice, &created.id).await.expect("delete");
    assert!(matches!(
        store.load(alice, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete(alice, &created.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list(alice).await.expect("list").len(), 1);
    store.ping().await.expect("ping");

    // An endless lease is cut to `LONGEST_TTL`: taken, renewed and released, never a panic or
    // an expiry the store refuses.
    let endless = store.create(alice, first.clone()).await.expect("create");
    let lease = store
        .lease(alice, &endless.id, Duration::MAX)
        .await
        .expect("an endless lease");
    store
        .renew(&lease, Duration::MAX)
        .await
        .expect("renewed endlessly");
    store.release(&lease).await.expect("release");
    let (lease, _) = store
        .lease_and_load(alice, &endless.id, Duration::MAX)
        .await
        .expect("an endless lease and load");
    store.release(&lease).await.expect("release");
    store.delete(alice, &endless.id).await.expect("delete");

    // Today's spending, per account.
    assert_eq!(store.spent_today("client:alice").await.expect("spent"), 0.0);
    store.add_spending("client:alice", 1.5).await.expect("add");
    store.add_spending("client:alice", 0.25).await.expect("add");
    store.add_spending("server", 0.5).await.expect("add");
    let spent = store.spent_today("client:alice").await.expect("spent");
    assert!((spent - 1.75).abs() < 1e-9, "{spent}");
    assert_eq!(
        store.spent_today("client:mallory").await.expect("spent"),
        0.0
    );
}

/// Runs the contract of the shared limits against `store`: spending reservations are all or
/// nothing and never pass a cap, rates are all or nothing and say how long to wait, slots are
/// all or nothing, given back and renewed only by their holder. Keys start with `prefix`, so one
/// store can run it more than once.
///
/// # Panics
///
/// When the store breaks the contract, naming what broke.
pub async fn limits_contract(store: &dyn ConversationStore, prefix: &str) {
    use crate::store::{Cap, Rate, Slots};
    let key = |name: &str| format!("{prefix}{name}");
    let (a, b, server) = (key("a"), key("b"), key("server"));

    // Reservations: all or nothing, never past a cap, settled by adding a (negative) delta.
    let caps = |account: &str| {
        [
            Cap {
                account: &server,
                usd: Some(1.0),
            },
            Cap {
                account,
                usd: Some(0.6),
            },
        ]
        .map(|cap| (cap.account.to_string(), cap.usd))
    };
    let reserve = |account: &str, usd: f64| {
        let caps = caps(account);
        async move {
            let caps: Vec<Cap<'_>> = caps
                .iter()
                .map(|(account, usd)| Cap { account, usd: *usd })
                .collect();
            store.reserve_spending(&caps, usd).await.expect("reserve")
        }
    };
    assert_eq!(reserve(&a, 0.5).await, None, "within both caps");
    assert_eq!(reserve(&a, 0.2).await, Some(1), "the client's cap of 0.6");
    assert!(
        (store.spent_today(&server).await.expect("spent") - 0.5).abs() < 1e-9,
        "a refused reservation adds nothing to any account"
    );
    assert_eq!(reserve(&b, 0.6).await, Some(0), "the server's cap of 1.0");
    store.add_spending(&a, -0.4).await.expect("settle");
    store.add_spending(&server, -0.4).await.expect("settle");
    assert_eq!(reserve(&b, 0.6).await, None, "settling gave room back");
    let uncapped = [Cap {
        account: &a,
        usd: None,
    }];
    assert_eq!(
        store
            .reserve_spending(&uncapped, 100.0)
            .await
            .expect("reserve"),
        None,
        "an account without a cap only counts"
    );

    // Rates: `limit` at once, then a wait; all or nothing over several keys.
    fn rate(name: &str) -> Rate<'_> {
        Rate {
            key: name,
            limit: 2,
            period: Duration::from_secs(3600),
        }
    }
    let (ra, rb) = (key("rate-a"), key("rate-b"));
    assert_eq!(store.take_rate(&[rate(&ra)]).await.expect("rate"), None);
    assert_eq!(
        store
            .take_rate(&[rate(&rb), rate(&ra)])
            .await
            .expect("rate"),
        None
    );
    let refused = store
        .take_rate(&[rate(&rb), rate(&ra)])
        .await
        .expect("rate")
        .expect("the third event of a rate of 2 is refused");
    assert_eq!(refused.0, 1, "the exhausted rate is named");
    assert!(
        refused.1 > Duration::from_secs(1700) && refused.1 <= Duration::from_secs(1800),
        "the wait is until the next event fits: {:?}",
        refused.1
    );
    assert_eq!(
        store.take_rate(&[rate(&rb)]).await.expect("rate"),
        None,
        "the refused call took nothing from the first rate"
    );

    // Slots: all or nothing, given back by their holder.
    let (sa, sall) = (key("slots-a"), key("slots-all"));
    let slots = [Slots { key: &sall, max: 2 }, Slots { key: &sa, max: 1 }];
    let ttl = Duration::from_secs(30);
    assert_eq!(
        store.acquire_slots(&slots, "t1", ttl).await.expect("slots"),
        None
    );
    assert_eq!(
        store.acquire_slots(&slots, "t2", ttl).await.expect("slots"),
        Some(1),
        "the visitor's one slot is taken"
    );
    let other = [Slots { key: &sall, max: 2 }];
    assert_eq!(
        store.acquire_slots(&other, "t3", ttl).await.expect("slots"),
        None,
        "the refused call took nothing from the shared key"
    );
    assert_eq!(
        store.acquire_slots(&other, "t4", ttl).await.expect("slots"),
        Some(0)
    );
    store
        .renew_slots(&[&sall, &sa], "t1", ttl)
        .await
        .expect("renew");
    store
        .release_slots(&[&sall, &sa], "t1")
        .await
        .expect("release");
    assert_eq!(
        store.acquire_slots(&slots, "t5", ttl).await.expect("slots"),
        None,
        "released slots are free again"
    );
    // Slots of a holder that died lapse on their own.
    let brief = [Slots {
        key: &key("slots-brief"),
        max: 1,
    }];
    assert_eq!(
        store
            .acquire_slots(&brief, "gone", Duration::from_millis(1))
            .await
            .expect("slots"),
        None
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store
            .acquire_slots(&brief, "next", ttl)
            .await
            .expect("slots"),
        None,
        "a slot not renewed lapses"
    );
}

/// Runs the reply cache's contract against `store`: askers are counted once each and only
/// others are reported, counting stops past `enough`, the first reply kept stays, and keys
/// start with `prefix`, so one store can run it more than once.
///
/// # Panics
///
/// When the store breaks the contract, naming what broke.
pub async fn reply_cache_contract(store: &dyn ConversationStore, prefix: &str) {
    let day = Duration::from_secs(86_400);
    let key = format!("{prefix}question");
    let ask = |asker: &'static str| store.ask_cached_reply(&key, asker, 2, day);
    assert_eq!(ask("a").await.expect("ask"), (0, None), "a first ask");
    assert_eq!(
        ask("a").await.expect("ask"),
        (0, None),
        "asking again counts once"
    );
    store
        .put_cached_reply(&key, "the answer", day)
        .await
        .expect("put");
    assert_eq!(
        ask("b").await.expect("ask"),
        (1, Some("the answer".to_string())),
        "another asker sees one other and the reply"
    );
    store
        .put_cached_reply(&key, "a second answer", day)
        .await
        .expect("put");
    for asker in ["c", "d", "e", "f"] {
        let (others, reply) = ask(asker).await.expect("ask");
        assert!(others >= 2, "{asker} sees enough others");
        assert_eq!(
            reply.as_deref(),
            Some("the answer"),
            "the first reply stays"
        );
    }
    let (others, _) = ask("a").await.expect("ask");
    assert!(others >= 2, "an early asker sees the later ones");
    let count = store.cached_reply_count().await.expect("count");
    assert!(
        count.is_none_or(|count| count == 1),
        "one reply kept, counted once: {count:?}"
    );
    let other_key = format!("{prefix}another question");
    assert_eq!(
        store
            .ask_cached_reply(&other_key, "a", 2, day)
            .await
            .expect("ask"),
        (0, None),
        "questions never share"
    );

    // Questions for matching by meaning: newest first, the newest `most` kept, per partition.
    let partition = format!("{prefix}partition");
    for n in 0..4 {
        store
            .add_cached_question(&partition, &format!("k{n}"), &[n as f32, 0.5], 3, day)
            .await
            .expect("add a question");
    }
    let questions = store.cached_questions(&partition).await.expect("questions");
    let keys: Vec<&str> = questions.iter().map(|q| q.key.as_str()).collect();
    assert_eq!(keys, ["k3", "k2", "k1"], "the newest three, newest first");
    assert_eq!(
        questions[0].embedding,
        [3.0, 0.5],
        "embeddings come back as they went in"
    );
    let elsewhere = store
        .cached_questions(&format!("{prefix}another partition"))
        .await
        .expect("questions");
    assert!(elsewhere.is_empty(), "partitions never share");
}
