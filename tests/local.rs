//! The local tier on a private `redis-server`: hits from memory, and every way Redis says an
//! entry changed reaching the copy in memory.

mod common;

use std::time::Duration;

use rediscache::{Local, LocalState, RedisCache, cache};
use testkit::*;

use common::*;

static CACHE: Slot<RedisCache> = Slot::new();
static RUNS: Runs = Runs::new();

#[cache(cache = CACHE, name = "local::rate", refresh = 60, expire = 120, wait = true)]
async fn rate(currency: &str) -> String {
    RUNS.tick();
    format!("{currency}@{}", RUNS.get())
}

fn live(cache: &RedisCache) -> bool {
    cache
        .local_status()
        .is_some_and(|s| s.state == LocalState::Live)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_come_from_memory_and_an_external_write_reaches_them() {
    let server = RedisServer::start();
    CACHE.set(server.builder().local(Local::new()).build().expect("valid"));
    let cache = CACHE.get().expect("set");
    assert_eq!(rate("EUR").await, "EUR@1");
    assert!(
        eventually(Duration::from_secs(10), || live(cache)),
        "{:?}",
        cache.local_status()
    );
    // The first hit after the tier is live fills it; the next ones come from memory.
    assert_eq!(rate("EUR").await, "EUR@1");
    for _ in 0..100 {
        assert_eq!(rate("EUR").await, "EUR@1");
    }
    let stats = cache.stats().await.expect("stats");
    assert!(stats.local_fills >= 1, "{stats:?}");
    assert!(stats.local_hits >= 99, "{stats:?}");
    // Someone else deletes the entry: the copy in memory goes.
    server
        .cli(&["DEL", "rediscache:{local::rate(\"EUR\")}"])
        .expect("del");
    assert!(
        eventually_async(Duration::from_secs(5), || async {
            rate("EUR").await == "EUR@2"
        })
        .await,
        "the delete reached memory"
    );
}
