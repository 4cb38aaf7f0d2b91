//! Stats: exact counts through a miss/hit sequence, an atomic reset, sharing across caches, and
//! no extra command on the hit path.

mod common;

use rediscache::{RedisCache, Stats, cache};
use testkit::*;

use common::*;

fn commands(server: &RedisServer, name: &str) -> u64 {
    let info = server.cli(&["INFO", "commandstats"]).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn exact_counts_through_misses_hits_and_a_reset() {
    static CACHE: Slot<RedisCache> = Slot::new();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));
    let cache = &*CACHE;

    #[cache(cache = CACHE, refresh = 10, expire = 60)]
    async fn background(x: u32) -> u32 {
        x + 1
    }
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn waited(x: u32) -> u32 {
        x + 2
    }

    assert_eq!(
        cache.stats().await.unwrap(),
        Stats::default(),
        "a new database starts at zero"
    );
    assert_eq!(background(1).await, 0);
    assert!(eventually_async(SOON, || async { !entries(&server).is_empty() }).await);
    assert_eq!(background(1).await, 2);
    assert_eq!(background(1).await, 2);
    assert_eq!(waited(1).await, 3);
    assert_eq!(waited(1).await, 3);

    let s = cache.take_stats().await.unwrap();
    let expected = (1 + 1, 1, 0, 0, 2, 3, 1, 0);
    assert_eq!(
        (
            s.refresh, s.wait, s.sleep, s.failed, s.missed, s.success, s.default, s.errors
        ),
        expected,
        "{s:?}"
    );
    assert_eq!(
        cache.stats().await.unwrap(),
        Stats::default(),
        "take_stats reset them"
    );
    assert_eq!(waited(1).await, 3);
    let s = cache.stats().await.unwrap();
    assert_eq!((s.success, s.missed), (1, 0));
}

#[tokio::test]
async fn another_cache_sees_counts_within_a_second_and_a_hit_sends_one_get() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    let server = RedisServer::start();
    A.set(cache_on(&server));
    B.set(cache_on(&server));

    #[cache(cache = A, refresh = 10, expire = 60, wait = true)]
    async fn in_a(x: u32) -> u32 {
        x
    }

    assert_eq!(in_a(1).await, 1);
    let (gets, sets, evals, hincrs) = (
        commands(&server, "get"),
        commands(&server, "set"),
        commands(&server, "evalsha"),
        commands(&server, "hincrby"),
    );
    for _ in 0..100 {
        assert_eq!(in_a(1).await, 1);
    }
    assert_eq!(commands(&server, "get") - gets, 100, "one GET per hit");
    assert_eq!(
        commands(&server, "set"),
        sets,
        "no lease work on fresh hits"
    );
    assert_eq!(commands(&server, "evalsha"), evals);
    assert!(
        commands(&server, "hincrby") - hincrs <= 10,
        "stats travel in batches, not per hit"
    );
    let b = &*B;
    assert!(
        eventually_async(SOON, || async { b.stats().await.unwrap().success == 100 }).await,
        "the other cache sees A's counts after A's periodic flush"
    );
    let started = std::time::Instant::now();
    assert_eq!(in_a(1).await, 1);
    assert!(eventually_async(SOON, || async { b.stats().await.unwrap().success == 101 }).await);
    println!("seen by the other cache after {:?}", started.elapsed());
}

#[tokio::test]
async fn stats_by_function_break_the_totals_down() {
    static CACHE: Slot<RedisCache> = Slot::new();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));
    let cache = &*CACHE;

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn first(x: u32) -> u32 {
        x
    }
    #[cache(cache = CACHE, name = "second", refresh = 10, expire = 60, wait = true)]
    async fn second(x: u32) -> u32 {
        x
    }

    for x in 0..3 {
        first(x).await;
        first(x).await;
    }
    second(9).await;
    let by = cache.stats_by_function().await.unwrap();
    assert_eq!(by.len(), 2, "{by:?}");
    let f = by["stats::first"];
    assert_eq!((f.missed, f.success, f.wait, f.refresh), (3, 3, 3, 3));
    let s = by["second"];
    assert_eq!((s.missed, s.success), (1, 0));
    let total = cache.stats().await.unwrap();
    assert_eq!(
        total.missed,
        f.missed + s.missed,
        "totals are the sum of the functions"
    );
    assert_eq!(total.success, f.success + s.success);
    cache.take_stats().await.unwrap();
    assert!(
        cache.stats_by_function().await.unwrap().is_empty(),
        "take_stats resets them too"
    );
}

/// Regression: a function's counts went to the first cache that counted for it, so a function
/// whose `cache = ..` picks a cache per call (a cache per tenant, per region) showed every
/// call in the first cache's stats and none in the others'.
#[tokio::test]
async fn a_function_used_with_two_caches_counts_in_each() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    let (server_a, server_b) = (RedisServer::start(), RedisServer::start());
    A.set(cache_on(&server_a));
    B.set(cache_on(&server_b));

    #[cache(
        cache = if _in_b { &*B } else { &*A },
        name = "picked", refresh = 10, expire = 60, wait = true, skip(_in_b)
    )]
    async fn picked(_in_b: bool, x: u32) -> u32 {
        x + 1
    }

    for in_b in [false, false, true, true, true] {
        assert_eq!(picked(in_b, 1).await, 2);
    }
    let (a, b) = (&*A, &*B);
    let (sa, sb) = (a.stats().await.unwrap(), b.stats().await.unwrap());
    assert_eq!((sa.missed, sa.success, sa.refresh), (1, 1, 1), "A: {sa:?}");
    assert_eq!((sb.missed, sb.success, sb.refresh), (1, 2, 1), "B: {sb:?}");
    assert_eq!(b.stats_by_function().await.unwrap()["picked"], sb);
    // Both keep counting, each its own calls.
    picked(false, 1).await;
    picked(true, 1).await;
    assert_eq!(a.stats().await.unwrap().success, 2);
    assert_eq!(b.stats().await.unwrap().success, 3);
}
