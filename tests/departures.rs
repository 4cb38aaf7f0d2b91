//! A caller or a process that goes away costs the others nothing: a cancelled waiting caller's
//! computation runs on and wakes its followers; a killed holder's lease is noticed within a
//! second or so, whatever `retry` is; a slow live holder still keeps others away until `retry`;
//! `close()` loses no count at exit.
//!
//! `retry` is long (10 s or more) throughout, so "about the computation" and "the whole retry"
//! cannot be mistaken for each other. Processes are real: the child side of each test is an
//! `#[ignore]`d test of this binary, run by its parent.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rediscache::{RedisCache, cache};
use testkit::*;

use common::*;

/// How long the slow functions below compute.
const COMPUTE: Duration = Duration::from_secs(1);

/// One scenario's server and cache (the tests of one binary run at once, each on its own
/// server): set by the parent test, or from `RC_TEST_URL` in a child.
struct Scenario {
    url: String,
    cache: RedisCache,
}

type Slot = OnceLock<Scenario>;

static LOCAL: Slot = OnceLock::new();
static LEAVES: Slot = OnceLock::new();
static KILLED: Slot = OnceLock::new();
static SLOW: Slot = OnceLock::new();
static CLOSING: Slot = OnceLock::new();

fn scenario(slot: &'static Slot) -> &'static Scenario {
    slot.get_or_init(|| {
        let url = std::env::var("RC_TEST_URL").expect("RC_TEST_URL");
        let cache = RedisCache::builder().url(&url).build().expect("valid url");
        Scenario { url, cache }
    })
}

fn cache(slot: &'static Slot) -> &'static RedisCache {
    &scenario(slot).cache
}

/// Starts a server for the scenario in `slot`, for the parent test.
fn start(slot: &'static Slot) -> RedisServer {
    let server = RedisServer::start();
    let set = slot.set(Scenario {
        url: server.url(),
        cache: cache_on(&server),
    });
    assert!(set.is_ok(), "one test per scenario");
    server
}

/// Counts an execution in Redis, where every process sees it.
fn count_run(slot: &'static Slot, name: &str) {
    let mut conn = redis::Client::open(scenario(slot).url.as_str())
        .and_then(|c| c.get_connection())
        .expect("connects");
    redis::cmd("INCR")
        .arg(format!("runs:{name}"))
        .exec(&mut conn)
        .expect("INCR");
}

/// Whether an entry of `function` is stored.
fn stored(url: &str, function: &str) -> bool {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connects");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("rediscache:{{{function}(*"))
        .query(&mut conn)
        .expect("KEYS");
    keys.iter().any(|k| k.ends_with('}'))
}

fn runs(server: &RedisServer, name: &str) -> i64 {
    redis::cmd("GET")
        .arg(format!("runs:{name}"))
        .query::<Option<i64>>(&mut server.conn())
        .expect("GET")
        .unwrap_or(0)
}

/// Which process computed: the parent's value is 1000 + x, a child's 2000 + x.
fn origin(x: u64) -> u64 {
    if std::env::var("RC_CHILD").is_ok() {
        2000 + x
    } else {
        1000 + x
    }
}

/// Starts the `#[ignore]`d test `test` of this binary in a child process, running on.
fn spawn_child(test: &str, url: &str, env: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args([test, "--exact", "--ignored", "--nocapture"])
        .env("RC_TEST_URL", url)
        .env("RC_CHILD", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child starts")
}

/// Waits for the child and returns its stdout; fails the test if it failed.
fn finish(child: Child) -> String {
    let out = child.wait_with_output().expect("child ends");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

// --- A cancelled waiting caller, in one process -------------------------------------------

static LOCAL_RUNS: Runs = Runs::new();

#[cache(cache = cache(&LOCAL), refresh = 60, expire = 120, retry = 10, wait = true)]
async fn local_report(x: u64) -> u64 {
    LOCAL_RUNS.tick();
    tokio::time::sleep(COMPUTE).await;
    1000 + x
}

#[tokio::test]
async fn a_follower_of_a_cancelled_caller_gets_the_value_when_it_is_computed() {
    let _server = start(&LOCAL);

    // The leader's client goes away after 200 ms, as a handler's client or a timeout would.
    let leader = tokio::spawn(tokio::time::timeout(
        Duration::from_millis(200),
        local_report(1),
    ));
    assert!(
        eventually_async(SOON, || async { LOCAL_RUNS.get() == 1 }).await,
        "the leader computes"
    );
    let started = Instant::now();
    let follower = tokio::spawn(local_report(1));
    assert!(
        leader.await.unwrap().is_err(),
        "the leader's caller gave up"
    );
    let value = soon(follower).await.unwrap();
    let took = started.elapsed();
    println!("the follower got its value after {took:?} (compute {COMPUTE:?}, retry 10 s)");
    assert_eq!(value, 1001, "the follower gets the leader's value");
    assert!(
        took < COMPUTE + Duration::from_secs(1),
        "within the computation, not the retry: {took:?}"
    );
    assert_eq!(LOCAL_RUNS.get(), 1, "the function ran once");
    assert_eq!(
        local_report(1).await,
        1001,
        "and the value was stored for everyone"
    );
    assert_eq!(LOCAL_RUNS.get(), 1);
}

// --- A caller that leaves, across processes ----------------------------------------------

/// The parent's side: a sync caller of the same function (same name, same key).
#[cache(cache = cache(&LEAVES), refresh = 60, expire = 120, retry = 10, wait = true, name = "departures::leaves")]
fn leaves(x: u64) -> u64 {
    count_run(&LEAVES, "leaves");
    std::thread::sleep(COMPUTE);
    origin(x)
}

/// The child's side, async, so that its caller's future can be dropped.
#[cache(cache = cache(&LEAVES), refresh = 60, expire = 120, retry = 10, wait = true, name = "departures::leaves")]
async fn leaves_async(x: u64) -> u64 {
    count_run(&LEAVES, "leaves");
    tokio::time::sleep(COMPUTE).await;
    origin(x)
}

#[tokio::test]
#[ignore = "run by the parent test in a child process"]
async fn child_leads_and_its_caller_leaves() {
    // The caller gives up after 200 ms; the process stays up until the value lands.
    let gave_up = tokio::time::timeout(Duration::from_millis(200), leaves_async(2))
        .await
        .is_err();
    let url = std::env::var("RC_TEST_URL").unwrap();
    // Async: the computation goes on on this runtime, which must not be blocked meanwhile.
    let landed = eventually_async(SOON, || {
        let url = url.clone();
        async move { stored(&url, "departures::leaves") }
    })
    .await;
    println!("RESULT gave_up={gave_up} landed={landed}");
}

#[test]
fn a_waiter_in_another_process_gets_the_value_of_a_caller_that_left() {
    let server = start(&LEAVES);
    let url = server.url();
    let child = spawn_child("child_leads_and_its_caller_leaves", &url, &[]);
    assert!(
        eventually(SOON, || runs(&server, "leaves") == 1),
        "the child computes"
    );
    let started = Instant::now();
    let value = leaves(2);
    let took = started.elapsed();
    println!("the parent got its value after {took:?} (compute {COMPUTE:?}, retry 10 s)");
    let out = finish(child);
    assert_eq!(
        child_field(&out, "gave_up"),
        "true",
        "the child's caller left"
    );
    assert_eq!(
        child_field(&out, "landed"),
        "true",
        "its computation went on and stored"
    );
    assert_eq!(value, 2002, "the parent got the child's value");
    assert!(
        took < COMPUTE + Duration::from_secs(1),
        "within the computation, not the retry: {took:?}"
    );
    assert_eq!(runs(&server, "leaves"), 1, "the function ran once");
}

// --- A holder that dies, and one that is merely slow ----------------------------------------

#[cache(cache = cache(&KILLED), refresh = 60, expire = 120, retry = 10, wait = true, skip(compute_ms))]
fn killed(x: u64, compute_ms: u64) -> u64 {
    count_run(&KILLED, "killed");
    std::thread::sleep(Duration::from_millis(compute_ms));
    origin(x)
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_holds_the_lease_until_killed() {
    let value = killed(3, 60_000);
    println!("RESULT value={value}");
}

#[test]
fn a_waiter_computes_soon_after_the_holder_is_killed() {
    let server = start(&KILLED);
    let url = server.url();
    let mut child = spawn_child("child_holds_the_lease_until_killed", &url, &[]);
    assert!(
        eventually(SOON, || runs(&server, "killed") == 1),
        "the child computes"
    );
    let waiter = std::thread::spawn(|| {
        let value = killed(3, 0);
        (value, Instant::now())
    });
    // The waiter is waiting once it has subscribed to the entry's channel.
    let channel = "rediscache:{departures::killed(3)}:done";
    assert!(
        eventually(SOON, || server.subscribers(channel) == 1),
        "the waiter subscribed: {:?}",
        server.keys("*")
    );
    let killed_at = Instant::now();
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let (value, done) = waiter.join().unwrap();
    let took = done - killed_at;
    println!("the waiter computed {took:?} after the holder was killed (retry 10 s)");
    assert_eq!(value, 1003, "the waiter computed itself");
    assert!(
        took < Duration::from_secs(2),
        "a dead holder is noticed within about a second, not after retry: {took:?}"
    );
    assert_eq!(runs(&server, "killed"), 2);
}

#[cache(cache = cache(&SLOW), refresh = 60, expire = 120, retry = 10, wait = true, skip(compute_ms))]
fn slow(x: u64, compute_ms: u64) -> u64 {
    count_run(&SLOW, "slow");
    std::thread::sleep(Duration::from_millis(compute_ms));
    origin(x)
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_computes_for_four_seconds() {
    let value = slow(4, 4_000);
    println!("RESULT value={value}");
}

#[test]
fn a_slow_live_holder_keeps_others_away_until_retry() {
    let server = start(&SLOW);
    let url = server.url();
    // Four lease lives long: only its renewals keep the lease.
    let child = spawn_child("child_computes_for_four_seconds", &url, &[]);
    assert!(
        eventually(SOON, || runs(&server, "slow") == 1),
        "the child computes"
    );
    let started = Instant::now();
    let value = slow(4, 0);
    let took = started.elapsed();
    let out = finish(child);
    println!("the parent waited {took:?} for a 4 s computation (retry 10 s)");
    assert_eq!(value, 2004, "the parent got the child's value");
    assert_eq!(child_field(&out, "value"), "2004");
    assert_eq!(
        runs(&server, "slow"),
        1,
        "no second computation while the holder lives"
    );
}

// --- Nothing lost at shutdown --------------------------------------------------------------

static CLOSING_RUNS: Runs = Runs::new();

#[cache(cache = cache(&CLOSING), refresh = 60, expire = 120, retry = 10, default = 0)]
fn closing_value(x: u64) -> u64 {
    CLOSING_RUNS.tick();
    std::thread::sleep(Duration::from_millis(300));
    x * 10
}

#[test]
#[ignore = "run by the parent test in a child process"]
fn child_counts_then_closes_and_exits() {
    // One miss whose background computation is still running, then hits on another key.
    assert_eq!(closing_value(1), 0, "a miss returns the default");
    for _ in 0..5 {
        let _ = closing_value(2);
    }
    let closed = cache(&CLOSING).close_blocking();
    println!("RESULT closed={}", closed.is_ok());
    // Exit at once, as a process at the end of main does: no destructor, no later flush.
    std::process::exit(0);
}

#[test]
fn close_adds_every_count_and_waits_for_the_computation_under_way() {
    let server = start(&CLOSING);
    let url = server.url();
    let out = run_child(
        "child_counts_then_closes_and_exits",
        &[("RC_TEST_URL", url), ("RC_CHILD", "1".into())],
    );
    assert_eq!(child_field(&out, "closed"), "true");
    let stats = cache(&CLOSING).stats_blocking().unwrap();
    // Six calls, each a miss (and a default) or, once key 2 landed, a hit; two computations.
    assert_eq!(
        stats.success + stats.missed,
        6,
        "every call of the child was counted: {stats:?}"
    );
    assert_eq!(stats.refresh, 2, "both computations counted: {stats:?}");
    assert_eq!(
        closing_value(1),
        10,
        "the computation under way at close() was stored"
    );
    assert_eq!(CLOSING_RUNS.get(), 0, "by the child, not here");
}
