//! Invalidation holds: once `NAME_invalidate` (or `invalidate_all`) returns, no caller in any
//! process is served a value whose computation started before it, neither a waiting caller's
//! computation nor a background refresh; `expire_all` makes entries stale, refreshed once
//! fleet-wide; a process that missed the announcement knows within a second; entries of the
//! previous format still hit.
//!
//! The race is the one memcache leases close ("stale set"): a function reads its source, then
//! takes a while; the source changes and the entry is invalidated meanwhile; the computation
//! then stores what it read before.

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rediscache::{Function, RedisCache, cache};
use testkit::*;

use common::*;

/// How long each computation takes after it read its source.
const SLOW: Duration = Duration::from_millis(400);

/// The source of truth a cached function reads: a key in Redis, so every process sees it.
fn source(url: &str, key: &str) -> u64 {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connects");
    redis::cmd("GET")
        .arg(key)
        .query::<Option<u64>>(&mut conn)
        .expect("GET")
        .unwrap_or(1)
}

fn set_source(server: &RedisServer, key: &str, value: u64) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .exec(&mut server.conn())
        .expect("SET");
}

/// One scenario's server URL and cache, set by the parent test or, in a child process, from
/// `RC_TEST_URL`.
struct Scenario {
    url: String,
    cache: RedisCache,
}

fn scenario(slot: &'static OnceLock<Scenario>) -> &'static Scenario {
    slot.get_or_init(|| {
        let url = std::env::var("RC_TEST_URL").expect("RC_TEST_URL");
        let cache = RedisCache::builder().url(&url).build().expect("valid url");
        Scenario { url, cache }
    })
}

fn cache_of(slot: &'static OnceLock<Scenario>) -> &'static RedisCache {
    &scenario(slot).cache
}

fn start(slot: &'static OnceLock<Scenario>) -> RedisServer {
    let server = RedisServer::start();
    show_warnings();
    let set = slot.set(Scenario {
        url: server.url(),
        cache: cache_on(&server),
    });
    assert!(set.is_ok(), "one test per scenario");
    server
}

// --- Per key, a waiting caller's computation, in one process -------------------------------

static WAITING: OnceLock<Scenario> = OnceLock::new();
static WAITING_RUNS: Runs = Runs::new();

#[cache(cache = cache_of(&WAITING), refresh = 60, expire = 120, retry = 30, wait = true)]
async fn waiting_report(x: u64) -> u64 {
    let read = source(&scenario(&WAITING).url, "src:waiting");
    // Counted once the source is read.
    WAITING_RUNS.tick();
    tokio::time::sleep(SLOW).await;
    read * 100 + x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_overtakes_a_waiting_callers_computation() {
    let server = start(&WAITING);
    let first = tokio::spawn(waiting_report(1));
    assert!(
        eventually_async(SOON, || async { WAITING_RUNS.get() == 1 }).await,
        "the computation started"
    );
    // It has read the source; now the source changes and the entry is invalidated.
    set_source(&server, "src:waiting", 2);
    waiting_report_invalidate(1).await.expect("invalidated");
    // From here on, no caller may be served what was read before.
    assert_eq!(
        waiting_report(1).await,
        201,
        "a call after the invalidation"
    );
    assert_eq!(
        soon(first).await.unwrap(),
        101,
        "the caller that waited gets what it waited for"
    );
    for _ in 0..5 {
        assert_eq!(
            waiting_report(1).await,
            201,
            "the old computation did not store its value"
        );
    }
}

// --- Per key, a background refresh, in one process -----------------------------------------

static REFRESH: OnceLock<Scenario> = OnceLock::new();
static REFRESH_RUNS: Runs = Runs::new();

#[cache(cache = cache_of(&REFRESH), refresh = "1s", expire = 120, retry = 30, wait = true)]
async fn refreshed_report(x: u64) -> u64 {
    let read = source(&scenario(&REFRESH).url, "src:refresh");
    // Counted once the source is read.
    let n = REFRESH_RUNS.tick();
    if n > 1 {
        tokio::time::sleep(SLOW).await;
    }
    read * 100 + x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_overtakes_a_background_refresh() {
    let server = start(&REFRESH);
    assert_eq!(refreshed_report(1).await, 101);
    // Past `refresh`: the next hit serves the stale value and starts one refresh.
    assert!(
        eventually_async(SOON, || async {
            refreshed_report(1).await == 101 && REFRESH_RUNS.get() == 2
        })
        .await,
        "a refresh started"
    );
    set_source(&server, "src:refresh", 2);
    refreshed_report_invalidate(1).await.expect("invalidated");
    let after = Instant::now();
    // Until the old refresh has ended and well after, only the new value is served.
    while after.elapsed() < SLOW * 3 {
        assert_eq!(
            refreshed_report(1).await,
            201,
            "never what the refresh read"
        );
    }
    assert!(
        !server
            .keys("*:lease{*")
            .iter()
            .any(|k| k.contains("refreshed_report")),
        "the old refresh ended and gave its lease up"
    );
}

// --- Per key and per function, across processes --------------------------------------------

static SHARED: OnceLock<Scenario> = OnceLock::new();

/// Both processes run this function; the child computes it.
#[cache(cache = cache_of(&SHARED), refresh = 60, expire = 120, retry = 30, wait = true)]
fn shared_report(x: u64) -> u64 {
    let url = &scenario(&SHARED).url;
    let read = source(url, "src:shared");
    if std::env::var("RC_CHILD").is_ok() {
        // Tells the parent the source is read, then computes slowly.
        redis::cmd("SET")
            .arg(format!("src:shared:read:{x}"))
            .arg(1)
            .exec(
                &mut redis::Client::open(url.as_str())
                    .expect("url")
                    .get_connection()
                    .expect("connects"),
            )
            .expect("SET");
        std::thread::sleep(SLOW);
    }
    read * 100 + x
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_computes_slowly() {
    let x = std::env::var("RC_X").unwrap().parse().unwrap();
    println!("RESULT value={}", shared_report(x));
}

/// The child computes `shared_report(x)`; while it sleeps, the source changes and `invalidate`
/// runs here; afterwards every call here gets the new value, and keeps getting it after the
/// child's computation ended.
fn overtaken_across_processes(x: u64, invalidate: fn(u64)) {
    let server: &RedisServer = SERVER.get().unwrap();
    let url = server.url();
    let child = std::thread::spawn(move || {
        run_child(
            "child_computes_slowly",
            &[
                ("RC_TEST_URL", url),
                ("RC_CHILD", "1".into()),
                ("RC_X", x.to_string()),
            ],
        )
    });
    let lease = format!("rediscache:lease{{invalidation::shared_report({x})}}");
    let read = format!("src:shared:read:{x}");
    assert!(
        eventually(SOON, || !server.keys(&lease).is_empty()
            && !server.keys(&read).is_empty()),
        "the child took the lease and read the source"
    );
    set_source(server, "src:shared", x + 10);
    invalidate(x);
    let fresh = (x + 10) * 100 + x;
    assert_eq!(shared_report(x), fresh, "a call after the invalidation");
    let out = child.join().unwrap();
    assert_eq!(
        child_field(&out, "value"),
        (100 + x).to_string(),
        "the child's caller got what it computed"
    );
    for _ in 0..5 {
        assert_eq!(
            shared_report(x),
            fresh,
            "the child's store did not replace it"
        );
    }
    set_source(server, "src:shared", 1);
}

static SERVER: OnceLock<Slot<RedisServer>> = OnceLock::new();

#[test]
fn invalidations_overtake_computations_in_other_processes() {
    let server = start(&SHARED);
    SERVER.get_or_init(Slot::new).set(server);
    overtaken_across_processes(1, |x| shared_report_invalidate(x).expect("invalidated"));
    overtaken_across_processes(2, |_| {
        scenario(&SHARED)
            .cache
            .invalidate_function_blocking("invalidation::shared_report")
            .expect("invalidated")
    });
}

// --- invalidate_all and expire_all ---------------------------------------------------------

static ALL: OnceLock<Scenario> = OnceLock::new();
static ALL_RUNS: AtomicU64 = AtomicU64::new(0);

#[cache(cache = cache_of(&ALL), name = "all::profile", refresh = 60, expire = 120, wait = true)]
fn profile(id: u64) -> u64 {
    ALL_RUNS.fetch_add(1, Ordering::SeqCst);
    let source = source(&scenario(&ALL).url, "src:all");
    if source == 3 {
        // The refreshes after `expire_all` take a while, so "served stale while the refresh
        // runs" does not race a refresh that already landed.
        std::thread::sleep(SLOW);
    }
    source * 100 + id
}

/// The same function, through the handle.
static PROFILE: Function = Function::new("all::profile")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_calls_profile() {
    let ids: Vec<u64> = std::env::var("RC_IDS")
        .unwrap()
        .split(',')
        .map(|i| i.parse().unwrap())
        .collect();
    let values: Vec<String> = ids.iter().map(|id| profile(*id).to_string()).collect();
    println!(
        "RESULT values={} runs={}",
        values.join(","),
        ALL_RUNS.load(Ordering::SeqCst)
    );
}

fn child_profiles(url: &str, ids: &str) -> (String, String) {
    let out = run_child(
        "child_calls_profile",
        &[
            ("RC_TEST_URL", url.to_owned()),
            ("RC_CHILD", "1".into()),
            ("RC_IDS", ids.into()),
        ],
    );
    (
        child_field(&out, "values").to_owned(),
        child_field(&out, "runs").to_owned(),
    )
}

#[test]
fn invalidate_all_makes_every_entry_a_miss_and_expire_all_stale_in_every_process() {
    let server = start(&ALL);
    let url = server.url();
    let cache = &scenario(&ALL).cache;
    assert_eq!((profile(1), profile(2)), (101, 102));
    assert_eq!(ALL_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(
        child_profiles(&url, "1,2"),
        ("101,102".into(), "0".into()),
        "another process hits the same entries"
    );

    // invalidate_all: every entry is a miss, here and elsewhere.
    set_source(&server, "src:all", 2);
    PROFILE.invalidate_all_blocking(cache).expect("invalidated");
    assert_eq!((profile(1), profile(2)), (201, 202), "misses, recomputed");
    assert_eq!(ALL_RUNS.load(Ordering::SeqCst), 4);
    assert_eq!(
        child_profiles(&url, "1,2"),
        ("201,202".into(), "0".into()),
        "the new entries hit in another process"
    );

    // expire_all: stale, so served as they are while one refresh each runs, fleet-wide.
    set_source(&server, "src:all", 3);
    cache
        .expire_function_blocking("all::profile")
        .expect("expired");
    let (values, _) = child_profiles(&url, "1,2");
    assert_eq!(values, "201,202", "stale values are served at once");
    assert_eq!(profile(1), 201, "here too, while the refresh runs");
    assert!(
        eventually(SOON, || profile(1) == 301 && profile(2) == 302),
        "then the refreshed values"
    );
    let stats = cache.stats_by_function_blocking().expect("stats");
    assert_eq!(
        stats["all::profile"].refresh, 6,
        "one refresh per entry in the whole fleet (2 fills, 2 misses, 2 refreshes)"
    );
}

/// A process that missed the announcement (here: the generation is bumped in Redis without a
/// message, as when its subscription was down) stops serving old entries within a second.
#[test]
fn a_process_that_missed_the_announcement_knows_within_a_second() {
    static MISSED: OnceLock<Scenario> = OnceLock::new();
    static RUNS: Runs = Runs::new();
    let server = start(&MISSED);

    #[cache(cache = cache_of(&MISSED), name = "missed::f", refresh = 60, expire = 120, wait = true)]
    fn f(x: u64) -> u64 {
        RUNS.tick() as u64 * 100 + x
    }

    assert_eq!(f(1), 101);
    assert_eq!(f(1), 101, "a hit");
    // What invalidate_all writes, with no PUBLISH: nobody is told.
    let mut conn = server.conn();
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut conn).expect("TIME");
    redis::cmd("HSET")
        .arg("rediscache:gens")
        .arg("missed::f@hard")
        .arg(secs * 1000 + micros / 1000 + 1)
        .exec(&mut conn)
        .expect("HSET");
    let bumped = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || f(1) == 201),
        "the old entry stops being served"
    );
    let took = bumped.elapsed();
    println!("noticed {took:?} after the generation changed");
    assert!(
        took < Duration::from_millis(1500),
        "within about a second: {took:?}"
    );
}

/// Entries written by the previous version (format 1: no generation) still hit.
#[test]
fn entries_of_the_previous_format_still_hit() {
    static OLD: OnceLock<Scenario> = OnceLock::new();
    static RUNS: Runs = Runs::new();
    let server = start(&OLD);

    #[cache(cache = cache_of(&OLD), name = "old::f", refresh = 60, expire = 120, wait = true)]
    fn f(x: u64) -> String {
        RUNS.tick();
        format!("new {x}")
    }

    // `rc1\0`, the write time in ms (big-endian), then the value in MessagePack.
    let mut entry = b"rc1\0".to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    entry.extend_from_slice(&now.to_be_bytes());
    entry.extend_from_slice(&rmp_serde::to_vec(&"written by 0.1").unwrap());
    redis::cmd("SET")
        .arg("rediscache:{old::f(7)}")
        .arg(entry)
        .exec(&mut server.conn())
        .expect("SET");
    assert_eq!(f(7), "written by 0.1");
    assert_eq!(RUNS.get(), 0, "a hit");
    // And an expire_all reaches them too: stale (generation 0), refreshed once.
    scenario(&OLD)
        .cache
        .expire_function_blocking("old::f")
        .expect("expired");
    assert_eq!(f(7), "written by 0.1", "served stale");
    assert!(eventually(SOON, || f(7) == "new 7"), "then refreshed");
    assert_eq!(RUNS.get(), 1);
}
