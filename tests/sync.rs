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
