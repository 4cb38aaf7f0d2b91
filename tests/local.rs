//! The local tier on private single `redis-server`s: hits from memory, and every way Redis
//! says an entry changed reaching the copy in memory. Another process's `NAME_set`, refresh,
//! `NAME_invalidate` and `NAME_invalidate_all`; this process's own writes, read at once; a
//! killed tracking connection with a write in the gap; a server paused (half-open) bounded by
//! the lease; `FLUSHALL`/`FLUSHDB`; eviction under `maxmemory`; `redis-cli` writes, deletes,
//! renames and TTLs; a server that refuses tracking (an ACL, a renamed `CLIENT`); memory held
//! within `max_bytes`; stale hits from memory that do not flood Redis with lease attempts;
//! functions that opt out.
//!
//! The tests that set the process-wide test hooks (the fill race, expiry without
//! invalidations) are in `tests/local_race.rs`.

mod common;
mod local_support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rediscache::{Function, Local, LocalState, RedisCache, cache};
use testkit::*;

use common::*;
use local_support::*;

static CACHE: Slot<RedisCache> = Slot::new();
static RUNS: Runs = Runs::new();

#[cache(cache = CACHE, name = "local::rate", refresh = 60, expire = 120, wait = true)]
async fn rate(currency: &str) -> String {
    RUNS.tick();
    format!("{currency}@{}", RUNS.get())
}

fn now_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    i64::try_from(ms).expect("fits")
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

// --- Another process writes, refreshes, invalidates ---------------------------------------

/// The function both processes call.
static SHARED: Function = Function::new("local::shared")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

/// The other process: one action on `SHARED`, then the wall-clock ms at which it returned.
#[tokio::test]
#[ignore = "run by the parent test in a child process"]
async fn child_acts() {
    let url = std::env::var("RC_TEST_URL").expect("RC_TEST_URL");
    let key = std::env::var("RC_KEY").expect("RC_KEY");
    let cache = RedisCache::builder().url(url).build().expect("valid url");
    // Connected before the clock starts: the action is one round trip or two.
    cache.ping().await.expect("ping");
    let started_ms = now_ms();
    match std::env::var("RC_ACTION").expect("RC_ACTION").as_str() {
        "set" => SHARED
            .set(&cache, (key,), &"child-set".to_owned())
            .await
            .expect("set"),
        "refresh" => {
            let value: String = SHARED
                .refresh_now(&cache, (key,), || async { "child-refresh".to_owned() })
                .await;
            assert_eq!(value, "child-refresh");
        }
        "invalidate" => SHARED.invalidate(&cache, (key,)).await.expect("invalidate"),
        "invalidate_all" => SHARED.invalidate_all(&cache).await.expect("invalidate_all"),
        other => panic!("unknown action {other}"),
    }
    println!("RESULT started_ms={started_ms} done_ms={}", now_ms());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_writes_refreshes_and_invalidates_and_memory_follows_within_a_bound() {
    let server = RedisServer::start();
    show_warnings();
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    for action in ["set", "refresh", "invalidate", "invalidate_all"] {
        let key = format!("k-{action}");
        let old = fresh_value("old");
        SHARED.set(&other, (key.clone(),), &old).await.expect("set");
        assert_eq!(in_memory(&SHARED, &cache, &key).await, old);
        let hits_before = stats_of(&cache, &SHARED).await.local_hits;

        let env = vec![
            ("RC_TEST_URL", server.url()),
            ("RC_KEY", key.clone()),
            ("RC_ACTION", action.to_owned()),
        ];
        let child = std::thread::spawn(move || run_child("child_acts", &env));
        // Served from memory until the change arrives, then never again.
        let mut old_reads = 0u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        let (seen_ms, new) = loop {
            let value = read(&SHARED, &cache, &key).await;
            if value != old {
                break (now_ms(), value);
            }
            old_reads += 1;
            assert!(
                Instant::now() < deadline,
                "{action}: the change never reached memory"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        for _ in 0..200 {
            assert_ne!(
                read(&SHARED, &cache, &key).await,
                old,
                "{action}: old again"
            );
        }
        let out = child.join().expect("child thread");
        let (started, done): (i64, i64) = (
            child_field(&out, "started_ms").parse().expect("ms"),
            child_field(&out, "done_ms").parse().expect("ms"),
        );
        println!(
            "{action}: memory served the new value {} ms after the other process's call \
             returned ({} ms after it started; {old_reads} reads of the old value before)",
            seen_ms - done,
            seen_ms - started
        );
        match action {
            "set" => assert_eq!(new, "child-set"),
            "refresh" => assert_eq!(new, "child-refresh"),
            // Invalidated: this process computes anew.
            _ => assert!(new.starts_with("computed-"), "{action}: {new}"),
        }
        assert!(
            seen_ms - done < 1000,
            "{action}: the old value was served {} ms after the change",
            seen_ms - done
        );
        let hits = stats_of(&cache, &SHARED).await.local_hits - hits_before;
        assert!(
            hits >= old_reads.saturating_sub(1),
            "{action}: the old value came from memory ({hits} local hits, {old_reads} reads)"
        );
    }
}

static OWN: Function = Function::new("local::own")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_process_reads_its_own_writes_at_once() {
    let server = RedisServer::start();
    let cache = tiered(&server, Local::new());
    wait_live(&cache).await;
    put(&cache, &OWN, "k", "first").await;
    let mut held = in_memory(&OWN, &cache, "k").await;
    for i in 0..40 {
        // The copy in memory goes before the write returns, not when its report arrives.
        let wrote = match i % 4 {
            0 => {
                let value = fresh_value("set");
                put(&cache, &OWN, "k", &value).await;
                value
            }
            1 => {
                OWN.refresh_now(&cache, ("k".to_owned(),), || async {
                    fresh_value("refreshed")
                })
                .await
            }
            2 => {
                OWN.invalidate(&cache, ("k".to_owned(),))
                    .await
                    .expect("invalidate");
                String::new()
            }
            _ => {
                OWN.invalidate_all(&cache).await.expect("invalidate_all");
                String::new()
            }
        };
        let next = read(&OWN, &cache, "k").await;
        assert_ne!(
            next, held,
            "round {i}: the copy from before this process's own write"
        );
        if !wrote.is_empty() {
            assert_eq!(next, wrote, "round {i}");
        }
        held = in_memory(&OWN, &cache, "k").await;
    }
}

// --- Tracking lost: a killed connection, a paused server ----------------------------------

/// The id of the tracking connection in `CLIENT LIST`, if there is one.
fn tracking_id(server: &RedisServer) -> Option<String> {
    let list = server.cli(&["CLIENT", "LIST"]).expect("CLIENT LIST");
    list.lines()
        .find(|l| l.contains("name=rediscache-tracking"))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
}

static KILLED: Function = Function::new("local::killed")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_tracking_connection_with_a_write_in_the_gap_serves_nothing_stale() {
    let server = RedisServer::start();
    show_warnings();
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    put(&other, &KILLED, "k", "before").await;
    assert_eq!(in_memory(&KILLED, &cache, "k").await, "before");
    cache.take_stats().await.expect("reset");
    let id = tracking_id(&server).expect("a tracking connection");

    let killed = server
        .cli(&["CLIENT", "KILL", "ID", &id])
        .expect("CLIENT KILL");
    assert_eq!(killed.trim(), "1", "killed {id}");
    // The write nobody reports: tracking is off for it.
    KILLED
        .set(&other, ("k".to_owned(),), &"after".to_owned())
        .await
        .expect("set");
    let written = Instant::now();
    let in_gap = tracking_id(&server).is_none();
    let mut stale = Vec::new();
    let deadline = written + Duration::from_secs(10);
    loop {
        let at = written.elapsed();
        match read(&KILLED, &cache, "k").await.as_str() {
            "after" => break,
            "before" => stale.push(at),
            other => panic!("read {other}"),
        }
        assert!(Instant::now() < deadline, "the old value stayed");
    }
    println!(
        "after the kill: the write landed with {} tracking connection; {} reads of the old \
         value after it, the last {:?} after",
        if in_gap { "no" } else { "a new" },
        stale.len(),
        stale.last()
    );
    assert!(
        stale.iter().all(|at| *at < Duration::from_secs(1)),
        "the old value was served after the write: {stale:?}"
    );
    // Tracking comes back on a new connection, and memory serves again: the new value.
    assert!(
        eventually_async(SOON, || async {
            live(&cache) && tracking_id(&server).is_some_and(|now| now != id)
        })
        .await,
        "tracking back: {:?}",
        cache.local_status()
    );
    assert_eq!(in_memory(&KILLED, &cache, "k").await, "after");
    for _ in 0..50 {
        assert_eq!(read(&KILLED, &cache, "k").await, "after");
    }
    let stats = cache.stats().await.expect("stats");
    assert!(stats.local_flushes >= 1, "the kill flushed: {stats:?}");
}

/// `other` stores `value` as `f`'s entry for `key`, as `NAME_set` does.
async fn put(other: &RedisCache, f: &'static Function, key: &str, value: &str) {
    f.set(other, (key.to_owned(),), &value.to_owned())
        .await
        .expect("set");
}

/// `other` stores `value` for `key`; once its report has reached `cache`, `cache` serves it
/// from memory.
async fn put_and_hold(
    other: &RedisCache,
    cache: &RedisCache,
    f: &'static Function,
    key: &str,
    value: &str,
) {
    put(other, f, key, value).await;
    // A copy of an earlier value is served until the write's report arrives.
    assert!(
        eventually_async(SOON, || async { read(f, cache, key).await == value }).await,
        "{key}: the write reached memory"
    );
    assert_eq!(in_memory(f, cache, key).await, value);
}

static PAUSED: Function = Function::new("local::paused")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

/// Reads `f` for `key` every few ms for `span` after `paused` (the moment the server stopped
/// answering): when each read started, and whether it got the value held before.
async fn reads_while_paused(
    cache: &RedisCache,
    f: &'static Function,
    held: &str,
    paused: Instant,
    span: Duration,
) -> (Vec<(Duration, bool)>, bool) {
    let mut reads = Vec::new();
    let mut went_down = false;
    while paused.elapsed() < span {
        let at = paused.elapsed();
        let value = tokio::time::timeout(TIMEOUT * 4 + Duration::from_secs(1), read(f, cache, "k"))
            .await
            .expect("a call degrades rather than hangs");
        reads.push((at, value == held));
        if at > Local::DEFAULT_LEASE {
            went_down |= cache
                .local_status()
                .is_some_and(|s| s.state == LocalState::Down);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (reads, went_down)
}

/// What a pause must show: memory served right after it began, and never later than the lease
/// after the last heartbeat (sent before the pause); the tier went down.
fn check_pause(what: &str, reads: &[(Duration, bool)], went_down: bool) {
    let from_memory: Vec<Duration> = reads.iter().filter(|r| r.1).map(|r| r.0).collect();
    println!(
        "{what}: {} reads, {} served from memory, the last {:?} into the pause",
        reads.len(),
        from_memory.len(),
        from_memory.last()
    );
    assert!(
        from_memory
            .first()
            .is_some_and(|at| *at < Duration::from_millis(300)),
        "{what}: memory served right after the pause began: {reads:?}"
    );
    // A read served from memory checked the lease when it started.
    let bound = Local::DEFAULT_LEASE + Duration::from_millis(50);
    assert!(
        from_memory.iter().all(|at| *at < bound),
        "{what}: served from memory after the lease: {reads:?}"
    );
    assert!(
        reads
            .iter()
            .any(|(at, held)| *at >= Duration::from_secs(2) && !held),
        "{what}: calls after 2 s of pause, not from memory: {reads:?}"
    );
    assert!(went_down, "{what}: the tier went down");
}

/// After a pause: tracking confirmed again, and memory serves what Redis holds.
async fn back_after_pause(cache: &RedisCache, f: &'static Function, other: &RedisCache) {
    // Both caches' circuit breakers let calls through again.
    for c in [cache, other] {
        assert!(
            eventually_async(SOON, || async { c.stats().await.is_ok() }).await,
            "Redis answers again"
        );
    }
    assert!(
        eventually_async(SOON, || async { live(cache) }).await,
        "tracking back: {:?}",
        cache.local_status()
    );
    // Stores that timed out here may have landed when the server woke: what Redis holds now.
    settle(cache, other).await;
    let held = f
        .get::<String>(other, ("k".to_owned(),))
        .await
        .expect("get")
        .map(|c| c.value);
    let served = in_memory(f, cache, "k").await;
    assert_eq!(Some(served), held, "memory serves what Redis holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pause_half_open_serves_from_memory_no_longer_than_the_lease() {
    let server = RedisServer::start();
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    put(&other, &PAUSED, "k", "held").await;
    assert_eq!(in_memory(&PAUSED, &cache, "k").await, "held");
    let reply = server
        .cli(&["CLIENT", "PAUSE", "4000", "ALL"])
        .expect("CLIENT PAUSE");
    // In effect by now: every heartbeat answered was sent before.
    let paused = Instant::now();
    assert_eq!(reply.trim(), "OK");
    let (reads, went_down) =
        reads_while_paused(&cache, &PAUSED, "held", paused, Duration::from_millis(3500)).await;
    check_pause("CLIENT PAUSE", &reads, went_down);
    back_after_pause(&cache, &PAUSED, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_serves_from_memory_no_longer_than_the_lease() {
    let server = RedisServer::start();
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    put(&other, &PAUSED, "k", "held").await;
    assert_eq!(in_memory(&PAUSED, &cache, "k").await, "held");
    server.pause();
    let paused = Instant::now();
    let (reads, went_down) =
        reads_while_paused(&cache, &PAUSED, "held", paused, Duration::from_millis(3000)).await;
    server.resume();
    check_pause("SIGSTOP", &reads, went_down);
    back_after_pause(&cache, &PAUSED, &other).await;
}

// --- Flushes, eviction, writes by other tools ---------------------------------------------

static FLUSHED: Function = Function::new("local::flushed")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_and_flushdb_empty_memory_and_count_one_flush_each() {
    let server = RedisServer::start();
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    for command in [
        &["FLUSHALL"][..],
        &["FLUSHDB"],
        &["FLUSHALL", "ASYNC"],
        // Tracking ignores database numbers: a flush of another database empties memory
        // too (spurious, but safe).
        &["-n", "3", "FLUSHDB"],
    ] {
        let held = fresh_value("held");
        put_and_hold(&other, &cache, &FLUSHED, "k", &held).await;
        cache.take_stats().await.expect("reset");
        let fills = stats_of(&cache, &FLUSHED).await.local_fills;
        server.cli(command).expect("flush");
        let flushed = Instant::now();
        let same_db = command[0] != "-n";
        if same_db {
            // The entry is gone from Redis: a read computes.
            let mut old = 0;
            while read(&FLUSHED, &cache, "k").await == held {
                old += 1;
                assert!(
                    flushed.elapsed() < Duration::from_secs(1),
                    "{command:?}: the copy stayed"
                );
            }
            println!(
                "{command:?}: {old} reads of the flushed value, the copy gone {:?} after",
                flushed.elapsed()
            );
        } else {
            // Redis still holds it: memory is filled again with one GET.
            assert!(
                eventually_async(SOON, || async {
                    read(&FLUSHED, &cache, "k").await == held
                        && stats_of(&cache, &FLUSHED).await.local_fills > fills
                })
                .await,
                "{command:?}: refilled"
            );
        }
        assert!(
            eventually_async(SOON, || async {
                cache.stats().await.is_ok_and(|s| s.local_flushes == 1)
            })
            .await,
            "{command:?}: one flush: {:?}",
            cache.stats().await
        );
        assert!(
            live(&cache),
            "a flush keeps tracking: {:?}",
            cache.local_status()
        );
        let _ = in_memory(&FLUSHED, &cache, "k").await;
        assert_eq!(cache.stats().await.expect("stats").local_flushes, 1);
    }
}

static EVICTED: Function = Function::new("local::evicted")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_evicted_under_maxmemory_are_not_served_from_memory() {
    let server =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    const KEYS: usize = 300;
    let values: Vec<String> = (0..KEYS)
        .map(|i| format!("{i}:{}", "x".repeat(8 * 1024)))
        .collect();
    for (i, value) in values.iter().enumerate() {
        let key = format!("k{i}");
        // Each entry is in memory when written; later writes make Redis evict it.
        put_and_hold(&other, &cache, &EVICTED, &key, value).await;
    }
    // Redis may evict the stats hash too: what memory holds is read from the tier itself.
    let held = cache.local_status().expect("a tier").entries;
    let mut conn = server.conn();
    let gone: Vec<usize> = (0..KEYS)
        .filter(|i| {
            let exists: bool = redis::cmd("EXISTS")
                .arg(entry_key(&EVICTED, &format!("k{i}")))
                .query(&mut conn)
                .expect("EXISTS");
            !exists
        })
        .collect();
    let info = server.cli(&["INFO", "stats"]).expect("INFO");
    let evicted_keys = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .map(str::trim)
        .unwrap_or("?")
        .to_owned();
    let kept = KEYS - gone.len();
    println!(
        "{KEYS} entries of 8 KiB in 2 MiB: {kept} still in Redis, {held} in memory \
         (evicted_keys {evicted_keys})"
    );
    assert!(gone.len() >= KEYS / 4, "Redis evicted: {}", gone.len());
    // Every eviction before the EXISTS above has been reported once this returns.
    settle(&cache, &other).await;
    let after = cache.local_status().expect("a tier").entries;
    assert!(
        after as usize <= kept + 1,
        "memory holds {after} entries, Redis {kept} (and the marker)"
    );
    for i in &gone {
        let value = read(&EVICTED, &cache, &format!("k{i}")).await;
        assert_ne!(value, values[*i], "k{i} was evicted but served from memory");
        assert!(value.starts_with("computed-"), "k{i} recomputed: {value}");
    }
}

static EXTERNAL: Function = Function::new("local::external")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_set_garbage_del_unlink_and_rename_evict_the_copy() {
    let server = RedisServer::start();
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    for op in ["SET", "DEL", "UNLINK", "RENAME", "EXPIRE"] {
        let key = format!("k-{op}");
        let entry = entry_key(&EXTERNAL, &key);
        let held = fresh_value("held");
        put(&other, &EXTERNAL, &key, &held).await;
        assert_eq!(in_memory(&EXTERNAL, &cache, &key).await, held);
        let invalidations = cache.stats().await.expect("stats").local_invalidations;
        let args: Vec<&str> = match op {
            "SET" => vec!["SET", &entry, "garbage"],
            "DEL" => vec!["DEL", &entry],
            "UNLINK" => vec!["UNLINK", &entry],
            "RENAME" => vec!["RENAME", &entry, "rediscache:{renamed}"],
            _ => vec!["PEXPIRE", &entry, "1"],
        };
        let reply = server.cli(&args).expect("redis-cli");
        assert!(!reply.starts_with("ERR"), "{op}: {reply}");
        let changed = Instant::now();
        let mut old = 0;
        // A write, delete or rename is reported at once. A TTL cut short by someone else is
        // reported when Redis expires the key, lazily or in its active cycle (10 times a
        // second by default): memory, which reads no TTL, serves it until then.
        let deadline = changed + Duration::from_secs(1);
        let new = loop {
            let value = read(&EXTERNAL, &cache, &key).await;
            if value != held {
                break value;
            }
            old += 1;
            assert!(Instant::now() < deadline, "{op}: still served from memory");
        };
        println!(
            "{op}: the copy went {:?} after redis-cli returned ({old} reads of it before)",
            changed.elapsed()
        );
        assert!(new.starts_with("computed-"), "{op}: recomputed: {new}");
        assert!(
            eventually_async(SOON, || async {
                cache
                    .stats()
                    .await
                    .is_ok_and(|s| s.local_invalidations > invalidations)
            })
            .await,
            "{op}: counted as an invalidation"
        );
    }
}

// --- A server that refuses tracking --------------------------------------------------------

/// Log lines, captured by a process-wide subscriber (the tier warns from the crate's runtime).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

static REFUSED: Function = Function::new("local::refused")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

/// A process on a server that refuses tracking to its user: calls are correct, the tier says
/// so, and warns once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the parent test in a child process"]
async fn child_refused() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .init();
    let url = std::env::var("RC_TEST_URL").expect("RC_TEST_URL");
    let cache = RedisCache::builder()
        .url(url)
        .local(Local::new())
        .timeout(TIMEOUT)
        .build()
        .expect("valid url");
    let first = read(&REFUSED, &cache, "k").await;
    assert!(
        eventually_async(SOON, || async {
            cache
                .local_status()
                .is_some_and(|s| s.state == LocalState::Refused)
        })
        .await,
        "refused: {:?}",
        cache.local_status()
    );
    for _ in 0..100 {
        assert_eq!(read(&REFUSED, &cache, "k").await, first, "served via Redis");
    }
    let stats = stats_of(&cache, &REFUSED).await;
    let text = String::from_utf8_lossy(&logs.0.lock().expect("log")).into_owned();
    let warnings = text.matches("refuses client tracking").count();
    println!(
        "RESULT hits={} local_hits={} local_fills={} missed={} warnings={warnings}",
        stats.success, stats.local_hits, stats.local_fills, stats.missed
    );
    println!("{text}");
}

/// What `child_refused` must report: no hit from memory, the values of Redis, one warning.
fn check_refused(out: &str) {
    assert_eq!(child_field(out, "warnings"), "1", "one warning:\n{out}");
    assert_eq!(child_field(out, "local_hits"), "0", "{out}");
    assert_eq!(child_field(out, "local_fills"), "0", "{out}");
    assert_eq!(child_field(out, "missed"), "1", "{out}");
    assert_eq!(child_field(out, "hits"), "100", "hits from Redis:\n{out}");
}

#[test]
fn a_user_denied_client_tracking_keeps_the_tier_off_with_one_warning() {
    let server = RedisServer::start();
    let acl = server
        .cli(&[
            "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-client",
        ])
        .expect("ACL SETUSER");
    assert_eq!(acl.trim(), "OK");
    let url = format!("redis://app:pw@127.0.0.1:{}/0", server.port);
    check_refused(&run_child("child_refused", &[("RC_TEST_URL", url)]));
}

#[test]
fn a_server_without_the_client_command_keeps_the_tier_off_with_one_warning() {
    let server = RedisServer::start_with(&["--rename-command", "CLIENT", ""]);
    check_refused(&run_child(
        "child_refused",
        &[("RC_TEST_URL", server.url())],
    ));
}

// --- Memory -------------------------------------------------------------------------------

static HEAVY: Function = Function::new("local::heavy")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

/// This process's resident memory in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// A process that reads ten times its tier's budget: what it holds and how its memory grew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the parent test in a child process"]
async fn child_memory() {
    const BUDGET: u64 = 1 << 20;
    let url = std::env::var("RC_TEST_URL").expect("RC_TEST_URL");
    let cache = RedisCache::builder()
        .url(url)
        .local(Local::new().max_bytes(BUDGET))
        .build()
        .expect("valid url");
    wait_live(&cache).await;
    // Warm up every path once (a miss, a store, a fill, a hit) before measuring.
    put(&cache, &HEAVY, "warm", &"w".repeat(50_000)).await;
    let _ = in_memory(&HEAVY, &cache, "warm").await;
    let before = rss();
    let sizes = [100usize, 1_000, 4_000, 10_000, 30_000, 60_000];
    let mut filled = 0u64;
    let mut i = 0usize;
    let mut fills = stats_of(&cache, &HEAVY).await.local_fills;
    while filled < 12 * BUDGET {
        let key = format!("k{i}");
        let value = format!("{i}:{}", "v".repeat(sizes[i % sizes.len()]));
        put(&cache, &HEAVY, &key, &value).await;
        // Read until a read filled memory (a fill whose GET raced the report of the write
        // above is discarded).
        let deadline = Instant::now() + SOON;
        loop {
            assert_eq!(read(&HEAVY, &cache, &key).await, value);
            let now = stats_of(&cache, &HEAVY).await.local_fills;
            if now > fills {
                fills = now;
                break;
            }
            assert!(Instant::now() < deadline, "{key} never filled");
        }
        filled += value.len() as u64;
        i += 1;
    }
    let held = eventually_async(SOON, || async {
        cache.local_status().is_some_and(|s| s.bytes <= BUDGET)
    })
    .await;
    let status = cache.local_status().expect("a tier");
    let grown = rss().saturating_sub(before);
    println!(
        "RESULT entries={i} filled={filled} fills={fills} held={held} bytes={} \
         held_entries={} grown={grown}",
        status.bytes, status.entries
    );
}

#[test]
fn memory_stays_within_max_bytes_under_ten_times_the_budget() {
    let server = RedisServer::start();
    let out = run_child("child_memory", &[("RC_TEST_URL", server.url())]);
    let field = |name: &str| -> u64 { child_field(&out, name).parse().expect("a number") };
    let (budget, grown) = (1u64 << 20, field("grown"));
    println!(
        "{} entries, {} bytes read into a 1 MiB tier ({} fills): {} entries in {} bytes \
         held; resident memory grew {:.1} MiB",
        field("entries"),
        field("filled"),
        field("fills"),
        field("held_entries"),
        field("bytes"),
        grown as f64 / f64::from(1 << 20)
    );
    assert_eq!(child_field(&out, "held"), "true", "{out}");
    assert!(field("bytes") <= budget);
    assert!(field("filled") >= 10 * budget);
    // Evicting, not emptied: the tier still holds what fits.
    assert!(field("bytes") >= budget / 4, "{out}");
    assert!(
        grown <= 6 * budget,
        "resident memory grew {grown} bytes for a {budget}-byte tier"
    );
}

// --- Stale hits from memory ----------------------------------------------------------------

static STALE: Function = Function::new("local::stale")
    .refresh(Duration::from_secs(1))
    .expire(Duration::from_secs(60));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_hits_from_memory_try_the_lease_at_most_once_a_second_per_entry() {
    let server = RedisServer::start();
    let cache = tiered(&server, Local::new());
    let other = plain(&server);
    wait_live(&cache).await;
    let keys = ["a", "b"];
    for key in keys {
        put(&other, &STALE, key, "stale").await;
        // Another process computes it: its lease stands for the whole test.
        let lease = lease_of(&entry_key(&STALE, key));
        server
            .cli(&["SET", &lease, "another-process", "PX", "60000"])
            .expect("SET lease");
    }
    // Stale once older than `refresh`.
    assert!(
        eventually_async(SOON, || async {
            STALE
                .get::<String>(&other, ("a".to_owned(),))
                .await
                .is_ok_and(|c| c.is_some_and(|c| c.freshness == rediscache::Freshness::Stale))
        })
        .await
    );
    for key in keys {
        assert_eq!(in_memory(&STALE, &cache, key).await, "stale");
    }
    let hits_before = stats_of(&cache, &STALE).await.local_hits;
    server.cli(&["CONFIG", "RESETSTAT"]).expect("RESETSTAT");
    let started = Instant::now();
    let mut reads = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        for key in keys {
            assert_eq!(read(&STALE, &cache, key).await, "stale");
            reads += 1;
        }
        tokio::task::yield_now().await;
    }
    let took = started.elapsed();
    let attempts = command_calls(&server, "evalsha") + command_calls(&server, "eval");
    let gets = command_calls(&server, "get");
    let hits = stats_of(&cache, &STALE).await.local_hits - hits_before;
    println!(
        "{reads} stale reads of {} entries in {took:?}: {hits} from memory, {attempts} lease \
         attempts, {gets} GETs",
        keys.len()
    );
    assert!(hits + 10 >= reads, "served from memory: {hits} of {reads}");
    assert!(reads >= 1000, "{reads} reads");
    let bound = keys.len() as u64 * (took.as_secs() + 2);
    assert!(
        attempts <= bound,
        "{attempts} lease attempts for {} entries in {took:?}",
        keys.len()
    );
    assert!(
        attempts >= keys.len() as u64,
        "stale hits do ask: {attempts}"
    );
}

// --- Opting out ----------------------------------------------------------------------------

static OPT_CACHE: Slot<RedisCache> = Slot::new();

#[cache(cache = OPT_CACHE, name = "local::opted_out", refresh = 60, expire = 120, wait = true, local = false)]
async fn opted_out(x: u32) -> String {
    fresh_value(&format!("out{x}"))
}

#[cache(cache = OPT_CACHE, name = "local::opted_in", refresh = 60, expire = 120, wait = true)]
async fn opted_in(x: u32) -> String {
    fresh_value(&format!("in{x}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_with_local_false_is_never_served_from_memory() {
    let server = RedisServer::start();
    OPT_CACHE.set(tiered(&server, Local::new()));
    let cache = &*OPT_CACHE;
    wait_live(cache).await;
    let (out, inside) = (opted_out(1).await, opted_in(1).await);
    for _ in 0..200 {
        assert_eq!(opted_out(1).await, out);
        assert_eq!(opted_in(1).await, inside);
    }
    let by = cache.stats_by_function().await.expect("stats");
    let (o, i) = (by["local::opted_out"], by["local::opted_in"]);
    assert_eq!(
        (o.local_hits, o.local_fills, o.success),
        (0, 0, 200),
        "{o:?}"
    );
    assert!(i.local_hits >= 190, "the tier serves the other: {i:?}");
    // Every call reads Redis: a delete shows on the very next call.
    server
        .cli(&["DEL", "rediscache:{local::opted_out(1)}"])
        .expect("DEL");
    assert_ne!(opted_out(1).await, out);
}

// --- What a hit from memory returns ----------------------------------------------------------

static TYPES_CACHE: Slot<RedisCache> = Slot::new();

/// Cloneable: a hit from memory clones the value decoded when the entry was filled.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Quote {
    pair: String,
    bid: f64,
    seq: String,
}

/// Not cloneable: a hit from memory decodes the bytes Redis holds.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Ledger {
    lines: Vec<u32>,
    seq: String,
}

#[cache(cache = TYPES_CACHE, name = "local::quote", refresh = 60, expire = 120, wait = true)]
async fn quote(pair: &str) -> Quote {
    Quote {
        pair: pair.to_owned(),
        bid: 1.25,
        seq: fresh_value("quote"),
    }
}

#[cache(cache = TYPES_CACHE, name = "local::ledger", refresh = 60, expire = 120, wait = true)]
async fn ledger(n: u32) -> Ledger {
    Ledger {
        lines: (0..n).collect(),
        seq: fresh_value("ledger"),
    }
}

#[cache(cache = TYPES_CACHE, name = "local::ledger_sync", refresh = 60, expire = 120, wait = true)]
fn ledger_sync(n: u32) -> Ledger {
    Ledger {
        lines: (0..n).collect(),
        seq: fresh_value("ledger_sync"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_from_memory_return_the_cached_value_cloneable_or_not_sync_or_async() {
    let server = RedisServer::start();
    TYPES_CACHE.set(tiered(&server, Local::new()));
    let cache = &*TYPES_CACHE;
    wait_live(cache).await;
    let (q, l) = (quote("EURUSD").await, ledger(5).await);
    let s = tokio::task::spawn_blocking(|| ledger_sync(3))
        .await
        .expect("sync call");
    for _ in 0..50 {
        assert_eq!(quote("EURUSD").await, q);
        assert_eq!(ledger(5).await, l);
    }
    let again = tokio::task::spawn_blocking(|| (0..50).map(|_| ledger_sync(3)).collect::<Vec<_>>());
    assert!(again.await.expect("sync calls").iter().all(|v| *v == s));
    let by = cache.stats_by_function().await.expect("stats");
    for name in ["local::quote", "local::ledger", "local::ledger_sync"] {
        assert!(
            by[name].local_hits >= 45,
            "{name} served from memory: {:?}",
            by[name]
        );
    }
    // And each copy, cloned or decoded, goes when Redis's entry does.
    for key in [
        "rediscache:{local::quote(\"EURUSD\")}",
        "rediscache:{local::ledger(5)}",
        "rediscache:{local::ledger_sync(3)}",
    ] {
        server.cli(&["DEL", key]).expect("DEL");
    }
    assert!(
        eventually_async(SOON, || async {
            quote("EURUSD").await != q && ledger(5).await != l
        })
        .await,
        "the deletes reached memory"
    );
    let s2 = tokio::task::spawn_blocking(move || eventually(SOON, || ledger_sync(3) != s));
    assert!(
        s2.await.expect("sync"),
        "the delete reached the sync function's copy"
    );
}
