//! Sync functions: no tokio runtime needed, threads share computations, background refreshes run
//! on the crate's own pool, and calls work from inside a runtime too.

mod common;

use std::sync::Barrier;
use std::thread;

use rediscache::{RedisCache, cache};
use testkit::*;

use common::*;

#[test]
fn a_sync_function_needs_no_runtime_and_refreshes_in_the_background() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));

    #[cache(cache = CACHE, refresh = 10, expire = 60)]
    fn square(x: u64) -> u64 {
        RUNS.tick();
        x * x
    }

    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "no runtime here"
    );
    assert_eq!(square(9), 0, "a miss returns Default at once");
    assert!(
        eventually(SOON, || square(9) == 81),
        "the background refresh lands without a caller runtime"
    );
    assert_eq!(RUNS.get(), 1);
}

#[test]
fn a_second_thread_waits_for_the_first_ones_computation_instead_of_computing() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, retry = 30, wait = true)]
    fn heavy(x: &str) -> String {
        RUNS.tick();
        GATE.wait();
        x.to_uppercase()
    }

    let first = thread::spawn(|| heavy("abc"));
    assert!(
        eventually(SOON, || RUNS.get() == 1),
        "the first thread is computing"
    );
    let second = thread::spawn(|| heavy("abc"));
    let stats = &*CACHE;
    assert!(
        eventually(SOON, || stats.stats_blocking().unwrap().sleep == 1),
        "the second thread waits"
    );
    GATE.open();
    assert_eq!(first.join().unwrap(), "ABC");
    assert_eq!(second.join().unwrap(), "ABC");
    assert_eq!(RUNS.get(), 1, "computed once");
    let s = stats.stats_blocking().unwrap();
    assert_eq!((s.missed, s.wait, s.sleep, s.refresh), (2, 1, 1, 1));
}

/// Runs `call` on `n` threads released together; returns what each got.
fn all_at_once<T: Send>(n: usize, call: impl Fn() -> T + Sync) -> Vec<T> {
    let barrier = &Barrier::new(n);
    let call = &call;
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(move || {
                    barrier.wait();
                    call()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn ten_threads_missing_at_once_start_one_refresh_and_the_next_ten_all_hit() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    static GATE: Gate = Gate::new();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, retry = 30, default = "default".to_string())]
    fn greet(name: String) -> String {
        RUNS.tick();
        GATE.wait();
        format!("hello {name}")
    }

    let firsts = all_at_once(10, || greet("ada".into()));
    assert!(firsts.iter().all(|v| v == "default"), "{firsts:?}");
    GATE.open();
    assert!(eventually(SOON, || !entries(&server).is_empty()));
    assert_eq!(RUNS.get(), 1, "one refresh for ten misses");
    let seconds = all_at_once(10, || greet("ada".into()));
    assert!(seconds.iter().all(|v| v == "hello ada"), "{seconds:?}");
    let s = CACHE.take_stats_blocking().unwrap();
    assert_eq!((s.missed, s.default, s.refresh, s.success), (10, 10, 1, 10));
}

#[test]
fn sync_functions_work_inside_a_runtime_and_from_spawn_blocking() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    fn label(x: u32) -> String {
        RUNS.tick();
        format!("#{x}")
    }

    for multi_thread in [false, true] {
        let rt = runtime(multi_thread);
        rt.block_on(async {
            assert_eq!(
                tokio::task::spawn_blocking(|| label(1)).await.unwrap(),
                "#1"
            );
            // Straight from async code (blocks this task's thread for one round trip).
            assert_eq!(label(1), "#1");
            assert_eq!(label(2), "#2");
        });
    }
    assert_eq!(RUNS.get(), 2);
}

#[test]
fn sync_invalidate_and_the_bypass() {
    static CACHE: Slot<RedisCache> = Slot::new();
    static RUNS: Runs = Runs::new();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    fn numbered(_x: u8) -> usize {
        RUNS.tick()
    }

    assert_eq!(numbered(1), 1);
    assert_eq!(numbered(1), 1);
    assert_eq!(numbered_uncached(1), 2);
    numbered_invalidate(1).unwrap();
    assert_eq!(numbered(1), 3);
}

/// What `MONITOR` saw, command by command: the client's address and the command's words.
struct Monitored {
    addr: String,
    words: Vec<String>,
}

/// Records every command the server runs while `work` runs, through `MONITOR`. Ends at a
/// marker sent after `work`, so nothing is timed; a reply that never comes fails after
/// [`SOON`] instead of hanging.
fn monitor(server: &RedisServer, work: impl FnOnce()) -> Vec<Monitored> {
    const END: &str = "rediscache-test-monitor-end";
    let mut mon = server.conn();
    mon.set_read_timeout(Some(SOON)).unwrap();
    mon.send_packed_command(&redis::cmd("MONITOR").get_packed_command())
        .unwrap();
    assert_eq!(mon.recv_response().unwrap(), redis::Value::Okay);
    work();
    let _: String = redis::cmd("ECHO")
        .arg(END)
        .query(&mut server.conn())
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let line = match mon.recv_response().unwrap() {
            redis::Value::SimpleString(line) => line,
            other => panic!("a MONITOR line, not {other:?}"),
        };
        // `1700000000.123456 [0 127.0.0.1:54321] "GET" "key"`
        let (_, rest) = line.split_once(" [").unwrap();
        let (client, command) = rest.split_once("] ").unwrap();
        let addr = client.split_once(' ').unwrap().1.to_owned();
        let words: Vec<String> = command
            .split("\" \"")
            .map(|w| w.trim_matches('"').to_owned())
            .collect();
        if words == ["ECHO", END] {
            return seen;
        }
        seen.push(Monitored { addr, words });
    }
}

/// The clients that sent `GET key`, one entry per `GET`, and the one that ran the scripts on
/// `key` (`EVALSHA sha 3 key ..`: its store and its invalidation; commands run inside scripts,
/// from client `lua`, left out).
fn getters_and_deleter(seen: &[Monitored], key: &str) -> (Vec<String>, String) {
    let sent = |cmd: &str, at: usize| {
        seen.iter()
            .filter(|m| m.addr != "lua")
            .filter(|m| {
                m.words[0].eq_ignore_ascii_case(cmd) && m.words.get(at).is_some_and(|k| k == key)
            })
            .map(|m| m.addr.clone())
            .collect::<Vec<_>>()
    };
    // The store and the invalidation: scripts on the runtime's connection.
    let scripts = sent("EVALSHA", 3);
    assert!(
        scripts.len() >= 2 && scripts.iter().all(|a| *a == scripts[0]),
        "the store and the invalidation, from one connection: {scripts:?}"
    );
    (sent("GET", 1), scripts[0].clone())
}

/// The point of blocking connections for sync hits: the `GET` goes out from the calling thread
/// on a connection of its own, not through the runtime's connection (which the invalidation
/// uses); and a miss sends one `GET`, not one before and one inside the runtime. With
/// `sync_connections(0)` every `GET` goes through the runtime's connection, which shows the
/// test tells the two apart.
#[test]
fn a_sync_hit_reads_on_a_blocking_connection_of_its_own_not_the_runtimes() {
    static DIRECT: Slot<RedisCache> = Slot::new();
    static VIA_RUNTIME: Slot<RedisCache> = Slot::new();
    let server = RedisServer::start();
    DIRECT.set(cache_on(&server));
    VIA_RUNTIME.set(server.builder().sync_connections(0).build().unwrap());

    #[cache(cache = DIRECT, name = "direct", refresh = 60, expire = 120, wait = true)]
    fn direct(x: u64) -> u64 {
        x + 1
    }
    #[cache(cache = VIA_RUNTIME, name = "via_runtime", refresh = 60, expire = 120, wait = true)]
    fn via_runtime(x: u64) -> u64 {
        x + 2
    }

    let seen = monitor(&server, || {
        for _ in 0..5 {
            assert_eq!(direct(1), 2);
            assert_eq!(via_runtime(1), 3);
        }
        direct_invalidate(1).unwrap();
        via_runtime_invalidate(1).unwrap();
    });

    let (getters, runtime) = getters_and_deleter(&seen, "rediscache:{direct(1)}");
    assert_eq!(getters.len(), 5, "one GET per call, the miss included");
    assert!(
        getters.iter().all(|a| *a == getters[0] && *a != runtime),
        "every GET on one blocking connection, not the runtime's ({runtime}): {getters:?}"
    );
    let (getters, runtime) = getters_and_deleter(&seen, "rediscache:{via_runtime(1)}");
    assert_eq!(getters.len(), 5, "one GET per call, the miss included");
    assert!(
        getters.iter().all(|a| *a == runtime),
        "every GET through the runtime's connection ({runtime}): {getters:?}"
    );
}
