//! Several processes on one Redis: one computes, the others wait and wake the moment its value
//! lands (pub/sub, no polling); stats add up across processes.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rediscache::{RedisCache, cache};
use testkit::*;

use common::*;

static CACHE: OnceLock<RedisCache> = OnceLock::new();
static RUNS: Runs = Runs::new();
static GATE: Gate = Gate::new();

fn cache() -> &'static RedisCache {
    CACHE.get_or_init(|| {
        let url = std::env::var("RC_TEST_URL").expect("RC_TEST_URL");
        RedisCache::builder().url(url).build().expect("valid url")
    })
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Both processes run this same function, so they share its key. The parent's call blocks at
/// the gate; a child's call, if it ever computed, would return 2000 + x.
#[cache(cache = cache(), refresh = 60, expire = 120, retry = 60, wait = true)]
fn slow_report(x: u64) -> u64 {
    if std::env::var("RC_CHILD").is_ok() {
        RUNS.tick();
        return 2000 + x;
    }
    RUNS.tick();
    GATE.wait();
    1000 + x
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_waits_for_the_parent() {
    let value = slow_report(7);
    let s = cache().stats_blocking().unwrap();
    println!(
        "RESULT value={value} runs={} done_ms={} sleep={}",
        RUNS.get(),
        now_ms(),
        s.sleep
    );
}

#[test]
fn a_waiter_in_another_process_wakes_when_the_value_lands_without_computing() {
    let server = RedisServer::start();
    let url = server.url();
    CACHE
        .set(RedisCache::builder().url(&url).build().unwrap())
        .unwrap();
    let parent = std::thread::spawn(|| slow_report(7));
    assert!(eventually(SOON, || RUNS.get() == 1), "the parent computes");

    let child_url = url;
    let child = std::thread::spawn(move || {
        run_child(
            "child_waits_for_the_parent",
            &[("RC_TEST_URL", child_url), ("RC_CHILD", "1".into())],
        )
    });
    // The child is waiting once it has subscribed to the entry's channel.
    let channel = "rediscache:{processes::slow_report(7)}:done";
    let subscribed = || server.subscribers(channel) == 1;
    assert!(
        eventually(Duration::from_secs(60), subscribed),
        "the child subscribed"
    );
    let opened_ms = now_ms();
    let opened = Instant::now();
    GATE.open();
    assert_eq!(parent.join().unwrap(), 1007);
    let out = child.join().unwrap();
    assert_eq!(
        child_field(&out, "value"),
        "1007",
        "the child got the parent's value"
    );
    assert_eq!(
        child_field(&out, "runs"),
        "0",
        "the child never ran the function"
    );
    assert_eq!(child_field(&out, "sleep"), "1", "it counted one sleep");
    let woke_after: u128 = child_field(&out, "done_ms")
        .parse::<u128>()
        .unwrap()
        .saturating_sub(opened_ms);
    println!("the child returned {woke_after} ms after the value landed (retry is 60 s)");
    assert!(
        opened.elapsed() < Duration::from_secs(30),
        "woken by the store, not by the 60 s retry"
    );
    let s = cache().stats_blocking().unwrap();
    assert_eq!(
        (s.wait, s.sleep, s.refresh, s.missed),
        (1, 1, 1, 2),
        "stats of both processes add up"
    );
}

#[tokio::test]
async fn a_waiter_whose_leader_fails_elsewhere_wakes_and_computes_itself() {
    // Two caches on one server stand for two processes: separate connections, flights, counters.
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static RUNS_B: Runs = Runs::new();
    static GATE_A: Gate = Gate::new();
    let server = RedisServer::start();
    A.set(cache_on(&server));
    B.set(cache_on(&server));

    #[cache(cache = A, name = "shared", refresh = 60, expire = 120, retry = 60, wait = true)]
    async fn in_a() -> Result<u32, String> {
        GATE_A.wait_async().await;
        Err("a failed".into())
    }
    #[cache(cache = B, name = "shared", refresh = 60, expire = 120, retry = 60, wait = true)]
    async fn in_b() -> Result<u32, String> {
        RUNS_B.tick();
        Ok(2)
    }

    let a = tokio::spawn(in_a());
    assert!(
        eventually_async(SOON, || async { !server.keys("*:lease{*").is_empty() }).await,
        "A holds the lease"
    );
    let b = tokio::spawn(in_b());
    let channel = "rediscache:{shared()}:done";
    let subscribed = || server.subscribers(channel) == 1;
    assert!(
        eventually_async(SOON, || async { subscribed() }).await,
        "B waits on the entry's channel"
    );
    assert_eq!(RUNS_B.get(), 0);
    GATE_A.open();
    assert_eq!(soon(a).await.unwrap(), Err("a failed".into()));
    // Told of the failure, B computes itself at once instead of waiting out the 60 s retry.
    assert_eq!(soon(b).await.unwrap(), Ok(2));
    assert_eq!(RUNS_B.get(), 1);
    // Each read flushes its own process's pending counts first.
    B.stats().await.unwrap();
    let (sa, sb) = (A.stats().await.unwrap(), B.stats().await.unwrap());
    assert_eq!(sa, sb, "one shared set of counters");
    assert_eq!((sa.failed, sa.sleep, sa.wait, sa.refresh), (1, 1, 2, 2));
}

#[tokio::test]
async fn a_waiter_stops_waiting_after_retry_and_computes_itself() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static GATE_A: Gate = Gate::new();
    let server = RedisServer::start();
    A.set(cache_on(&server));
    B.set(cache_on(&server));

    #[cache(cache = A, name = "stuck", refresh = 1, expire = 60, wait = true)]
    async fn in_a() -> String {
        GATE_A.wait_async().await;
        "a".into()
    }
    #[cache(cache = B, name = "stuck", refresh = 1, expire = 60, wait = true)]
    async fn in_b() -> String {
        "b".into()
    }

    let a = tokio::spawn(in_a());
    assert!(eventually_async(SOON, || async { !server.keys("*:lease{*").is_empty() }).await);
    let started = Instant::now();
    // A's computation hangs; after `retry` (1 s, from `refresh`) B computes for itself.
    assert_eq!(soon(in_b()).await, "b");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "B waited for A's lease first: {waited:?}"
    );
    GATE_A.open();
    assert_eq!(soon(a).await.unwrap(), "a");
    A.stats().await.unwrap();
    let s = B.stats().await.unwrap();
    assert_eq!(
        (s.sleep, s.wait),
        (1, 2),
        "B slept, then computed; A computed too"
    );
}
