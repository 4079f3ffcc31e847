//! The conversation store contract on the memory store, and what only the memory store does:
//! expiry on its own clock, and its bounds.

use std::time::Duration;

use bedrock_chat::testing::{
    limits_contract, reply_cache_contract, sample_conversation, store_contract,
};
use bedrock_chat::{ConversationStore, MemoryStore, StoreError};

#[tokio::test]
async fn the_memory_store_keeps_the_store_contract() {
    store_contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_limits_contract() {
    limits_contract(&MemoryStore::new(), "").await;
    reply_cache_contract(&MemoryStore::new(), "").await;
}

/// The attack of issue 26: a new owner per cycle, each making a conversation, filling it, and
/// making another (which evicts the first, at one conversation per owner). The evicted
/// conversations' bytes used to stay counted, so the store soon refused everyone as "full"
/// while holding almost nothing.
#[tokio::test]
async fn evicting_an_owners_oldest_conversation_gives_its_bytes_back() {
    let big = sample_conversation(&"x".repeat(400 * 1024)).await;
    let small = sample_conversation("hello").await;
    let store = MemoryStore::builder()
        .max_per_owner(1)
        .max_total_bytes(8 * 1024 * 1024)
        .build();
    for owner in 0..200 {
        let owner = format!("owner-{owner}");
        let first = store.create(&owner, small.clone()).await.unwrap();
        store.save(&owner, &first.id, 1, big.clone()).await.unwrap();
        let _lease = store
            .lease(&owner, &first.id, Duration::from_secs(30))
            .await
            .unwrap();
        store
            .create(&owner, small.clone())
            .await
            .unwrap_or_else(|e| panic!("cycle of {owner}: {e}"));
    }
    assert_eq!(store.len(), 200, "one conversation per owner");
    assert!(
        store.bytes() < 200 * 2 * small.to_json().len(),
        "only the small conversations are counted: {} bytes",
        store.bytes()
    );
    store.create("visitor", small).await.unwrap();
}

/// A keep-forever TTL or lease (`Duration::MAX`) is cut to a hundred years, not a panic when
/// the expiry is computed.
#[tokio::test]
async fn an_endless_ttl_or_lease_is_kept_a_century_not_a_panic() {
    let store = MemoryStore::builder().ttl(Duration::MAX).build();
    let created = store
        .create("a", sample_conversation("hello").await)
        .await
        .unwrap();
    let lease = store.lease("a", &created.id, Duration::MAX).await.unwrap();
    store.renew(&lease, Duration::MAX).await.unwrap();
    assert!(matches!(
        store.lease("a", &created.id, Duration::MAX).await,
        Err(StoreError::Busy)
    ));
    store.release(&lease).await.unwrap();
    store.load("a", &created.id).await.unwrap();
}

/// Found by attacking the server: empty conversations cost nothing to make, and reading them
/// kept them for the TTL, so they could fill the store. An empty one lives an hour from its
/// making, however often it is read; its first save gives it the whole TTL.
#[tokio::test(start_paused = true)]
async fn an_empty_conversation_lives_an_hour_unless_something_is_said_in_it() {
    let store = MemoryStore::new();
    let empty = bedrock_chat::ChatSession::builder(bedrock_chat::testing::ScriptedClient::new())
        .build()
        .unwrap()
        .snapshot();
    let idle = store.create("a", empty.clone()).await.unwrap();
    let used = store.create("a", empty).await.unwrap();
    for _ in 0..5 {
        tokio::time::advance(Duration::from_secs(10 * 60)).await;
        store.load("a", &idle.id).await.unwrap();
    }
    store
        .save("a", &used.id, 1, sample_conversation("hello").await)
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(11 * 60)).await;
    assert!(
        matches!(store.load("a", &idle.id).await, Err(StoreError::NotFound)),
        "an empty conversation is gone an hour after it was made, read or not"
    );
    tokio::time::advance(Duration::from_secs(20 * 3600)).await;
    store.load("a", &used.id).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn conversations_and_leases_expire_and_use_refreshes_them() {
    let store = MemoryStore::builder().ttl(Duration::from_secs(60)).build();
    let conversation = sample_conversation("hello").await;
    let kept = store.create("a", conversation.clone()).await.unwrap();
    let dropped = store.create("a", conversation).await.unwrap();
    tokio::time::advance(Duration::from_secs(40)).await;
    store.load("a", &kept.id).await.unwrap(); // used: 60 s more
    tokio::time::advance(Duration::from_secs(40)).await;
    assert!(store.load("a", &kept.id).await.is_ok());
    assert!(matches!(
        store.load("a", &dropped.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list("a").await.unwrap().len(), 1);

    // A lease whose holder died frees the conversation on its own.
    let _lost = store
        .lease("a", &kept.id, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(matches!(
        store.lease("a", &kept.id, Duration::from_secs(30)).await,
        Err(StoreError::Busy)
    ));
    tokio::time::advance(Duration::from_secs(31)).await;
    store
        .lease("a", &kept.id, Duration::from_secs(30))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_memory_store_is_bounded_per_owner_per_conversation_and_in_total() {
    let conversation = sample_conversation("hello").await;
    let size = conversation.to_json().len();

    let store = MemoryStore::builder().max_per_owner(2).build();
    let first = store.create("a", conversation.clone()).await.unwrap();
    store.create("a", conversation.clone()).await.unwrap();
    store.create("a", conversation.clone()).await.unwrap();
    assert_eq!(store.list("a").await.unwrap().len(), 2, "the oldest went");
    assert!(
        store.load("a", &first.id).await.is_err()
            || store
                .list("a")
                .await
                .unwrap()
                .iter()
                .any(|c| c.id == first.id)
    );
    store.create("b", conversation.clone()).await.unwrap();
    assert_eq!(
        store.list("b").await.unwrap().len(),
        1,
        "owners are bounded apart"
    );

    let store = MemoryStore::builder().max_bytes(size - 1).build();
    assert!(matches!(
        store.create("a", conversation.clone()).await,
        Err(StoreError::TooLarge { .. })
    ));

    let store = MemoryStore::builder().max_total_bytes(size * 2).build();
    store.create("a", conversation.clone()).await.unwrap();
    store.create("b", conversation.clone()).await.unwrap();
    let error = store.create("c", conversation).await.unwrap_err();
    assert!(matches!(error, StoreError::Full { .. }), "{error}");
    assert_eq!(store.len(), 2);
}

mod on_redis {
    use std::time::Duration;

    use bedrock_chat::testing::{
        limits_contract, reply_cache_contract, sample_conversation, store_contract,
    };
    use bedrock_chat::{ConversationStore, RedisStore, StoreError};

    use bedrock_chat::testing::RedisServer;

    fn store(server: &RedisServer, ttl: Duration) -> RedisStore {
        RedisStore::builder(server.url())
            .prefix("test")
            .ttl(ttl)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn the_redis_store_keeps_the_store_contract() {
        let Some(server) = RedisServer::start().await else {
            return;
        };
        store_contract(&store(&server, Duration::from_secs(60))).await;
    }

    #[tokio::test]
    async fn the_redis_store_keeps_the_limits_contract() {
        let Some(server) = RedisServer::start().await else {
            return;
        };
        limits_contract(&store(&server, Duration::from_secs(60)), "").await;
        reply_cache_contract(&store(&server, Duration::from_secs(60)), "").await;
    }

    /// Two instances on one Redis share one bound: the deployment's conversations, whoever
    /// creates them, and deleting one makes room.
    #[tokio::test]
    async fn the_deployment_wide_bound_holds_across_instances() {
        let Some(server) = RedisServer::start().await else {
            return;
        };
        let instance = || {
            RedisStore::builder(server.url())
                .prefix("bound")
                .max_conversations(3)
                .build()
                .unwrap()
        };
        let (one, two) = (instance(), instance());
        let conversation = sample_conversation("hello").await;
        let first = one.create("a", conversation.clone()).await.unwrap();
        two.create("b", conversation.clone()).await.unwrap();
        one.create("c", conversation.clone()).await.unwrap();
        let error = two.create("d", conversation.clone()).await.unwrap_err();
        assert!(matches!(error, StoreError::Full { .. }), "{error}");
        one.delete("a", &first.id).await.unwrap();
        two.create("d", conversation).await.unwrap();
    }

    #[tokio::test]
    async fn a_redis_cluster_keeps_the_store_contract_with_conversations_on_every_node() {
        use bedrock_chat::testing::RedisCluster;
        let Some(cluster) = RedisCluster::start().await else {
            return;
        };
        let store = RedisStore::builder(cluster.url())
            .prefix("test")
            .ttl(Duration::from_secs(60))
            .build()
            .unwrap();
        store_contract(&store).await;
        limits_contract(&store, "cluster-").await;
        reply_cache_contract(&store, "cluster-").await;

        // Enough conversations that each node holds some: every operation, on every slot.
        let mut ids = Vec::new();
        for n in 0..24 {
            let stored = store
                .create("owner", sample_conversation(&format!("chat {n}")).await)
                .await
                .unwrap();
            let lease = store
                .lease("owner", &stored.id, Duration::from_secs(5))
                .await
                .unwrap();
            store
                .save(
                    "owner",
                    &stored.id,
                    stored.version,
                    stored.conversation.clone(),
                )
                .await
                .unwrap();
            store.release(&lease).await.unwrap();
            ids.push(stored.id);
        }
        assert_eq!(store.list("owner").await.unwrap().len(), 24);
        for port in cluster.ports() {
            let output = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "dbsize"])
                .output()
                .unwrap();
            let keys: u64 = String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse()
                .unwrap();
            assert!(
                keys > 0,
                "node {port} holds no keys: the slots were not spread"
            );
        }
        store.delete("owner", &ids[0]).await.unwrap();
        assert_eq!(store.list("owner").await.unwrap().len(), 23);
        store.add_spending("owner", 0.25).await.unwrap();
        assert!((store.spent_today("owner").await.unwrap() - 0.25).abs() < 1e-9);
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn redis_keys_expire_and_a_dead_holders_lease_frees_itself() {
        let Some(server) = RedisServer::start().await else {
            return;
        };
        let store = store(&server, Duration::from_millis(300));
        let stored = store
            .create("a", sample_conversation("hello").await)
            .await
            .unwrap();
        let _lost = store
            .lease("a", &stored.id, Duration::from_millis(100))
            .await
            .unwrap();
        // Wait, within a bound, for Redis to expire the lease, then the conversation.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match store.lease("a", &stored.id, Duration::from_secs(30)).await {
                Ok(_) => break,
                Err(StoreError::Busy) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!("the lease never expired: {other:?}"),
            }
        }
        // Listing does not count as use (loading would refresh the expiry).
        while !store.list("a").await.unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the conversation never expired"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(matches!(
            store.load("a", &stored.id).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn redis_down_is_reported_and_the_store_recovers_without_a_restart() {
        let Some(mut server) = RedisServer::start().await else {
            return;
        };
        let store = store(&server, Duration::from_secs(60));
        store.ping().await.unwrap();
        server.stop();
        let error = store.ping().await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error}");
        assert!(error.is_retryable());
        let error = store
            .create("a", sample_conversation("hi").await)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("unavailable"), "{error}");
        server.restart().await;
        // The connection comes back on its own, within a bound.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.ping().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "never reconnected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        store
            .create("a", sample_conversation("hi").await)
            .await
            .unwrap();
    }
}
