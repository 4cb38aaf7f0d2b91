//! The two clocks end to end, for async functions, against a private `redis-server`:
//! refresh, expire, retry, default, wait, failures, values of every shape, bypass, invalidation.
//! `REDISCACHE_TEST_TOPOLOGY` runs it on a cluster or behind sentinels instead, and
//! `REDISCACHE_TEST_LOCAL=1` with the local tier on in every cache it builds (`scripts/test`).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rediscache::{RedisCache, cache};
use serde::{Deserialize, Serialize};
use testkit::*;

use common::*;

#[tokio::test]
async fn first_call_returns_the_default_while_one_background_run_fills_the_cache() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, default = -1)]
    async fn double(x: i64) -> i64 {
        RUNS.tick();
        x * 2
    }

    assert_eq!(double(21).await, -1, "a miss returns the default at once");
    assert!(
        eventually_async(SOON, || async { !entries(&*server).is_empty() }).await,
        "the background run stores the value"
    );
    assert_eq!(double(21).await, 42, "the second call gets the value");
    assert_eq!(RUNS.get(), 1, "the function ran once");
}

#[tokio::test]
async fn a_stale_value_is_served_while_one_refresh_runs_then_the_new_one() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = "1s", expire = 60, retry = 30, wait = true)]
    async fn version() -> usize {
        let n = RUNS.tick();
        if n > 1 {
            GATE.wait_async().await;
        }
        n
    }

    assert_eq!(soon(version()).await, 1);
    // Let the value age past `refresh`: the clock is what this test is about.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        soon(version()).await,
        1,
        "the stale value comes back at once, although the refresh is blocked"
    );
    assert!(
        eventually_async(SOON, || async { RUNS.get() == 2 }).await,
        "one refresh started"
    );
    for _ in 0..5 {
        assert_eq!(
            soon(version()).await,
            1,
            "still the stale value while the refresh runs"
        );
    }
    assert_eq!(
        RUNS.get(),
        2,
        "no second refresh while the first holds the lease"
    );
    GATE.open();
    assert!(
        eventually_async(SOON, || async { version().await == 2 }).await,
        "then the new value"
    );
}

#[tokio::test]
async fn a_refresh_that_outlives_retry_lets_a_second_one_start() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = "1s", retry = "1s", expire = 60, wait = true)]
    async fn slow() -> usize {
        let n = RUNS.tick();
        if n > 1 {
            GATE.wait_async().await;
        }
        n
    }

    assert_eq!(soon(slow()).await, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(soon(slow()).await, 1);
    assert!(eventually_async(SOON, || async { RUNS.get() == 2 }).await);
    assert_eq!(soon(slow()).await, 1);
    assert_eq!(
        RUNS.get(),
        2,
        "within retry, the running refresh blocks others"
    );
    // Past `retry`, the first refresh (still running) no longer blocks a new attempt.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(soon(slow()).await, 1);
    assert!(
        eventually_async(SOON, || async { RUNS.get() == 3 }).await,
        "a second refresh started after retry"
    );
    GATE.open();
    assert!(eventually_async(SOON, || async { slow().await > 1 }).await);
}

#[tokio::test]
async fn an_expired_value_is_gone_and_every_key_lives_at_most_expire() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = "1s", expire = "2s", wait = true)]
    async fn short(x: u8) -> u8 {
        if RUNS.tick() == 2 {
            GATE.wait_async().await;
        }
        x
    }

    assert_eq!(soon(short(1)).await, 1);
    let key = entries(&*server).pop().expect("stored");
    let ttl = pttl(&*server, &key);
    assert!(
        ttl > 0 && ttl <= 2000,
        "value TTL {ttl} ms is at most expire"
    );
    // A refresh in flight holds a lease; it too lives at most `retry` (= refresh).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(soon(short(1)).await, 1);
    assert!(eventually_async(SOON, || async { RUNS.get() == 2 }).await);
    let lease = lease_of(&key);
    let lease_ttl = pttl(&*server, &lease);
    assert!(
        lease_ttl > 0 && lease_ttl <= 1000,
        "lease TTL {lease_ttl} ms is at most retry"
    );
    for k in server.keys("*") {
        if !k.starts_with("rediscache:stats") {
            let ttl = pttl(&*server, &k);
            assert!(ttl > 0 && ttl <= 2000, "{k} has TTL {ttl}");
        }
    }
    assert!(
        eventually(SOON, || pttl(&*server, &key) == -2),
        "after expire the value is gone"
    );
    GATE.open();
}

#[tokio::test]
async fn empty_strings_and_none_are_values() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn empty() -> String {
        RUNS.tick();
        String::new()
    }
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn nothing() -> Option<u32> {
        RUNS.tick();
        None
    }

    assert_eq!(empty().await, "");
    assert_eq!(empty().await, "");
    assert_eq!(nothing().await, None);
    assert_eq!(nothing().await, None);
    assert_eq!(RUNS.get(), 2, "each ran once; the second calls were hits");
    let stats = CACHE.stats().await.unwrap();
    assert_eq!(stats.success, 2);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Tier {
    Free,
    Paid { seats: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
    scores: HashMap<String, f64>,
    tier: Tier,
    manager: Option<Box<Profile>>,
}

fn profile_of(id: u64) -> Profile {
    Profile {
        id,
        name: format!("user {id} – ünïcode ✓"),
        tags: vec!["a".into(), String::new()],
        scores: HashMap::from([("x".into(), 1.5), ("y".into(), -0.0)]),
        tier: Tier::Paid { seats: 3 },
        manager: Some(Box::new(Profile {
            id: 0,
            name: "boss".into(),
            tags: vec![],
            scores: HashMap::new(),
            tier: Tier::Free,
            manager: None,
        })),
    }
}

#[tokio::test]
async fn structs_maps_and_bytes_round_trip_exactly() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn profile(id: u64) -> Profile {
        RUNS.tick();
        profile_of(id)
    }
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn table() -> BTreeMap<String, Vec<(u8, Option<i64>)>> {
        RUNS.tick();
        BTreeMap::from([
            ("k".into(), vec![(1, None), (2, Some(i64::MIN))]),
            (String::new(), vec![]),
        ])
    }
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn bytes() -> Vec<u8> {
        RUNS.tick();
        (0..=255).chain((0..=255).rev()).collect()
    }

    for _ in 0..2 {
        assert_eq!(profile(7).await, profile_of(7));
        assert_eq!(table().await, table_uncached().await);
        assert_eq!(
            bytes().await,
            (0..=255).chain((0..=255).rev()).collect::<Vec<u8>>()
        );
    }
    assert_eq!(
        RUNS.get(),
        3 + 2,
        "three computations, plus the two bypass calls above"
    );
}

#[tokio::test]
async fn wait_returns_the_real_value_on_a_miss() {
    static CACHE: Slot<RedisCache> = Slot::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true, default = 0)]
    async fn answer() -> u32 {
        42
    }

    assert_eq!(
        answer().await,
        42,
        "the default is never returned with wait = true"
    );
    let stats = CACHE.stats().await.unwrap();
    assert_eq!(
        (stats.missed, stats.wait, stats.default, stats.refresh),
        (1, 1, 0, 1)
    );
}

#[tokio::test]
async fn a_failing_function_yields_the_default_is_counted_and_never_stored() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, default = Ok(0))]
    async fn flaky() -> Result<u32, String> {
        RUNS.tick();
        Err("backend down".into())
    }

    assert_eq!(flaky().await, Ok(0));
    let cache = &*CACHE;
    assert!(eventually_async(SOON, || async { cache.stats().await.unwrap().failed == 1 }).await);
    assert!(entries(&*server).is_empty(), "an Err is never stored");
    let stats = cache.stats().await.unwrap();
    assert_eq!(
        (stats.missed, stats.default, stats.refresh, stats.failed),
        (1, 1, 1, 1)
    );
}

#[tokio::test]
async fn a_waiting_caller_gets_its_own_err_and_the_previous_value_survives_failed_refreshes() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static FAIL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = "1s", expire = 60, wait = true)]
    async fn lookup(x: u32) -> Result<u32, String> {
        let n = RUNS.tick();
        if FAIL.load(std::sync::atomic::Ordering::SeqCst) {
            Err(format!("failure {n}"))
        } else {
            Ok(x + 1000 * n as u32)
        }
    }

    assert_eq!(
        lookup(1).await,
        Err("failure 1".into()),
        "the caller that computed gets its Err"
    );
    assert!(entries(&*server).is_empty());
    FAIL.store(false, std::sync::atomic::Ordering::SeqCst);
    let good = lookup(1).await.unwrap();
    assert_eq!(good, 2001);
    FAIL.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        lookup(1).await,
        Ok(good),
        "stale value served; its refresh fails in the background"
    );
    assert!(eventually_async(SOON, || async { CACHE.stats().await.unwrap().failed == 2 }).await);
    assert_eq!(
        lookup(1).await,
        Ok(good),
        "the failed refresh stored nothing: the old value stays"
    );
}

#[tokio::test]
async fn the_bypass_always_calls_the_function_and_leaves_redis_alone() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn count(_x: u8) -> usize {
        RUNS.tick()
    }

    assert_eq!(count_uncached(1).await, 1);
    assert_eq!(count_uncached(1).await, 2);
    assert!(
        server.keys("*").is_empty(),
        "the bypass does not touch Redis"
    );
    assert_eq!(count(1).await, 3);
    assert_eq!(count(1).await, 3);
    assert_eq!(count_uncached(1).await, 4);
}

#[tokio::test]
async fn invalidation_forces_a_recompute_of_those_arguments_only() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn numbered(x: &str) -> String {
        format!("{x}{}", RUNS.tick())
    }

    assert_eq!(numbered("a").await, "a1");
    assert_eq!(numbered("b").await, "b2");
    numbered_invalidate("a").await.expect("redis answers");
    assert_eq!(numbered("a").await, "a3", "recomputed after invalidation");
    assert_eq!(numbered("b").await, "b2", "other arguments untouched");
}

#[tokio::test]
async fn skip_shares_one_entry_across_skipped_values_and_references_work() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    /// Not serializable: only usable because it is skipped.
    #[derive(Clone)]
    struct Pool {
        id: u32,
    }
    #[derive(Clone, Serialize)]
    struct Filter {
        min: u32,
    }

    #[cache(cache = CACHE, refresh = 10, expire = 60, default = Vec::new(), skip(db))]
    async fn report(db: &Pool, month: &str, raw: &[u8], filter: &Filter) -> Vec<String> {
        RUNS.tick();
        assert!(db.id > 0);
        vec![format!("{month}:{}:{}", raw.len(), filter.min)]
    }

    let (a, b) = (Pool { id: 1 }, Pool { id: 2 });
    let filter = Filter { min: 3 };
    assert_eq!(
        report(&a, "2026-11", b"xy", &filter).await,
        Vec::<String>::new()
    );
    assert!(
        eventually_async(SOON, || async { !entries(&*server).is_empty() }).await,
        "the background run owns its copies"
    );
    assert_eq!(
        report(&b, "2026-11", b"xy", &filter).await,
        vec!["2026-11:2:3".to_string()],
        "another pool, same entry"
    );
    assert_eq!(RUNS.get(), 1);
    assert_eq!(entries(&*server).len(), 1);
}

#[tokio::test]
async fn an_undecodable_entry_is_a_miss_and_is_overwritten() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn item(x: u32) -> (u32, String) {
        RUNS.tick();
        (x, "ok".into())
    }

    assert_eq!(item(5).await, (5, "ok".into()));
    let key = entries(&*server).pop().unwrap();
    for garbage in [&b"garbage"[..], b"rc1\0\0\0\0\0\0\0\0\0\xc1", b""] {
        redis::cmd("SET")
            .arg(&key)
            .arg(garbage)
            .exec(&mut server.conn_for(&key))
            .unwrap();
        assert_eq!(
            item(5).await,
            (5, "ok".into()),
            "garbage is recomputed, never a panic"
        );
    }
    assert_eq!(RUNS.get(), 4);
    assert_eq!(item(5).await, (5, "ok".into()));
    assert_eq!(RUNS.get(), 4, "the recomputed value overwrote the garbage");
}

#[tokio::test]
async fn keys_are_readable_prefixed_bounded_and_in_one_hash_slot() {
    static CACHE: Slot<RedisCache> = Slot::new();
    let server = start_topology();
    CACHE.set(server.builder().prefix("myapp").build().unwrap());

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn rate(currency: &str, day: u32) -> f64 {
        f64::from(day) + currency.len() as f64
    }
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true, name = "long")]
    async fn long(text: String) -> usize {
        text.len()
    }

    rate("EUR", 25).await;
    let scan = server.keys("*").join("\n");
    assert!(
        scan.contains(r#"myapp:{semantics::rate("EUR",25)}"#),
        "readable key in: {scan}"
    );
    long("x".repeat(10_000)).await;
    long("y".repeat(10_000)).await;
    let long_keys: Vec<_> = entries(&*server)
        .into_iter()
        .filter(|k| k.starts_with("myapp:{long"))
        .collect();
    assert_eq!(long_keys.len(), 2, "distinct long arguments, distinct keys");
    assert!(
        long_keys.iter().all(|k| k.len() < 100),
        "long arguments are hashed: {long_keys:?}"
    );
    // Value, lease and channel share the hash tag (the text between the first `{` and the
    // next `}`), hence the cluster slot.
    let tag = |k: &str| -> String {
        let open = k.find('{').unwrap();
        let close = open + k[open..].find('}').unwrap();
        k[open + 1..close].to_owned()
    };
    for key in entries(&*server) {
        assert!(!tag(&key).is_empty());
        assert_eq!(tag(&key), tag(&lease_of(&key)));
        assert_eq!(tag(&key), tag(&format!("{key}:done")));
    }
}

#[tokio::test]
async fn values_over_max_value_bytes_are_returned_but_not_stored() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(server.builder().max_value_bytes(1000).build().unwrap());

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn blob(n: usize) -> Vec<u8> {
        RUNS.tick();
        vec![1; n]
    }

    assert_eq!(soon(blob(5000)).await.len(), 5000);
    // Regression: the lease of a value too large to store used to stay until `retry`, so the
    // next caller waited a whole minute for a value that would never land.
    assert_eq!(soon(blob(5000)).await.len(), 5000);
    assert_eq!(RUNS.get(), 2, "too large to store: computed each time");
    assert_eq!(blob(10).await.len(), 10);
    assert_eq!(blob(10).await.len(), 10);
    assert_eq!(RUNS.get(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_in_one_process_share_one_computation_on_a_multi_thread_runtime() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, retry = 30, wait = true)]
    async fn shared(x: u64) -> u64 {
        RUNS.tick();
        GATE.wait_async().await;
        x * 3
    }

    let tasks: Vec<_> = (0..20).map(|_| tokio::spawn(shared(5))).collect();
    assert!(eventually_async(SOON, || async { RUNS.get() == 1 }).await);
    GATE.open();
    for t in tasks {
        assert_eq!(soon(t).await.unwrap(), 15);
    }
    assert_eq!(RUNS.get(), 1, "twenty callers, one computation");
    let stats = CACHE.stats().await.unwrap();
    assert_eq!(stats.wait, 1);
    assert_eq!(stats.sleep, 19);
}

#[tokio::test]
async fn after_a_failure_waiters_compute_at_once_while_refreshes_back_off_until_retry() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static FAIL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = "1s", retry = 60, expire = 120, wait = true)]
    async fn fragile() -> Result<usize, String> {
        let n = RUNS.tick();
        if FAIL.load(std::sync::atomic::Ordering::SeqCst) {
            Err(format!("failure {n}"))
        } else {
            Ok(n)
        }
    }

    assert_eq!(soon(fragile()).await, Err("failure 1".into()));
    // Regression: the failed computation's lease used to make the next waiter sleep the whole
    // 60 s retry for a value that was never coming.
    assert_eq!(soon(fragile()).await, Err("failure 2".into()));
    FAIL.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(soon(fragile()).await, Ok(3));
    FAIL.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        soon(fragile()).await,
        Ok(3),
        "stale value; its refresh fails in the background"
    );
    assert!(eventually_async(SOON, || async { RUNS.get() == 4 }).await);
    assert!(eventually_async(SOON, || async { CACHE.stats().await.unwrap().failed == 3 }).await);
    for _ in 0..5 {
        assert_eq!(soon(fragile()).await, Ok(3));
    }
    assert_eq!(
        RUNS.get(),
        4,
        "refreshes back off until retry after a failure"
    );
}

/// Regression: a connection's driver task lives on the runtime that first used it. A static
/// cache used by one runtime after another (as `#[tokio::test]`s do) must not lose its
/// connection with the first runtime.
#[test]
fn one_cache_serves_runtime_after_runtime_without_errors() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn id(x: u32) -> u32 {
        RUNS.tick();
        x
    }

    for round in 0..4u32 {
        let rt = runtime(round % 2 == 1);
        rt.block_on(async {
            assert_eq!(id(1).await, 1);
            assert_eq!(id(round).await, round);
        });
        drop(rt);
    }
    assert_eq!(
        RUNS.get(),
        4,
        "values 1, 0, 2 and 3 computed once each; the rest were hits"
    );
    let stats = CACHE.stats_blocking().unwrap();
    assert_eq!(stats.errors, 0, "no call lost its connection: {stats:?}");
}

/// With `REDISCACHE_TEST_LOCAL=1` the whole suite runs with the local tier on: this test shows
/// the tier really is on there (it goes live and serves hits from memory, on any topology).
/// Without it, no cache of the suite has a tier.
#[cfg(feature = "local")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_tier_is_on_exactly_when_the_suite_asks_for_it() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = start_topology();
    CACHE.set(cache_on(&*server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn hot(x: u8) -> u8 {
        RUNS.tick();
        x
    }

    assert_eq!(hot(1).await, 1);
    let cache = &*CACHE;
    if !local_asked() {
        assert_eq!(cache.local_status(), None);
        return;
    }
    let live = || {
        cache
            .local_status()
            .is_some_and(|s| s.state == rediscache::LocalState::Live)
    };
    assert!(eventually(SOON, live), "{:?}", cache.local_status());
    // The first hit since the tier went live fills it; the ones after come from memory.
    assert!(
        eventually_async(SOON, || async {
            hot(1).await;
            cache.stats().await.unwrap().local_hits >= 10
        })
        .await,
        "{:?}",
        cache.stats().await
    );
    assert_eq!(RUNS.get(), 1);
}
