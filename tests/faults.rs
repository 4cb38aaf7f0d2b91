//! Real faults in real `redis-server` processes: paused, killed and restarted, flushed, out of
//! memory, password changed, read-only replica, wrong database, garbage in every key, and
//! functions that fail or panic. Callers always get correct values within a bound.

use std::time::{Duration, Instant};

use rediscache::{RedisCache, cache};
use testkit::*;

const TIMEOUT: Duration = Duration::from_millis(300);
/// What any single call may cost while Redis misbehaves: the timeout, plus slack for a shared
/// 2-core machine.
const BOUND: Duration = Duration::from_millis(300 + 1000);

fn cache_with_timeout(server: &RedisServer) -> RedisCache {
    RedisCache::builder()
        .url(server.url())
        .timeout(TIMEOUT)
        .build()
        .unwrap()
}

async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    let started = Instant::now();
    let out = soon(fut).await;
    let took = started.elapsed();
    assert!(took < BOUND, "a call took {took:?}, more than {BOUND:?}");
    out
}

fn set(server: &RedisServer, args: &[&str]) {
    let out = server
        .cli(args)
        .unwrap_or_else(|| panic!("redis-cli {args:?} failed"));
    assert!(!out.starts_with("ERR"), "{args:?}: {out}");
}

#[tokio::test]
async fn a_paused_redis_costs_one_timeout_then_calls_degrade_and_caching_resumes() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, default = 0)]
    async fn tenfold(x: u64) -> u64 {
        RUNS.tick();
        x * 10
    }

    assert!(eventually_async(SOON, || async { tenfold(1).await == 10 }).await);
    server.pause();
    let started = Instant::now();
    for i in 0..30 {
        let x = 1 + i % 3;
        assert_eq!(
            bounded(tenfold(x)).await,
            x * 10,
            "the real value, not the default"
        );
    }
    let total = started.elapsed();
    assert!(
        total < TIMEOUT * 4,
        "the circuit breaker spares most calls the timeout: 30 calls took {total:?}"
    );
    server.resume();
    let cache = &*CACHE;
    assert!(
        eventually_async(SOON, || async {
            let before = RUNS.get();
            tenfold(2).await == 20 && tenfold(2).await == 20 && RUNS.get() == before
        })
        .await,
        "hits resume after the pause"
    );
    assert!(
        eventually_async(SOON, || async {
            cache.stats().await.is_ok_and(|s| s.errors >= 1)
        })
        .await
    );
}

#[tokio::test]
async fn killed_and_restarted_on_the_same_port_the_cache_recovers_waiters_included() {
    static A: Slot<RedisCache> = Slot::new();
    static B: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let mut server = RedisServer::start();
    A.set(cache_with_timeout(&server));
    B.set(cache_with_timeout(&server));

    #[cache(cache = A, name = "job", refresh = 60, expire = 120, retry = 60, wait = true)]
    async fn job_a(x: u64) -> u64 {
        RUNS.tick();
        if x == 99 {
            GATE.wait_async().await;
        }
        x + 1
    }
    #[cache(cache = B, name = "job", refresh = 60, expire = 120, retry = 60, wait = true)]
    async fn job_b(x: u64) -> u64 {
        x + 1000
    }

    assert_eq!(job_a(1).await, 2);
    assert_eq!(job_b(1).await, 2, "B hits A's value");
    server.kill();
    for x in 0..10 {
        assert_eq!(bounded(job_a(x)).await, x + 1);
        assert_eq!(
            bounded(job_b(x)).await,
            x + 1000,
            "B computes for itself while Redis is down"
        );
    }
    server.restart();
    assert!(
        eventually_async(SOON, || async {
            let before = RUNS.get();
            job_a(5).await == 6 && job_a(5).await == 6 && RUNS.get() == before
        })
        .await,
        "hits resume on the restarted, empty server"
    );
    // Cross-process waiting works again: the subscriber connection came back too. B's own
    // circuit may still be open from the outage; a successful ping closes it.
    let b = &*B;
    assert!(eventually_async(SOON, || async { b.ping().await.is_ok() }).await);
    let leader = tokio::spawn(job_a(99));
    assert!(eventually_async(SOON, || async { !server.keys("*:lease{*").is_empty() }).await);
    let waiter = tokio::spawn(job_b(99));
    let subscribed = || server.subscribers("rediscache:{job(99)}:done") == 1;
    assert!(
        eventually_async(SOON, || async { subscribed() }).await,
        "B waits on the channel"
    );
    GATE.open();
    assert_eq!(soon(leader).await.unwrap(), 100);
    assert_eq!(soon(waiter).await.unwrap(), 100, "B woke with A's value");
}

#[tokio::test]
async fn a_value_computed_while_redis_goes_away_is_stored_once_it_is_back() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let mut server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, name = "slow", refresh = 60, expire = 120, retry = 60, wait = true)]
    async fn slow(x: u64) -> u64 {
        RUNS.tick();
        GATE.wait_async().await;
        x * 3
    }

    // The computation starts under a lease, then Redis dies before it can store.
    let call = tokio::spawn(slow(7));
    assert!(eventually_async(SOON, || async { RUNS.get() == 1 }).await);
    server.kill();
    GATE.open();
    assert_eq!(
        soon(call).await.unwrap(),
        21,
        "the caller gets its value at once"
    );
    // A server on the same port, empty: only a later store can put the value there.
    server.restart();
    let key = "rediscache:{slow(7)}";
    assert!(
        eventually_async(SOON, || async { server.keys(key) == [key] }).await,
        "the value is stored once Redis answers again"
    );
    // The first try again waits 100 ms after the failed store: the entry gets at most what is
    // left of `expire` by then.
    let ttl = pttl(&server, key);
    assert!(
        ttl > 0 && ttl <= 120_000 - 100,
        "what is left of expire, never more: {ttl} ms"
    );
    assert_eq!(bounded(slow(7)).await, 21);
    assert_eq!(RUNS.get(), 1, "a hit: the value was not computed again");
}

#[tokio::test]
async fn script_flush_and_flushall_mid_run() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn plus(x: u64) -> u64 {
        RUNS.tick();
        x + 1
    }

    assert_eq!(plus(1).await, 2);
    set(&server, &["SCRIPT", "FLUSH"]);
    assert_eq!(plus(2).await, 3);
    assert_eq!(plus(2).await, 3);
    assert_eq!(
        RUNS.get(),
        2,
        "the store script was reloaded after SCRIPT FLUSH: the value landed"
    );
    set(&server, &["FLUSHALL"]);
    assert_eq!(plus(1).await, 2);
    assert_eq!(plus(1).await, 2);
    assert_eq!(RUNS.get(), 3, "recomputed once after FLUSHALL, then hits");
    let s = CACHE.stats().await.unwrap();
    assert_eq!(s.errors, 0, "{s:?}");
}

#[tokio::test]
async fn out_of_memory_refuses_writes_but_hits_serve_and_misses_get_the_value() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, default = 0)]
    async fn square(x: u64) -> u64 {
        RUNS.tick();
        x * x
    }

    assert!(eventually_async(SOON, || async { square(3).await == 9 }).await);
    set(
        &server,
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
    );
    set(&server, &["CONFIG", "SET", "maxmemory", "1"]);
    let runs = RUNS.get();
    assert_eq!(bounded(square(3)).await, 9);
    assert_eq!(RUNS.get(), runs, "hits are reads: still served");
    let first = bounded(square(4)).await;
    assert!(
        first == 0 || first == 16,
        "the first miss may get the default: {first}"
    );
    // Its background refresh is refused (OOM); from then on misses compute their value.
    assert!(
        eventually_async(SOON, || async { bounded(square(4)).await == 16 }).await,
        "writes refused: misses get the real value"
    );
    for _ in 0..5 {
        assert_eq!(bounded(square(4)).await, 16, "and keep getting it");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    set(&server, &["CONFIG", "SET", "maxmemory", "0"]);
    assert!(
        eventually_async(SOON, || async {
            let before = RUNS.get();
            square(4).await == 16 && square(4).await == 16 && RUNS.get() == before
        })
        .await,
        "caching resumes when memory is back"
    );
}

#[tokio::test]
async fn a_password_set_after_connecting_degrades_calls_and_shows_in_ping() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));
    let cache = &*CACHE;

    #[cache(cache = CACHE, refresh = 60, expire = 120, default = 0)]
    async fn cube(x: u64) -> u64 {
        RUNS.tick();
        x * x * x
    }

    assert!(eventually_async(SOON, || async { cube(2).await == 8 }).await);
    cache.ping().await.unwrap();
    set(&server, &["CONFIG", "SET", "requirepass", "n3w-pass"]);
    // Existing connections stay authenticated; drop them so the cache has to reconnect.
    server.cli(&[
        "-a",
        "n3w-pass",
        "--no-auth-warning",
        "CLIENT",
        "KILL",
        "TYPE",
        "normal",
    ]);
    for x in 2..6 {
        assert_eq!(bounded(cube(x)).await, x * x * x);
    }
    let err = cache
        .ping()
        .await
        .expect_err("the health check sees the auth problem");
    let text = err.to_string().to_lowercase();
    assert!(text.contains("auth") || text.contains("password"), "{err}");
    assert!(!text.contains("n3w-pass"));
}

#[tokio::test]
async fn a_read_only_replica_serves_calls_and_reports_errors() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let primary = RedisServer::start();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    CACHE.set(cache_with_timeout(&replica));
    let cache = &*CACHE;

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn double(x: u64) -> u64 {
        RUNS.tick();
        x * 2
    }

    for _ in 0..3 {
        assert_eq!(bounded(double(21)).await, 42);
    }
    assert_eq!(
        RUNS.get(),
        3,
        "READONLY: nothing can be stored, every call computes"
    );
    assert!(
        cache.stats().await.is_err(),
        "stats cannot be written to a replica: an error, not silence"
    );
    assert!(
        double_invalidate(21).await.is_err(),
        "invalidation reports READONLY"
    );
    cache.ping().await.expect("the replica answers");
}

#[tokio::test]
async fn a_wrong_database_index_degrades_and_shows_in_ping() {
    static CACHE: Slot<RedisCache> = Slot::new();
    let server = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}/99", server.port);
    CACHE.set(
        RedisCache::builder()
            .url(url)
            .timeout(TIMEOUT)
            .build()
            .unwrap(),
    );

    #[cache(cache = CACHE, refresh = 60, expire = 120, default = 0)]
    async fn ident(x: u64) -> u64 {
        x
    }

    for x in 1..4 {
        assert_eq!(bounded(ident(x)).await, x);
    }
    assert!(CACHE.ping().await.is_err());
}

#[tokio::test]
async fn garbage_in_every_key_of_an_entry_is_a_miss_never_an_error() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, refresh = "1s", retry = 60, expire = 120, wait = true)]
    async fn named(x: u64) -> String {
        RUNS.tick();
        format!("n{x}")
    }

    assert_eq!(named(1).await, "n1");
    let key = entries(&server).pop().unwrap();
    let lease = lease_of(&key);
    let garbage: [&[&str]; 5] = [
        &["HSET", &key, "f", "v"],
        &["SET", &key, "\u{1}\u{2}garbage"],
        &["HSET", &lease, "f", "v"],
        &["SET", &lease, "not-a-lease-and-no-ttl"],
        &["RPUSH", &lease, "x"],
    ];
    for (i, cmd) in garbage.iter().enumerate() {
        set(&server, &["DEL", &key, &lease]);
        assert_eq!(named(1).await, "n1");
        set(&server, &["DEL", cmd[1]]);
        let out = server.cli(cmd).unwrap();
        assert!(
            !out.contains("ERR") && !out.contains("WRONGTYPE"),
            "{cmd:?}: {out}"
        );
        if cmd[1] == lease {
            // The value is there: make it stale so a refresh needs the lease.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let runs = RUNS.get();
        assert_eq!(bounded(named(1)).await, "n1", "case {i}: {cmd:?}");
        assert!(
            eventually_async(SOON, || async { RUNS.get() == runs + 1 }).await,
            "case {i}: {cmd:?} is recomputed (a garbage lease does not block the refresh)"
        );
        assert!(eventually(SOON, || server
            .cli(&["TYPE", &key])
            .is_some_and(|t| t.trim() == "string")));
    }
    assert_eq!(CACHE.stats().await.unwrap().failed, 0);
}

#[test]
fn panics_are_counted_never_poison_the_cache_and_never_leave_waiters_hanging() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));
    let cache = &*CACHE;

    #[cache(cache = CACHE, refresh = "1s", retry = "2s", expire = 120, wait = true)]
    fn boom(x: u64) -> u64 {
        let n = RUNS.tick();
        if x == 7 {
            GATE.wait();
            panic!("boom {n}");
        }
        if n > 1 && x == 1 {
            panic!("refresh {n} panics");
        }
        x
    }

    // A background refresh that panics: counted, the stale value stays, the lease expires.
    assert_eq!(boom(1), 1);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        boom(1),
        1,
        "stale value served; its refresh panics in the background"
    );
    assert!(eventually(SOON, || cache.stats_blocking().unwrap().failed == 1));
    assert_eq!(boom(1), 1, "still served after the panic");
    assert_eq!(
        RUNS.get(),
        2,
        "the failed refresh's lease holds off others until retry"
    );
    // After `retry` (2 s) the lease stops blocking: a later stale hit tries again.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(boom(1), 1);
    assert!(
        eventually(SOON, || cache.stats_blocking().unwrap().failed == 2),
        "a new refresh ran (and panicked)"
    );

    // A waiter of a computation that panics is not left hanging.
    let first = std::thread::spawn(|| std::panic::catch_unwind(|| boom(7)));
    assert!(eventually(SOON, || RUNS.get() == 4));
    let second = std::thread::spawn(|| std::panic::catch_unwind(|| boom(7)));
    assert!(
        eventually(SOON, || cache.stats_blocking().unwrap().sleep == 1),
        "the second caller waits"
    );
    GATE.open();
    assert!(
        first.join().unwrap().is_err(),
        "the computing caller gets its panic"
    );
    let started = Instant::now();
    let second = second.join().unwrap();
    assert!(
        second.is_err(),
        "the waiter computed itself, and its computation panicked too"
    );
    assert!(started.elapsed() < SOON);
    assert_eq!(RUNS.get(), 5);

    // Nothing is poisoned: other keys still cache.
    assert_eq!(boom(2), 2);
    assert_eq!(boom(2), 2);
    assert_eq!(RUNS.get(), 6);
}

#[tokio::test]
async fn invalidation_and_stats_report_a_dead_redis_as_errors() {
    static CACHE: Slot<RedisCache> = Slot::new();
    let mut server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    async fn one(x: u64) -> u64 {
        x
    }

    assert_eq!(one(1).await, 1);
    server.kill();
    assert_eq!(bounded(one(1)).await, 1);
    assert!(bounded(one_invalidate(1)).await.is_err());
    assert!(bounded(CACHE.stats()).await.is_err());
    assert!(bounded(CACHE.ping()).await.is_err());
}

/// Runs the sync `call` on a thread of its own and returns what it returned, asserting it took
/// less than [`BOUND`]; a call that hangs fails the test after [`SOON`] instead of hanging it.
fn bounded_sync<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || tx.send(call()));
    let out = rx.recv_timeout(SOON).expect("the sync call returned");
    let took = started.elapsed();
    assert!(
        took < BOUND,
        "a sync call took {took:?}, more than {BOUND:?}"
    );
    out
}

/// A sync hit reads on a blocking connection of its own, not through the runtime: a server
/// that stops answering must still cost a sync call one timeout at most, and later ones
/// nothing, and the blocking connection must come back with the server.
#[test]
fn a_paused_redis_costs_a_sync_hit_one_timeout_then_sync_calls_degrade_and_hits_resume() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, default = 0)]
    fn tenfold(x: u64) -> u64 {
        RUNS.tick();
        x * 10
    }

    for x in 1..=3 {
        assert!(eventually(SOON, || tenfold(x) == x * 10), "{x} is cached");
    }
    let runs = RUNS.get();
    assert_eq!(tenfold(1), 10);
    assert_eq!(RUNS.get(), runs, "a hit, on a blocking connection now open");
    server.pause();
    let started = Instant::now();
    for i in 0..30 {
        let x = 1 + i % 3;
        assert_eq!(
            bounded_sync(move || tenfold(x)),
            x * 10,
            "the real value, not the default"
        );
    }
    let total = started.elapsed();
    assert!(
        total < TIMEOUT * 4,
        "the circuit breaker spares most sync calls the timeout: 30 calls took {total:?}"
    );
    server.resume();
    assert!(
        eventually(SOON, || {
            let before = RUNS.get();
            tenfold(2) == 20 && tenfold(2) == 20 && RUNS.get() == before
        }),
        "sync hits resume after the pause"
    );
    let cache = &*CACHE;
    assert!(eventually(SOON, || cache
        .stats_blocking()
        .is_ok_and(|s| s.errors >= 1)));
}

/// As above for a server that dies: the blocking connection breaks at once (no timeout to
/// pay), and sync hits come back on a new one once the server is back on the same port.
#[test]
fn a_killed_redis_costs_sync_calls_nothing_and_sync_hits_resume_after_a_restart() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let mut server = RedisServer::start();
    CACHE.set(cache_with_timeout(&server));

    #[cache(cache = CACHE, refresh = 60, expire = 120, wait = true)]
    fn plus_one(x: u64) -> u64 {
        RUNS.tick();
        x + 1
    }

    assert_eq!(plus_one(1), 2);
    assert_eq!(plus_one(1), 2);
    assert_eq!(RUNS.get(), 1, "the second call hit");
    server.kill();
    for x in 0..10 {
        assert_eq!(bounded_sync(move || plus_one(x)), x + 1);
    }
    server.restart();
    assert!(
        eventually(SOON, || {
            let before = RUNS.get();
            plus_one(5) == 6 && plus_one(5) == 6 && RUNS.get() == before
        }),
        "sync hits resume on the restarted, empty server"
    );
}
