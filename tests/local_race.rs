//! The local tier's races, opened wide with the crate's test hooks
//! (`__private::local_test_hooks`): a delay between a fill's `GET` and its insert, the stripe
//! check turned off, invalidations ignored.
//!
//! - The fill race: readers fill while a writer keeps changing the key; once the writes stop
//!   and their invalidations have arrived, no reader is served an old value, and a fill whose
//!   `GET` raced a write is discarded. The same scenario without the check serves stale
//!   values, which proves the test can fail.
//! - Expiry without invalidations: a copy stops being served `expire` less the clock margin
//!   after it was written, though no report of the change ever arrives.
//!
//! The hooks are process-wide: these tests run one at a time (a lock), in a binary of their own,
//! and reset the hooks when they end, failed or not.

mod common;
mod local_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rediscache::__private::local_test_hooks;
use rediscache::{Function, Local, RedisCache};
use testkit::*;

use local_support::*;

/// Held by the test that has the hooks.
static SERIAL: Mutex<()> = Mutex::new(());

/// The hooks of one test, reset when it ends.
struct Hooks {
    _serial: MutexGuard<'static, ()>,
}

impl Hooks {
    fn set(fill_delay: Duration, unchecked: bool, ignore_changes: bool) -> Hooks {
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        local_test_hooks(fill_delay, unchecked, ignore_changes);
        Hooks { _serial: serial }
    }

    fn change(&self, fill_delay: Duration, unchecked: bool, ignore_changes: bool) {
        local_test_hooks(fill_delay, unchecked, ignore_changes);
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        local_test_hooks(Duration::ZERO, false, false);
    }
}

fn wait_live_blocking(cache: &RedisCache) {
    let _ = cache.ping_blocking();
    assert!(
        eventually(SOON, || live(cache)),
        "the tier went live: {:?}",
        cache.local_status()
    );
}

// --- The fill race --------------------------------------------------------------------------

static RACED: Function = Function::new("race::value")
    .refresh(Duration::from_secs(60))
    .expire(Duration::from_secs(120));

/// The key the readers and the writer share.
fn key() -> (String,) {
    ("k".to_owned(),)
}

fn read_raced(cache: &RedisCache) -> u64 {
    // Always in Redis: a miss would compute this.
    RACED.get_or_compute_blocking(cache, key(), || u64::MAX)
}

fn write_raced(cache: &RedisCache, value: u64) {
    RACED.set_blocking(cache, key(), &value).expect("set");
}

/// What a run of the fill race saw.
#[derive(Debug)]
struct Race {
    /// Reads while the writer wrote.
    reads: usize,
    /// Reads started after the writes stopped and their invalidations arrived.
    reads_after: usize,
    /// Of those, the ones served an old value.
    stale_after: usize,
    /// Reads after the one fill known to have raced a write, and how many were stale.
    checked_reads: usize,
    stale_checked: usize,
    /// Fills discarded because an invalidation came while their `GET` was in flight.
    discarded: u64,
}

/// Readers fill the key while a writer keeps changing it, then one fill is raced on purpose:
/// its `GET` is answered, then the key is written, then the fill lands.
fn fill_race(unchecked: bool) -> Race {
    const READERS: usize = 4;
    const WRITES: u64 = 60;
    let hooks = Hooks::set(Duration::from_millis(50), unchecked, false);
    let server = RedisServer::start();
    show_warnings();
    let reader = tiered(&server, Local::new());
    let writer = plain(&server);
    write_raced(&writer, 0);
    wait_live_blocking(&reader);
    assert_eq!(read_raced(&reader), 0);

    // Readers fill while the writer writes (each fill waits 50 ms between its GET and its
    // insert, so most of them race a write).
    let stop = AtomicBool::new(false);
    let (reads, settled) = thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                s.spawn(|| {
                    let mut reads = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        reads.push((started, read_raced(&reader)));
                    }
                    reads
                })
            })
            .collect();
        for value in 1..=WRITES {
            write_raced(&writer, value);
            thread::sleep(Duration::from_millis(5));
        }
        settle_blocking(&reader, &writer);
        let settled = Instant::now();
        // Fills in flight when the writes stopped land meanwhile.
        thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        let reads: Vec<(Instant, u64)> = readers
            .into_iter()
            .flat_map(|r| r.join().expect("reader"))
            .collect();
        (reads, settled)
    });
    let after: Vec<u64> = reads
        .iter()
        .filter(|(at, _)| *at > settled)
        .map(|r| r.1)
        .collect();
    let stale_after = after.iter().filter(|v| **v != WRITES).count();

    // One race for sure: the copy goes (the write's report is awaited), a reader's GET is
    // answered and its fill sleeps a second, the key is written meanwhile, then it lands.
    write_raced(&writer, WRITES + 1);
    settle_blocking(&reader, &writer);
    hooks.change(Duration::from_secs(1), unchecked, false);
    let gets = command_calls(&server, "get");
    thread::scope(|s| {
        let raced = s.spawn(|| read_raced(&reader));
        assert!(
            eventually(SOON, || command_calls(&server, "get") > gets),
            "the reader's GET was answered"
        );
        write_raced(&writer, WRITES + 2);
        assert_eq!(
            raced.join().expect("reader"),
            WRITES + 1,
            "read before the write"
        );
    });
    hooks.change(Duration::ZERO, unchecked, false);
    settle_blocking(&reader, &writer);
    let checked: Vec<u64> = thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| s.spawn(|| (0..50).map(|_| read_raced(&reader)).collect::<Vec<_>>()))
            .collect();
        readers
            .into_iter()
            .flat_map(|r| r.join().expect("reader"))
            .collect()
    });
    let stale_checked = checked.iter().filter(|v| **v != WRITES + 2).count();
    let race = Race {
        reads: reads.len(),
        reads_after: after.len(),
        stale_after,
        checked_reads: checked.len(),
        stale_checked,
        discarded: stats_of_blocking(&reader, &RACED).local_discarded_fills,
    };
    println!(
        "unchecked={unchecked}: {race:?}; local hits {}",
        stats_of_blocking(&reader, &RACED).local_hits
    );
    race
}

#[test]
fn a_fill_that_raced_a_write_is_never_served() {
    let race = fill_race(false);
    assert!(
        race.reads > race.reads_after && race.reads_after > 0,
        "{race:?}"
    );
    assert_eq!(
        race.stale_after, 0,
        "stale after the writes stopped: {race:?}"
    );
    assert_eq!(race.stale_checked, 0, "the raced fill was served: {race:?}");
    assert!(
        race.discarded >= 1,
        "the raced fill was discarded: {race:?}"
    );
}

#[test]
fn without_the_check_the_same_race_serves_stale_values() {
    let race = fill_race(true);
    // The readers' race may or may not have left a stale copy (`stale_after`); the one raced
    // on purpose does.
    assert!(race.reads > race.reads_after, "{race:?}");
    assert_eq!(
        race.stale_checked, race.checked_reads,
        "the raced fill stays and is served: {race:?}"
    );
}

// --- Expiry without invalidations -----------------------------------------------------------

static SHORT: Function = Function::new("race::short")
    .refresh(Duration::from_secs(2))
    .expire(Duration::from_secs(2));

#[test]
fn a_copy_expires_from_memory_though_no_invalidation_arrives() {
    let _hooks = Hooks::set(Duration::ZERO, false, true);
    let server = RedisServer::start();
    show_warnings();
    let reader = tiered(&server, Local::new());
    let writer = plain(&server);
    wait_live_blocking(&reader);
    SHORT
        .set_blocking(&writer, key(), &"old".to_owned())
        .expect("set");
    let written = Instant::now();
    assert_eq!(in_memory_blocking(&SHORT, &reader, "k"), "old");
    SHORT
        .set_blocking(&writer, key(), &"new".to_owned())
        .expect("set");
    let rewritten = written.elapsed();
    let mut old = Vec::new();
    let new_at = loop {
        let at = written.elapsed();
        match read_blocking(&SHORT, &reader, "k").as_str() {
            "old" => old.push(at),
            "new" => break at,
            other => panic!("read {other}"),
        }
        assert!(at < SOON, "the copy never expired");
        thread::sleep(Duration::from_millis(5));
    };
    // `expire` less the clock margin (500 ms, at most a quarter of `expire`).
    let bound = Duration::from_millis(2000 - 500);
    println!(
        "written, rewritten {rewritten:?} later: {} reads of the copy, the last {:?} after \
         the write, the new value {new_at:?} after (bound {bound:?})",
        old.len(),
        old.last()
    );
    assert!(
        old.iter().any(|at| *at > rewritten),
        "memory served the copy after the unreported write: the hook holds invalidations back"
    );
    assert!(
        old.iter().all(|at| *at < bound + Duration::from_millis(20)),
        "served after written + expire - margin: {old:?}"
    );
    assert!(new_at < bound + Duration::from_millis(500), "{new_at:?}");
}
