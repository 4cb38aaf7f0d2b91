//! What the local tier's tests share (`tests/local.rs`, `tests/local_race.rs`): caches with and
//! without the tier on one server, a call whose misses compute a value never seen before, and
//! [`settle`], which waits until every invalidation Redis sent has reached memory.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rediscache::{Function, Local, LocalState, RedisCache, Stats};
use testkit::*;

use crate::common::Builder;

/// The cache timeout of the tests' caches: short, so calls degrade rather than hang while
/// Redis does not answer.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(300);

/// A cache with the local tier on `server`.
pub(crate) fn tiered(server: &RedisServer, local: Local) -> RedisCache {
    server
        .builder()
        .local(local)
        .timeout(TIMEOUT)
        .build()
        .expect("valid")
}

/// A cache without the tier on `server`: another client, writing entries in the crate's format.
pub(crate) fn plain(server: &RedisServer) -> RedisCache {
    server.builder().timeout(TIMEOUT).build().expect("valid")
}

/// Whether hits may come from `cache`'s memory now.
pub(crate) fn live(cache: &RedisCache) -> bool {
    cache
        .local_status()
        .is_some_and(|s| s.state == LocalState::Live)
}

/// Values computed on a miss: `computed-N`, never the same twice in a test binary.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// A value no call has returned before.
pub(crate) fn fresh_value(what: &str) -> String {
    format!("{what}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A call of `f` for `key` through `cache`: the cached value, or on a miss a new `computed-N`.
pub(crate) async fn read(f: &'static Function, cache: &RedisCache, key: &str) -> String {
    f.get_or_compute(cache, (key.to_owned(),), || async {
        fresh_value("computed")
    })
    .await
}

/// [`read`] for sync code.
pub(crate) fn read_blocking(f: &'static Function, cache: &RedisCache, key: &str) -> String {
    f.get_or_compute_blocking(cache, (key.to_owned(),), || fresh_value("computed"))
}

/// The entry key of `f` for the one string argument `key`, as Redis holds it.
pub(crate) fn entry_key(f: &Function, key: &str) -> String {
    format!("rediscache:{{{}(\"{key}\")}}", f.name())
}

/// `f`'s counts in Redis (this process's pending ones flushed first).
pub(crate) async fn stats_of(cache: &RedisCache, f: &Function) -> Stats {
    cache
        .stats_by_function()
        .await
        .expect("stats")
        .get(f.name())
        .copied()
        .unwrap_or_default()
}

/// [`stats_of`] for sync code.
pub(crate) fn stats_of_blocking(cache: &RedisCache, f: &Function) -> Stats {
    cache
        .stats_by_function_blocking()
        .expect("stats")
        .get(f.name())
        .copied()
        .unwrap_or_default()
}

/// Waits until the tier is live (a cache starts tracking on first use).
pub(crate) async fn wait_live(cache: &RedisCache) {
    let _ = cache.ping().await;
    assert!(
        eventually_async(SOON, || async { live(cache) }).await,
        "the tier went live: {:?}",
        cache.local_status()
    );
}

/// Reads `key` until a read is served from memory, and returns that value.
pub(crate) async fn in_memory(f: &'static Function, cache: &RedisCache, key: &str) -> String {
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let before = stats_of(cache, f).await.local_hits;
        let value = read(f, cache, key).await;
        if stats_of(cache, f).await.local_hits > before {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{key} is served from memory: {:?}",
            cache.local_status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`in_memory`] for sync code.
pub(crate) fn in_memory_blocking(f: &'static Function, cache: &RedisCache, key: &str) -> String {
    let mut served = None;
    let held = eventually(SOON, || {
        let before = stats_of_blocking(cache, f).local_hits;
        let value = read_blocking(f, cache, key);
        served = Some(value);
        stats_of_blocking(cache, f).local_hits > before
    });
    assert!(
        held,
        "{key} is served from memory: {:?}",
        cache.local_status()
    );
    served.expect("read")
}

/// The marker entry of [`settle`].
pub(crate) static MARKER: Function = Function::new("local::marker")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

/// Returns once every invalidation Redis sent `cache` before the call has been applied to its
/// memory (or the tier has been emptied since): a marker entry held in memory is rewritten by
/// `other`, and Redis reports that write after every earlier change, on the same connection;
/// its copy goes when the report arrives.
pub(crate) async fn settle(cache: &RedisCache, other: &RedisCache) {
    let held = in_memory(&MARKER, cache, "m").await;
    MARKER
        .set(other, ("m".to_owned(),), &fresh_value("marker"))
        .await
        .expect("set the marker");
    assert!(
        eventually_async(SOON, || async { read(&MARKER, cache, "m").await != held }).await,
        "the marker's invalidation arrived"
    );
}

/// [`settle`] for sync code.
pub(crate) fn settle_blocking(cache: &RedisCache, other: &RedisCache) {
    let held = in_memory_blocking(&MARKER, cache, "m");
    MARKER
        .set_blocking(other, ("m".to_owned(),), &fresh_value("marker"))
        .expect("set the marker");
    assert!(
        eventually(SOON, || read_blocking(&MARKER, cache, "m") != held),
        "the marker's invalidation arrived"
    );
}

/// One value of `INFO commandstats`: the `calls` of `command` (lower case), 0 if never called.
pub(crate) fn command_calls(server: &RedisServer, command: &str) -> u64 {
    let info = server.cli(&["INFO", "commandstats"]).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
