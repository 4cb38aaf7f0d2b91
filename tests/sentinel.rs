//! Redis Sentinel: the cache finds the primary through the sentinels and follows it through a
//! failover. (The core semantics suite also runs here:
//! `REDISCACHE_TEST_TOPOLOGY=sentinel cargo test --test semantics`.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rediscache::{RedisCache, cache};
use testkit::*;

use common::*;

const TIMEOUT: Duration = Duration::from_millis(500);
/// Any one call during the failover: the timeout, plus slack for a shared 2-core machine.
const BOUND: Duration = Duration::from_millis(500 + 1500);

fn value(k: u64) -> u64 {
    k * 7_777 + 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_follows_the_primary_through_a_failover_under_load() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let mut setup = Sentinels::start();
    CACHE.set(
        setup
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

    for k in 0..20 {
        assert_eq!(compute(k).await, value(k));
    }
    assert_eq!(RUNS.get(), 20);
    assert!(
        !setup.primary.keys("*}").is_empty(),
        "the entries live on the primary"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(under_load(8, 20, stop.clone(), compute, value, BOUND));
    tokio::time::sleep(Duration::from_millis(200)).await;
    setup.fail_over();
    stop.store(true, Ordering::SeqCst);
    let (calls, max_ms) = soon(load)
        .await
        .expect("every call returned the right value in time");
    println!("failover under load: {calls} calls, slowest {max_ms} ms");

    // Entries replicated before the failover are hits on the new primary.
    let cache = &*CACHE;
    assert!(
        eventually_async(SOON, || async { cache.ping().await.is_ok() }).await,
        "ping reaches the new primary"
    );
    assert!(
        eventually_async(SOON, || async {
            let before = RUNS.get();
            compute(3).await == value(3) && compute(3).await == value(3) && RUNS.get() == before
        })
        .await,
        "hits resume on the promoted replica"
    );
    assert_eq!(setup.master_port(), Some(setup.replica.port));
    let runs = RUNS.get();
    assert_eq!(compute(1000).await, value(1000));
    assert_eq!(compute(1000).await, value(1000));
    assert_eq!(
        RUNS.get(),
        runs + 1,
        "new entries are stored on the new primary"
    );
    assert!(
        setup
            .replica
            .keys("*")
            .iter()
            .any(|k| k.contains("compute(1000)"))
    );
}

#[tokio::test]
async fn an_acl_user_on_the_primary_and_its_replica() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let setup = Sentinels::start();
    for server in [&setup.primary, &setup.replica] {
        let out = server.cli(&[
            "ACL", "SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all",
        ]);
        assert_eq!(out.as_deref().map(str::trim), Some("OK"));
    }
    CACHE.set(
        setup
            .builder()
            .username("app")
            .password("s3cret")
            .build()
            .unwrap(),
    );

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn plus(x: u64) -> u64 {
        RUNS.tick();
        x + 1
    }

    CACHE.ping().await.unwrap();
    assert_eq!(plus(1).await, 2);
    assert_eq!(plus(1).await, 2);
    assert_eq!(RUNS.get(), 1);
    let clients = setup.primary.cli(&["CLIENT", "LIST"]).unwrap();
    assert!(
        clients.contains("user=app"),
        "the cache connects as app: {clients}"
    );
}
