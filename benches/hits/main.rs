//! What a fresh cache hit costs, as a ratio against a raw Redis `GET` of a value of the same size
//! under a key of the same length, on the same private `redis-server`, in the same run.
//!
//! ```sh
//! cargo bench --bench hits
//! ```
//!
//! It starts its own `redis-server` on a free port of 127.0.0.1 (never 6379) and stops it at the
//! end; a run takes about a minute on 2 cores. `cargo bench --bench hits -- NAME` runs only the
//! criterion benchmarks whose id contains `NAME`; the summary still runs.
//!
//! # What is measured
//!
//! Two cached functions return a `Vec<u8>` of `HITS_VALUE_BYTES` bytes (100 by default),
//! `cached_async` and `cached_sync`. Each is filled once before any timing, so every timed call
//! is a fresh hit: one `GET`, then the key, the decoding, the freshness check and a counter in
//! memory. Each is compared with what its user would do without the crate:
//!
//! | case | `cached hit` | `raw GET` (baseline) |
//! |---|---|---|
//! | `latency async` | one call at a time, in a task of the bench's tokio runtime | a `redis::aio::MultiplexedConnection` of that runtime |
//! | `throughput async (64 tasks)` | 64 tasks of that runtime calling at once | the same connection, shared by the 64 tasks |
//! | `latency sync` | one call at a time from the main thread, no runtime | a blocking `redis::Connection` of that thread |
//! | `throughput sync (64 threads)` | 64 threads calling at once | a blocking `redis::Connection` per thread |
//!
//! This follows where the crate's connections live (src/backend/pool.rs, src/backend/blocking.rs):
//! an async hit uses a `MultiplexedConnection` of the caller's own runtime, opened on its first
//! call there, so the async baseline is a connection of that same runtime. A sync hit sends its
//! `GET` from the calling thread on one of the cache's few blocking connections (its thread's
//! last one, when free), so the sync baseline is a blocking connection of the calling thread;
//! when they are all busy (most of the 64 threads, most of the time) it goes through the
//! crate's 2-worker background runtime: a park/unpark `block_on` over its multiplexed
//! connection. The sync groups therefore have two more variants, in the same run:
//! - `raw GET via block_on`: a multiplexed `GET` driven that way, over a connection of another
//!   2-worker runtime: the cost of that way of blocking, without the crate;
//! - `cached hit via runtime`: the same cached function, same key and value in database 1, on a
//!   cache with `sync_connections(0)`, whose every hit takes the runtime's path: how every sync
//!   hit went before sync hits had blocking connections. `cached hit` over it is the change.
//!
//! # What it prints
//!
//! Criterion's report and the summary's ratios go to stdout, everything else to stderr.
//!
//! 1. `hits: redis-server on port P; returned value B bytes; entries [..] of E bytes; raw key K
//!    bytes holding E bytes`: the two cached entries, and the raw key and value made to match.
//! 2. Criterion, per `GROUP/VARIANT`: `time: [low estimate high]`, the time per call (a 95%
//!    confidence interval); the throughput groups add `thrpt:`, calls per second (`elem/s`).
//!    Criterion times one variant after the other, so a change of the machine's state in between
//!    shows up as a difference between them; the summary is built to avoid that.
//! 3. `hits summary: N rounds per case; ...`, then per case a timing loop of our own that
//!    alternates the variants block by block (`summary.rs`), printed as:
//!    - one line per variant, `CASE / VARIANT  T µs/call [R calls/s]  rounds: T1 T2 ...`: the
//!      mean time per call over all rounds (for throughput, the calls per second it makes), and
//!      each round's time per call in µs;
//!    - one line per baseline with the ratios (stdout), for latency
//!      `latency async: cached hit 1.04x time of raw GET (median round 1.03x, rounds 0.99..1.08)`:
//!      the hit's time per call over the baseline's (above 1: slower); for throughput
//!      `throughput async (64 tasks): cached hit 0.95x calls/s of raw GET (median round ..)`:
//!      the hits per second over the baseline's calls per second (below 1: fewer). The first
//!      number is over all rounds together, `median round` the median of the rounds' own ratios,
//!      `rounds LO..HI` their range. Prefer the median when the range is wide: on a shared VM a
//!      round trip takes either ~15 µs or ~50 µs depending on where the scheduler put the
//!      threads, for milliseconds to seconds.
//! 4. With `HITS_ATTRIBUTION=1` (`cpu.rs`), `hits: CPU cost per hit step`, then
//!    `cpu / STEP  N ns` for each step of a hit besides the round trip (the key, the gates, the
//!    connection lookup, the decoding, the clock, the counter), each timed alone in a tight
//!    loop, and their sum.
//! 5. `hits: cache stats: H hits (T timed calls), 2 misses, 2 computes, 0 errors`, and the same
//!    for `cache via runtime` (1 miss, 1 compute): the caches' own counters. The bench then
//!    asserts that every timed call was a hit (`H` = `T`), that only the fills missed and
//!    computed, and that no Redis operation failed.
//!
//! # Environment
//!
//! - `HITS_VALUE_BYTES`: the length of the returned `Vec<u8>`, 100 by default;
//! - `HITS_ROUNDS`: the summary's rounds, 10 by default; 0 skips the summary;
//! - `HITS_ATTRIBUTION=1`: prints the CPU cost of each step of a hit;
//! - `HITS_SYNC_CONNECTIONS`: the `sync_connections` of the cache of `cached hit`, the crate's
//!   default (4) unless set.
//!
//! # Files
//!
//! `main.rs` the cached functions, the criterion groups and the final check; `fixture.rs` the
//! server, runtimes, connections and async callers; `sync.rs` the sync callers and the 64-thread
//! team; `summary.rs` the interleaved rounds and their ratios; `cpu.rs` the CPU cost per step.

mod cpu;
mod fixture;
mod summary;
mod sync;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use rediscache::{RedisCache, cache};
use testkit::Slot;

use fixture::{AsyncOp, Fixture};
use sync::{SyncCaller, SyncOp, Team};

/// The cache of both cached functions; set once by [`Fixture::start`].
static CACHE: Slot<RedisCache> = Slot::new();

/// The cache of [`cached_sync_via_runtime`]: database 1 of the same server, and no blocking
/// connections (`sync_connections(0)`), so its sync hits take the runtime's path, as every sync
/// hit did before sync hits had blocking connections. Set once by [`Fixture::start`].
static CACHE_VIA_RUNTIME: Slot<RedisCache> = Slot::new();

/// Calls of the cached functions of [`CACHE`] made by the timing code, each of which must be a
/// hit.
static TIMED_HITS: AtomicU64 = AtomicU64::new(0);

/// The same for [`CACHE_VIA_RUNTIME`].
static TIMED_HITS_VIA_RUNTIME: AtomicU64 = AtomicU64::new(0);

#[cache(cache = CACHE, refresh = 3600, expire = 7200, wait = true)]
async fn cached_async(_id: u64) -> Vec<u8> {
    vec![7; value_bytes()]
}

#[cache(cache = CACHE, refresh = 3600, expire = 7200, wait = true)]
fn cached_sync(_id: u64) -> Vec<u8> {
    vec![7; value_bytes()]
}

/// `cached_sync` on [`CACHE_VIA_RUNTIME`]: the same key (its name and prefix) in database 1.
#[cache(cache = CACHE_VIA_RUNTIME, name = "hits::cached_sync",
        refresh = 3600, expire = 7200, wait = true)]
fn cached_sync_via_runtime(_id: u64) -> Vec<u8> {
    vec![7; value_bytes()]
}

/// `HITS_VALUE_BYTES`: the length of the values the cached functions return.
fn value_bytes() -> usize {
    static VALUE_BYTES: OnceLock<usize> = OnceLock::new();
    *VALUE_BYTES.get_or_init(|| env_u64("HITS_VALUE_BYTES", 100) as usize)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `HITS_ATTRIBUTION` is set.
fn attribution() -> bool {
    std::env::var_os("HITS_ATTRIBUTION").is_some()
}

/// Records `n` calls of the cached functions of [`CACHE`], for the final check.
fn count_hits(n: u64) {
    TIMED_HITS.fetch_add(n, Ordering::Relaxed);
}

/// Records `n` calls of [`cached_sync_via_runtime`], for the final check.
fn count_hits_via_runtime(n: u64) {
    TIMED_HITS_VIA_RUNTIME.fetch_add(n, Ordering::Relaxed);
}

/// The names of the sync variants, in the order the summary alternates them. The last, the
/// cached hit, is compared with each of the others.
const SYNC_VARIANTS: [(&str, SyncOp); 4] = [
    ("raw GET", SyncOp::RawConn),
    ("raw GET via block_on", SyncOp::RawBlockOn),
    ("cached hit via runtime", SyncOp::CachedViaRuntime),
    ("cached hit", SyncOp::Cached),
];

fn criterion_groups(c: &mut Criterion, fx: &Fixture, team: &Team) {
    let async_variants = [("raw GET", AsyncOp::Raw), ("cached hit", AsyncOp::Cached)];

    let mut g = c.benchmark_group("latency async");
    for (name, op) in async_variants {
        g.bench_function(name, |b| b.iter_custom(|n| fx.async_seq(op, n)));
    }
    g.finish();

    let mut g = c.benchmark_group("throughput async (64 tasks)");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat);
    for (name, op) in async_variants {
        g.bench_function(name, |b| b.iter_custom(|n| fx.async_par(op, n)));
    }
    g.finish();

    let mut caller = SyncCaller::new(fx);
    let mut g = c.benchmark_group("latency sync");
    for (name, op) in SYNC_VARIANTS {
        g.bench_function(name, |b| b.iter_custom(|n| caller.seq(op, n)));
    }
    g.finish();

    let mut g = c.benchmark_group("throughput sync (64 threads)");
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat);
    for (name, op) in SYNC_VARIANTS {
        g.bench_function(name, |b| b.iter_custom(|n| team.run(op, n)));
    }
    g.finish();
}

/// Every timed call was a hit, only the fills missed (two in [`CACHE`], one in
/// [`CACHE_VIA_RUNTIME`]), nothing failed.
fn check_stats() {
    let caches = [
        ("cache", &CACHE, &TIMED_HITS, 2),
        (
            "cache via runtime",
            &CACHE_VIA_RUNTIME,
            &TIMED_HITS_VIA_RUNTIME,
            1,
        ),
    ];
    for (name, cache, timed, fills) in caches {
        let stats = cache.get().expect("set").stats_blocking().expect("stats");
        let timed = timed.load(Ordering::Relaxed);
        eprintln!(
            "hits: {name} stats: {} hits ({timed} timed calls), {} misses, {} computes, {} errors",
            stats.success, stats.missed, stats.refresh, stats.errors
        );
        assert_eq!(stats.success, timed, "{name}: every timed call was a hit");
        assert_eq!(stats.missed, fills, "{name}: only the fills missed");
        assert_eq!(stats.refresh, fills, "{name}: only the fills computed");
        assert_eq!(stats.errors, 0, "{name}: no Redis errors");
    }
}

fn main() {
    let listing = std::env::args().any(|a| a == "--list");
    let fx = Fixture::start();
    let team = Team::new(&fx);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    criterion_groups(&mut c, &fx, &team);
    c.final_summary();
    if listing {
        return;
    }
    let rounds = env_u64("HITS_ROUNDS", 10);
    if rounds > 0 {
        summary::run(&fx, &team, rounds);
    }
    if attribution() {
        cpu::costs(&fx);
    }
    check_stats();
}
