//! Redis Cluster: the same cache code on 3 primaries with a replica each, including a primary
//! killed and a slot migrated while callers keep calling. (The core semantics suite also runs
//! on a cluster: `REDISCACHE_TEST_TOPOLOGY=cluster cargo test --test semantics`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rediscache::{RedisCache, cache};
use testkit::*;

use common::*;

const TIMEOUT: Duration = Duration::from_millis(500);
/// Any one call while the cluster fails over or migrates: the timeout, plus slack.
const BOUND: Duration = Duration::from_millis(500 + 1500);

fn value(k: u64) -> u64 {
    k * 1_000_003 + 7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_hit_in_one_slot_and_stats_spread_over_the_cluster() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let cluster = Cluster::start();
    CACHE.set(cache_on(&cluster));

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn twice(x: u64) -> u64 {
        RUNS.tick();
        x * 2
    }

    for x in 0..30 {
        assert_eq!(twice(x).await, x * 2);
        assert_eq!(twice(x).await, x * 2);
    }
    assert_eq!(RUNS.get(), 30);
    let owners: std::collections::BTreeSet<u16> = entries(&cluster)
        .iter()
        .map(|k| cluster.primary_for_key(k))
        .collect();
    assert_eq!(owners.len(), 3, "30 entries spread over the 3 primaries");
    let s = CACHE.stats().await.unwrap();
    assert_eq!((s.missed, s.success, s.refresh), (30, 30, 30));
    let stats_keys = cluster.keys("rediscache:stats*");
    assert_eq!(
        stats_keys.len(),
        1,
        "this process writes one shard: {stats_keys:?}"
    );
    assert!(
        stats_keys[0].starts_with("rediscache:stats:{"),
        "{stats_keys:?}"
    );
    twice_invalidate(3).await.unwrap();
    assert_eq!(twice(3).await, 6);
    assert_eq!(RUNS.get(), 31, "invalidated, recomputed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_under_load_fails_over_without_a_wrong_value() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let mut cluster = Cluster::start();
    CACHE.set(
        cluster
            .builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .unwrap(),
    );

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn compute(k: u64) -> u64 {
        RUNS.tick();
        value(k)
    }

    for k in 0..50 {
        assert_eq!(compute(k).await, value(k));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(under_load(16, 50, stop.clone(), compute, value, BOUND));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim = cluster.primaries()[0];
    cluster.kill(victim);
    cluster.wait_failover(victim);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let (calls, max_ms) = soon(load).await.unwrap();
    println!("failover under load: {calls} calls, slowest {max_ms} ms");
    assert!(calls > 100);
    assert!(
        eventually_async(SOON, || async {
            let before = RUNS.get();
            compute(7).await == value(7) && compute(7).await == value(7) && RUNS.get() == before
        })
        .await,
        "hits resume after the promotion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migrated_under_load_keeps_its_entries_and_values_right() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let cluster = Cluster::start();
    CACHE.set(cluster.builder().timeout(TIMEOUT).build().unwrap());

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn compute(k: u64) -> u64 {
        RUNS.tick();
        value(k)
    }

    for k in 0..20 {
        assert_eq!(compute(k).await, value(k));
    }
    let key = entries(&cluster).into_iter().next().unwrap();
    let from = cluster.primary_for_key(&key);
    let to = *cluster.primaries().iter().find(|p| **p != from).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(under_load(8, 20, stop.clone(), compute, value, BOUND));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let slot = cluster.keyslot(&key);
    cluster.migrate_slot(slot, to);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let (calls, max_ms) = soon(load).await.unwrap();
    println!("slot migration under load: {calls} calls, slowest {max_ms} ms");
    assert_eq!(cluster.primary_for_key(&key), to, "the slot moved");
    let runs = RUNS.get();
    for k in 0..20 {
        assert_eq!(compute(k).await, value(k));
    }
    assert_eq!(
        RUNS.get(),
        runs,
        "the migrated entries are hits at their new owner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_elsewhere_in_the_cluster_wakes_when_the_value_lands() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static GATE: Gate = Gate::new();
    let cluster = Cluster::start();
    A.set(cache_on(&cluster));
    B.set(cache_on(&cluster));

    #[cache(cache = A, name = "job", refresh = 60, expire = 120, wait = true)]
    async fn in_a(x: u64) -> u64 {
        GATE.wait_async().await;
        x + 1
    }
    #[cache(cache = B, name = "job", refresh = 60, expire = 120, wait = true)]
    async fn in_b(x: u64) -> u64 {
        x + 1000
    }

    let a = tokio::spawn(in_a(1));
    assert!(eventually_async(SOON, || async { !cluster.keys("*:lease{*").is_empty() }).await);
    let b = tokio::spawn(in_b(1));
    // B waits once it subscribed to the entry's channel, on whichever node.
    let subscribed = || {
        cluster
            .primaries()
            .iter()
            .chain(cluster.replicas().iter())
            .any(|p| {
                let out = cluster
                    .cli(*p, &["PUBSUB", "NUMSUB", "rediscache:{job(1)}:done"])
                    .unwrap_or_default();
                out.lines().nth(1).is_some_and(|n| n.trim() == "1")
            })
    };
    assert!(
        eventually_async(SOON, || async { subscribed() }).await,
        "B waits"
    );
    GATE.open();
    assert_eq!(soon(a).await.unwrap(), 2);
    assert_eq!(
        soon(b).await.unwrap(),
        2,
        "B woke with A's value, published across the cluster"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_works_on_every_node() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let cluster = Cluster::start();
    for port in cluster.primaries().into_iter().chain(cluster.replicas()) {
        let out = cluster.cli(
            port,
            &[
                "ACL", "SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all",
            ],
        );
        assert_eq!(out.as_deref().map(str::trim), Some("OK"), "on {port}");
    }
    let cache = cluster
        .builder()
        .username("app")
        .password("s3cret")
        .build()
        .unwrap();
    assert!(!format!("{cache:?}").contains("s3cret"), "{cache:?}");
    CACHE.set(cache);

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn plus(x: u64) -> u64 {
        RUNS.tick();
        x + 1
    }

    CACHE.ping().await.unwrap();
    for x in 0..10 {
        assert_eq!(plus(x).await, x + 1);
        assert_eq!(plus(x).await, x + 1);
    }
    assert_eq!(RUNS.get(), 10);
    let clients = cluster
        .cli(cluster.primaries()[0], &["CLIENT", "LIST"])
        .unwrap();
    assert!(
        clients.contains("user=app"),
        "the cache connects as app: {clients}"
    );
}
