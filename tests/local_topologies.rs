//! The local tier on Redis Sentinel and Redis Cluster, with real faults: it goes live on the
//! primary the sentinels name, is flushed by a failover and comes back on the new primary
//! without serving what that primary does not hold; on a cluster it tracks every primary, and a
//! failover or a slot migration under load flushes it, after which changes on the new owners
//! reach memory again. (The semantics suite also runs with the tier on, on every topology:
//! `REDISCACHE_TEST_LOCAL=1`, see `scripts/test`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rediscache::{Local, LocalState, RedisCache, Stats, cache};
use testkit::*;

use common::*;

const TIMEOUT: Duration = Duration::from_millis(500);
/// Any one call while a slot migrates: this file is about values, not latency (tests/cluster.rs
/// bounds that), so the bound is loose enough for a loaded 2-core machine.
const LOAD_BOUND: Duration = Duration::from_secs(5);
/// The timeout of the other client, which only writes: long, so that its writes land even on a
/// loaded machine.
const WRITER_TIMEOUT: Duration = Duration::from_secs(5);
/// How soon a change made by another client must reach memory: an invalidation's trip, with
/// generous slack for a shared 2-core machine. (A change that never arrived would be served
/// from memory for the entry's whole life: minutes here.)
const REACHES_MEMORY: Duration = Duration::from_secs(3);
/// What `CLIENT LIST` names the tracking connections.
const TRACKING: &str = "name=rediscache-tracking";

/// The cache under test (the tier on, short timeouts) and another client of the same entries
/// without the tier, on `topo`.
fn pair(topo: &dyn Topo) -> (RedisCache, RedisCache) {
    let tiered = topo
        .builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .local(Local::new())
        .build()
        .expect("valid");
    let writer = topo
        .builder()
        .timeout(WRITER_TIMEOUT)
        .build()
        .expect("valid");
    (tiered, writer)
}

fn live(cache: &RedisCache) -> bool {
    cache
        .local_status()
        .is_some_and(|s| s.state == LocalState::Live)
}

/// Waits (bounded) until the tier of `cache` is live.
fn wait_live(cache: &RedisCache) {
    assert!(
        eventually(SOON, || live(cache)),
        "the tier did not go live: {:?}",
        cache.local_status()
    );
}

/// The cache's stats, once Redis answers (bounded: it may be failing over).
async fn stats(cache: &RedisCache) -> Stats {
    let deadline = Instant::now() + SOON;
    loop {
        match cache.stats().await {
            Ok(stats) => return stats,
            Err(e) if Instant::now() >= deadline => panic!("stats never answered: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits (bounded) until `cache` has counted more than `before` hits from memory, calling
/// `call` meanwhile: the entries it reads are served from memory again.
async fn wait_memory_hits<F, Fut>(cache: &RedisCache, before: u64, call: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = Instant::now() + SOON;
    loop {
        call().await;
        let seen = stats(cache).await.local_hits;
        if seen > before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no hit from memory: {seen} after {before}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many connections in `CLIENT LIST` output are tracking connections.
fn tracking_connections(client_list: Option<String>) -> usize {
    client_list.unwrap_or_default().matches(TRACKING).count()
}

/// Has the other client write `key`: `invalidate` (a `DEL`) then `call` (computes and stores),
/// tried again (bounded) until `redis` holds the key, so that a write lost to a loaded machine
/// is not taken for an invalidation lost on the way to memory.
async fn other_client_writes<I, IFut, T, E, C, CFut>(
    redis: &dyn Topo,
    key: &str,
    invalidate: I,
    call: C,
) where
    I: Fn() -> IFut,
    IFut: std::future::Future<Output = Result<T, E>>,
    C: Fn() -> CFut,
    CFut: std::future::Future,
{
    let deadline = Instant::now() + SOON;
    loop {
        if invalidate().await.is_ok() {
            call().await;
            let held: redis::RedisResult<bool> = redis::cmd("EXISTS")
                .arg(key)
                .query(&mut redis.conn_for(key));
            if held == Ok(true) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the other client never wrote {key}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deletes `key` on the replica only, once it got there: the replica is made writable for this.
/// A failover then loses the key, as it loses writes the replica never received.
fn drop_from_replica(setup: &Sentinels, key: &str) {
    let writable = setup
        .replica
        .cli(&["CONFIG", "SET", "replica-read-only", "no"]);
    assert_eq!(writable.as_deref().map(str::trim), Some("OK"));
    let on_replica = || {
        setup
            .replica
            .cli(&["EXISTS", key])
            .as_deref()
            .map(str::trim)
            == Some("1")
    };
    assert!(eventually(SOON, on_replica), "{key} reached the replica");
    let deleted = setup.replica.cli(&["DEL", key]);
    assert_eq!(
        deleted.as_deref().map(str::trim),
        Some("1"),
        "{key} on the replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_flushes_and_the_new_primary_alone_is_served() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static GEN: AtomicU64 = AtomicU64::new(1);
    show_warnings();
    let mut setup = Sentinels::start();
    let (tiered, writer) = pair(&setup);
    A.set(tiered);
    B.set(writer);

    #[cache(cache = A, name = "topo::value", refresh = 60, expire = 120, wait = true)]
    async fn in_a(k: u64) -> String {
        format!("{k}@a{}", GEN.load(Ordering::SeqCst))
    }
    // Another client of the same entries (no tier): its writes must reach A's memory.
    #[cache(cache = B, name = "topo::value", refresh = 60, expire = 120, wait = true)]
    async fn in_b(k: u64) -> String {
        format!("{k}@b")
    }

    let a = &*A;
    for k in 0..10 {
        assert_eq!(in_a(k).await, format!("{k}@a1"));
    }
    wait_live(a);
    assert_eq!(
        tracking_connections(setup.primary.cli(&["CLIENT", "LIST"])),
        1,
        "one tracking connection, on the primary"
    );
    wait_memory_hits(a, 0, || async {
        for k in 0..10 {
            assert_eq!(in_a(k).await, format!("{k}@a1"));
        }
    })
    .await;
    assert!(a.local_status().expect("on").entries >= 1);

    // Keys 0..3 vanish from the replica only (made writable for this), the way writes the
    // replica never received are lost in a failover: the primary, and A's memory, still hold
    // them.
    let key = |k: u64| format!("rediscache:{{topo::value({k})}}");
    for k in 0..3 {
        drop_from_replica(&setup, &key(k));
        assert_eq!(
            setup.primary.keys(&key(k)).len(),
            1,
            "key {k} on the primary"
        );
    }
    for k in 0..3 {
        assert_eq!(
            in_a(k).await,
            format!("{k}@a1"),
            "still there on the primary"
        );
    }

    let flushes = stats(a).await.local_flushes;
    GEN.store(2, Ordering::SeqCst);
    setup.fail_over();
    assert!(
        eventually_async(SOON, || async { stats(a).await.local_flushes > flushes }).await,
        "the failover flushed the tier"
    );
    wait_live(a);
    assert_eq!(setup.master_port(), Some(setup.replica.port));
    assert!(
        tracking_connections(setup.replica.cli(&["CLIENT", "LIST"])) >= 1,
        "tracking follows the new primary"
    );

    // What the new primary lacks is computed anew, never served from memory.
    for k in 0..3 {
        assert_eq!(
            in_a(k).await,
            format!("{k}@a2"),
            "key {k} is missing on the new primary"
        );
    }
    // What it holds is served from memory again (or computed anew, if a read timed out)...
    let hits = stats(a).await.local_hits;
    wait_memory_hits(a, hits, || async {
        for k in 3..10 {
            let got = in_a(k).await;
            assert!(
                got == format!("{k}@a1") || got == format!("{k}@a2"),
                "{got}"
            );
        }
    })
    .await;
    // ...until another client changes it on the new primary.
    let invalidations = stats(a).await.local_invalidations;
    for k in 3..10 {
        other_client_writes(&setup, &key(k), || in_b_invalidate(k), || in_b(k)).await;
        let written = Instant::now();
        assert!(
            eventually_async(REACHES_MEMORY, || async {
                in_a(k).await == format!("{k}@b")
            })
            .await,
            "B's write of key {k} on the new primary reached A"
        );
        println!(
            "sentinel: key {k} seen {:?} after B's write",
            written.elapsed()
        );
    }
    assert!(
        stats(a).await.local_invalidations > invalidations,
        "the writes arrived as invalidations"
    );
}

/// Asks the sentinels for a failover while both servers run (`SENTINEL FAILOVER`): the
/// primary is demoted to a replica of the promoted one. Waits (bounded) until the sentinels name
/// the replica and the servers have swapped roles.
fn graceful_failover(setup: &Sentinels) {
    let sentinel = setup.urls()[0].clone();
    let mut conn = redis::Client::open(sentinel)
        .expect("url")
        .get_connection()
        .expect("connects to a sentinel");
    let asked: redis::RedisResult<()> = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg(testkit::sentinel::MASTER)
        .query(&mut conn);
    asked.expect("SENTINEL FAILOVER");
    let role = |server: &RedisServer| server.cli(&["ROLE"]).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(60), || {
            setup.master_port() == Some(setup.replica.port)
                && role(&setup.replica).starts_with("master")
                && role(&setup.primary).starts_with("slave")
        }),
        "the sentinels did not swap the primary and its replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_sentinel_failover_flushes_and_the_new_primary_alone_is_served() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static GEN: AtomicU64 = AtomicU64::new(1);
    show_warnings();
    let setup = Sentinels::start();
    let (tiered, writer) = pair(&setup);
    A.set(tiered);
    B.set(writer);

    #[cache(cache = A, name = "topo::value", refresh = 60, expire = 120, wait = true)]
    async fn in_a(k: u64) -> String {
        format!("{k}@a{}", GEN.load(Ordering::SeqCst))
    }
    #[cache(cache = B, name = "topo::value", refresh = 60, expire = 120, wait = true)]
    async fn in_b(k: u64) -> String {
        format!("{k}@b")
    }

    let a = &*A;
    for k in 0..10 {
        assert_eq!(in_a(k).await, format!("{k}@a1"));
    }
    wait_live(a);
    wait_memory_hits(a, 0, || async {
        for k in 0..10 {
            in_a(k).await;
        }
    })
    .await;
    // Key 0 vanishes from the replica only: the new primary will not hold it, while the old
    // one (still running, demoted) and A's memory do.
    let key0 = "rediscache:{topo::value(0)}";
    drop_from_replica(&setup, key0);

    let flushes = stats(a).await.local_flushes;
    GEN.store(2, Ordering::SeqCst);
    graceful_failover(&setup);
    assert!(
        eventually_async(SOON, || async { stats(a).await.local_flushes > flushes }).await,
        "the failover flushed the tier"
    );
    wait_live(a);
    assert!(
        eventually(SOON, || {
            tracking_connections(setup.replica.cli(&["CLIENT", "LIST"])) == 1
                && tracking_connections(setup.primary.cli(&["CLIENT", "LIST"])) == 0
        }),
        "tracking moved from the demoted primary to the new one"
    );
    assert!(
        eventually_async(SOON, || async { in_a(0).await == "0@a2" }).await,
        "key 0, missing on the new primary, is computed anew"
    );
    assert_eq!(in_a(0).await, "0@a2", "and stays so");
    let hits = stats(a).await.local_hits;
    wait_memory_hits(a, hits, || async {
        let got = in_a(1).await;
        assert!(got == "1@a1" || got == "1@a2", "{got}");
    })
    .await;
    other_client_writes(
        &setup,
        "rediscache:{topo::value(1)}",
        || in_b_invalidate(1),
        || in_b(1),
    )
    .await;
    assert!(
        eventually_async(REACHES_MEMORY, || async { in_a(1).await == "1@b" }).await,
        "B's write on the new primary reached A"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_demoted_behind_the_sentinels_turns_the_tier_off_until_it_is_one_again() {
    static A: Slot<RedisCache> = Slot::new();
    static GEN: AtomicU64 = AtomicU64::new(1);
    show_warnings();
    let setup = Sentinels::start();
    A.set(
        setup
            .builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .local(Local::new())
            .build()
            .expect("valid"),
    );

    #[cache(cache = A, name = "topo::value", refresh = 60, expire = 120, wait = true)]
    async fn in_a(k: u64) -> String {
        format!("{k}@a{}", GEN.load(Ordering::SeqCst))
    }

    let a = &*A;
    for k in 0..10 {
        assert_eq!(in_a(k).await, format!("{k}@a1"));
    }
    wait_live(a);
    wait_memory_hits(a, 0, || async {
        for k in 0..10 {
            in_a(k).await;
        }
    })
    .await;

    // The primary turns into a replica of an empty server behind the sentinels' back: no
    // connection is closed, only the heartbeat's ROLE can tell. Its data goes with the sync.
    let elsewhere = RedisServer::start();
    let flushes = stats(a).await.local_flushes;
    GEN.store(2, Ordering::SeqCst);
    let demoted = setup
        .primary
        .cli(&["REPLICAOF", "127.0.0.1", &elsewhere.port.to_string()]);
    assert_eq!(demoted.as_deref().map(str::trim), Some("OK"));
    assert!(
        eventually(SOON, || !live(a)),
        "the tier stops serving from a demoted primary: {:?}",
        a.local_status()
    );
    assert!(
        eventually(SOON, || setup
            .primary
            .cli(&["INFO", "replication"])
            .is_some_and(|i| i.contains("master_link_status:up"))),
        "the demoted primary synced from the empty server"
    );
    let promoted = setup.primary.cli(&["REPLICAOF", "NO", "ONE"]);
    assert_eq!(promoted.as_deref().map(str::trim), Some("OK"));
    assert!(
        eventually_async(SOON, || async { stats(a).await.local_flushes > flushes }).await,
        "the demotion flushed the tier"
    );
    wait_live(a);
    // Everything it held was lost in the sync: nothing is served from memory.
    for k in 0..10 {
        assert_eq!(in_a(k).await, format!("{k}@a2"), "key {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_tier_tracks_every_primary_and_follows_a_failover() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static GEN: AtomicU64 = AtomicU64::new(1);
    show_warnings();
    let mut cluster = Cluster::start();
    let (tiered, writer) = pair(&cluster);
    A.set(tiered);
    B.set(writer);

    #[cache(cache = A, name = "topo::value", refresh = 60, expire = 120, wait = true)]
    async fn in_a(k: u64) -> String {
        format!("{k}@a{}", GEN.load(Ordering::SeqCst))
    }
    #[cache(cache = B, name = "topo::value", refresh = 60, expire = 120, wait = true)]
    async fn in_b(k: u64) -> String {
        format!("{k}@b{}", GEN.load(Ordering::SeqCst))
    }

    const KEYS: u64 = 30;
    let key = |k: u64| format!("rediscache:{{topo::value({k})}}");
    let a = &*A;
    for k in 0..KEYS {
        assert_eq!(in_a(k).await, format!("{k}@a1"));
    }
    let owner = |k: u64| cluster.primary_for_key(&key(k));
    let owners: std::collections::BTreeSet<u16> = (0..KEYS).map(owner).collect();
    assert_eq!(owners.len(), 3, "the keys spread over the 3 primaries");
    wait_live(a);
    for p in cluster.primaries() {
        assert!(
            eventually(SOON, || tracking_connections(
                cluster.cli(p, &["CLIENT", "LIST"])
            ) == 1),
            "one tracking connection on primary {p}"
        );
    }
    let all_from_a = || async {
        for k in 0..KEYS {
            in_a(k).await;
        }
    };
    wait_memory_hits(a, 0, all_from_a).await;

    // Another client writes every key: each primary's invalidations reach memory.
    let before = stats(a).await;
    for k in 0..KEYS {
        other_client_writes(&cluster, &key(k), || in_b_invalidate(k), || in_b(k)).await;
    }
    let written = Instant::now();
    for k in 0..KEYS {
        assert!(
            eventually_async(REACHES_MEMORY, || async {
                in_a(k).await == format!("{k}@b1")
            })
            .await,
            "B's write of key {k} (on primary {}) reached A",
            owner(k)
        );
    }
    println!(
        "cluster: {KEYS} writes over 3 primaries all seen {:?} after the last",
        written.elapsed()
    );
    let after = stats(a).await;
    // Each key held was invalidated once (B's DEL; its SET found nothing left to drop), unless a
    // heartbeat late on a loaded machine flushed the tier meanwhile.
    let arrived = after.local_invalidations - before.local_invalidations;
    if after.local_flushes == before.local_flushes {
        assert!(
            arrived >= KEYS,
            "{arrived} of {KEYS} writes arrived as invalidations"
        );
    } else {
        assert!(arrived > 0, "no write arrived as an invalidation");
    }
    let hits = stats(a).await.local_hits;
    wait_memory_hits(a, hits, all_from_a).await;

    // A primary dies: the tier is flushed, then tracks the promoted replica.
    let victim = owner(0);
    let moved: Vec<u64> = (0..KEYS).filter(|k| owner(*k) == victim).collect();
    let flushes = stats(a).await.local_flushes;
    GEN.store(2, Ordering::SeqCst);
    cluster.kill(victim);
    let promoted = cluster.wait_failover(victim);
    assert!(
        eventually_async(SOON, || async { stats(a).await.local_flushes > flushes }).await,
        "the failover flushed the tier"
    );
    wait_live(a);
    assert!(
        eventually(SOON, || tracking_connections(
            cluster.cli(promoted, &["CLIENT", "LIST"])
        ) == 1),
        "tracking on the promoted replica {promoted}"
    );
    // Every value is one its owner holds (replicated, or computed anew if the write was lost).
    for k in 0..KEYS {
        let got = in_a(k).await;
        assert!(
            got == format!("{k}@b1") || got == format!("{k}@a2"),
            "{got}"
        );
    }
    // The promoted replica's keys are served from memory again, until B changes them there.
    let hits = stats(a).await.local_hits;
    wait_memory_hits(a, hits, || async {
        for k in &moved {
            in_a(*k).await;
        }
    })
    .await;
    for k in &moved {
        other_client_writes(&cluster, &key(*k), || in_b_invalidate(*k), || in_b(*k)).await;
        assert!(
            eventually_async(REACHES_MEMORY, || async {
                in_a(*k).await == format!("{k}@b2")
            })
            .await,
            "B's write of key {k} on the promoted replica reached A"
        );
    }
}

fn value(k: u64) -> u64 {
    k * 1_000_003 + 7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migrated_under_load_flushes_and_its_new_owner_is_tracked() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    show_warnings();
    let cluster = Cluster::start();
    A.set(
        cluster
            .builder()
            .timeout(TIMEOUT)
            .local(Local::new())
            .build()
            .expect("valid"),
    );
    B.set(
        cluster
            .builder()
            .timeout(WRITER_TIMEOUT)
            .build()
            .expect("valid"),
    );

    #[cache(cache = A, name = "topo::compute", refresh = 60, expire = 120, wait = true)]
    async fn in_a(k: u64) -> u64 {
        RUNS.tick();
        value(k)
    }
    #[cache(cache = B, name = "topo::compute", refresh = 60, expire = 120, wait = true)]
    async fn in_b(k: u64) -> u64 {
        value(k) + 1
    }

    const KEYS: u64 = 20;
    let a = &*A;
    for k in 0..KEYS {
        assert_eq!(in_a(k).await, value(k));
    }
    wait_live(a);
    wait_memory_hits(a, 0, || async {
        for k in 0..KEYS {
            assert_eq!(in_a(k).await, value(k));
        }
    })
    .await;

    let key = format!("rediscache:{{topo::compute({})}}", 0);
    let from = cluster.primary_for_key(&key);
    let to = *cluster
        .primaries()
        .iter()
        .find(|p| **p != from)
        .expect("another primary");
    let flushes = stats(a).await.local_flushes;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(under_load(8, KEYS, stop.clone(), in_a, value, LOAD_BOUND));
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.migrate_slot(cluster.keyslot(&key), to);
    // Calls go on until the tier is back: fills and hits race the new generation.
    assert!(
        eventually_async(SOON, || async { stats(a).await.local_flushes > flushes }).await,
        "the slot map change flushed the tier"
    );
    wait_live(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let (calls, max_ms) = soon(load)
        .await
        .expect("every call returned the right value");
    println!("slot migration under load with the tier on: {calls} calls, slowest {max_ms} ms");
    assert_eq!(cluster.primary_for_key(&key), to, "the slot moved");

    // The migrated entry is served from memory again, then changed on its new owner.
    let hits = stats(a).await.local_hits;
    wait_memory_hits(a, hits, || async {
        in_a(0).await;
    })
    .await;
    other_client_writes(&cluster, &key, || in_b_invalidate(0), || in_b(0)).await;
    assert!(
        eventually_async(REACHES_MEMORY, || async { in_a(0).await == value(0) + 1 }).await,
        "B's write on the new owner {to} reached A"
    );
    // And a key deleted there is not served from memory either.
    let hits = stats(a).await.local_hits;
    wait_memory_hits(a, hits, || async {
        in_a(0).await;
    })
    .await;
    let deleted = cluster.cli(to, &["DEL", &key]);
    assert_eq!(deleted.as_deref().map(str::trim), Some("1"), "DEL on {to}");
    assert!(
        eventually_async(REACHES_MEMORY, || async { in_a(0).await == value(0) }).await,
        "the DEL on the new owner {to} reached A"
    );
}
