//! What a hit from the local tier costs, as a ratio against a raw Redis `GET` of the same entry
//! bytes on the same private `redis-server`, in the same run; moka's own `get` as the floor; and
//! what the tier adds to a miss.
//!
//! ```sh
//! cargo bench --bench local
//! ```
//!
//! It starts its own `redis-server` on a free port of 127.0.0.1 (never 6379) and stops it at the
//! end; a run takes about a minute and a half on 2 cores. `cargo bench --bench local -- NAME`
//! runs only the criterion benchmarks whose id contains `NAME`; the summary still runs.
//!
//! # What is measured
//!
//! Three caches on the one server, each under its own prefix (of the same length, so every key
//! is as long as its twin's): `plain` without the tier, `local` with it (`Local::new()`), and
//! `lmiss` with it too, for the misses only, so that their writes (each reported to the tier by
//! Redis) never touch the stripes of the entries the hits read.
//!
//! | group | variants |
//! |---|---|
//! | `hit async, small struct` | `raw GET` of the entry's bytes on a `MultiplexedConnection`; `cached hit` (no tier, one `GET`); `local hit`; `moka get` of the entry's bytes under a key as long |
//! | `hit async, 1 KiB` | the same, for a `Vec<u8>` of 1024 bytes |
//! | `hit sync, small struct` | `raw GET` on a blocking `redis::Connection`; `cached hit`; `local hit`, of a sync function |
//! | `miss async` | `miss without tier`, `miss with tier`: a `GET` finding nothing, the function computing (no I/O), the lease and the store; each call a key never used before; and `miss without tier, tracked`, the same without the tier but under the prefix the tier of `lmiss` tracks, so its writes are reported to that tier: the part of the difference that is Redis's and the tracking connection's, not the call path's |
//!
//! Async callers run in a task of the bench's own runtime, sync ones on the main thread.
//!
//! # What it prints
//!
//! 1. `local: redis-server on port P; entries ...`: the entries and their sizes.
//! 2. Criterion, per `GROUP/VARIANT`: `time: [low estimate high]` per call.
//! 3. `local summary: ...`: per group, a timing loop of our own that alternates the variants
//!    block by block, each block about a millisecond whatever a call costs, so all variants
//!    see the same machine (see benches/hits/summary.rs for why); one line per variant
//!    (`ns/call` over all rounds, and each round's), then the ratios on stdout:
//!    `hit async, small struct: local hit 0.0061x time of raw GET (median round 0.0060x,
//!    rounds 0.0055..0.0070); bound 0.01x: met`.
//! 4. `local: CPU cost per local-hit step`: each step of a local hit timed alone (the key, the
//!    tier's checks, its map's `get`, the clock, the copy, the counter), and their sum.
//! 5. The caches' counters; the bench asserts that every timed hit of `local` came from memory
//!    (`local_hits`), that only the fills read Redis, and that every timed miss missed.
//!
//! # Environment
//!
//! - `LOCAL_ROUNDS`: the summary's rounds, 10 by default; 0 skips the summary.
//! - `LOCAL_GROUPS`: runs only the summary groups whose name contains it (`miss`: the misses
//!   alone, about a quarter of the time with `cargo bench --bench local -- miss`); the CPU
//!   attribution of a local hit runs only when a `hit` group does.

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use rediscache::__private::KeyArgs;
use rediscache::{Local, LocalState, RedisCache, cache};
use serde::{Deserialize, Serialize};
use testkit::{RedisServer, Slot, eventually};
use tokio::runtime::Runtime;

/// Without the tier.
static PLAIN: Slot<RedisCache> = Slot::new();
/// With the tier: the hits.
static LOCAL: Slot<RedisCache> = Slot::new();
/// With the tier: the misses, apart from the hits' entries.
static LOCAL_MISS: Slot<RedisCache> = Slot::new();
/// Without the tier, under `LOCAL_MISS`'s prefix: its writes are reported to that tier.
static TRACKED: Slot<RedisCache> = Slot::new();

/// A small value, as a rate or a config would be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rate {
    currency: String,
    rate: f64,
    updated_ms: u64,
    source: String,
}

fn rate(id: u64) -> Rate {
    Rate {
        currency: format!("C{id:03}"),
        rate: 1.0 + id as f64 / 1000.0,
        updated_ms: 1_700_000_000_000 + id,
        source: "ecb".into(),
    }
}

const BLOB_BYTES: usize = 1024;

fn blob(id: u64) -> Vec<u8> {
    vec![(id % 251) as u8; BLOB_BYTES]
}

#[cache(cache = PLAIN, name = "bench::rate", refresh = 3600, expire = 7200, wait = true)]
async fn rate_plain(id: u64) -> Rate {
    rate(id)
}

#[cache(cache = LOCAL, name = "bench::rate", refresh = 3600, expire = 7200, wait = true)]
async fn rate_local(id: u64) -> Rate {
    rate(id)
}

#[cache(cache = PLAIN, name = "bench::blob", refresh = 3600, expire = 7200, wait = true)]
async fn blob_plain(id: u64) -> Vec<u8> {
    blob(id)
}

#[cache(cache = LOCAL, name = "bench::blob", refresh = 3600, expire = 7200, wait = true)]
async fn blob_local(id: u64) -> Vec<u8> {
    blob(id)
}

#[cache(cache = PLAIN, name = "bench::rsync", refresh = 3600, expire = 7200, wait = true)]
fn rate_sync_plain(id: u64) -> Rate {
    rate(id)
}

#[cache(cache = LOCAL, name = "bench::rsync", refresh = 3600, expire = 7200, wait = true)]
fn rate_sync_local(id: u64) -> Rate {
    rate(id)
}

// Short-lived: the misses leave one entry per call.
#[cache(cache = PLAIN, name = "bench::miss", refresh = 20, expire = 40, wait = true)]
async fn miss_plain(id: u64) -> Rate {
    rate(id)
}

#[cache(cache = LOCAL_MISS, name = "bench::miss", refresh = 20, expire = 40, wait = true)]
async fn miss_local(id: u64) -> Rate {
    rate(id)
}

/// A miss without the tier whose writes another cache's tier is told of: what tracking costs
/// a miss, apart from the call path's part.
#[cache(cache = TRACKED, name = "bench::mist", refresh = 20, expire = 40, wait = true)]
async fn miss_tracked(id: u64) -> Rate {
    rate(id)
}

/// The next key no call has used: every miss call takes one.
static NEXT_MISS: AtomicU64 = AtomicU64::new(1_000_000);

/// Calls made by the timing code, per kind, for the final check.
static PLAIN_HITS: AtomicU64 = AtomicU64::new(0);
static LOCAL_HITS: AtomicU64 = AtomicU64::new(0);
static PLAIN_MISSES: AtomicU64 = AtomicU64::new(0);
static LOCAL_MISSES: AtomicU64 = AtomicU64::new(0);
static TRACKED_MISSES: AtomicU64 = AtomicU64::new(0);

/// One timed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    RawGet(Value),
    Cached(Value),
    Local(Value),
    Moka(Value),
    SyncRaw,
    SyncCached,
    SyncLocal,
    MissPlain,
    MissLocal,
    MissTracked,
}

/// Which value a hit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Small,
    Kib,
}

impl Op {
    /// Counts `n` calls of this op, for the final check.
    fn count(self, n: u64) {
        let counter = match self {
            Op::Cached(_) | Op::SyncCached => &PLAIN_HITS,
            Op::Local(_) | Op::SyncLocal => &LOCAL_HITS,
            Op::MissPlain => &PLAIN_MISSES,
            Op::MissLocal => &LOCAL_MISSES,
            Op::MissTracked => &TRACKED_MISSES,
            Op::RawGet(_) | Op::Moka(_) | Op::SyncRaw => return,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Calls per summary block: about a millisecond of each.
    fn block(self) -> u64 {
        match self {
            Op::Local(_) | Op::SyncLocal | Op::Moka(_) => 4000,
            Op::MissPlain | Op::MissLocal | Op::MissTracked => 8,
            _ => 25,
        }
    }
}

/// The server, the runtime, the connections, the keys and the floor.
struct Fixture {
    /// Runs until the end of the bench.
    _server: RedisServer,
    rt: Runtime,
    conn: MultiplexedConnection,
    sync_conn: RefCell<redis::Connection>,
    /// The entries of `rate_local(1)` and `blob_local(1)`.
    small_key: String,
    kib_key: String,
    /// Holds both entries' bytes under keys as long as theirs, as the tier would.
    moka: moka::sync::Cache<String, Arc<[u8]>>,
    moka_small: String,
    moka_kib: String,
}

fn cache(server: &RedisServer, prefix: &str, local: bool) -> RedisCache {
    let builder = RedisCache::builder()
        .url(server.url())
        .prefix(prefix)
        .from_env(false);
    let builder = if local {
        builder.local(Local::new())
    } else {
        builder
    };
    builder.build().expect("valid cache configuration")
}

fn live(cache: &Slot<RedisCache>) -> bool {
    cache
        .get()
        .expect("set")
        .local_status()
        .is_some_and(|s| s.state == LocalState::Live)
}

impl Fixture {
    fn start() -> Fixture {
        let server = RedisServer::start();
        PLAIN.set(cache(&server, "plain", false));
        LOCAL.set(cache(&server, "local", true));
        LOCAL_MISS.set(cache(&server, "lmiss", true));
        TRACKED.set(cache(&server, "lmiss", false));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("bench runtime");
        let client = redis::Client::open(server.url()).expect("url");
        let conn = rt
            .block_on(client.get_multiplexed_async_connection())
            .expect("raw connection");
        let sync_conn = RefCell::new(client.get_connection().expect("sync connection"));

        // First calls: a miss each, which stores the entry and starts the tiers' tracking.
        rt.block_on(rt.spawn(async {
            assert_eq!(rate_plain(1).await, rate(1));
            assert_eq!(rate_local(1).await, rate(1));
            assert_eq!(blob_plain(1).await, blob(1));
            assert_eq!(blob_local(1).await, blob(1));
            assert_eq!(miss_local(0).await, rate(0));
        }))
        .expect("fill task");
        assert_eq!(rate_sync_plain(1), rate(1));
        assert_eq!(rate_sync_local(1), rate(1));
        for tier in [&LOCAL, &LOCAL_MISS] {
            assert!(
                eventually(Duration::from_secs(10), || live(tier)),
                "the tier goes live: {:?}",
                tier.get().expect("set").local_status()
            );
        }
        // The first hits once live read Redis and fill the tier; from then on, memory.
        rt.block_on(rt.spawn(async {
            assert_eq!(rate_local(1).await, rate(1));
            assert_eq!(blob_local(1).await, blob(1));
        }))
        .expect("fill task");
        assert_eq!(rate_sync_local(1), rate(1));

        let small_key = "local:{bench::rate(1)}".to_owned();
        let kib_key = "local:{bench::blob(1)}".to_owned();
        let mut entries = server.keys("*:{bench::*");
        entries.retain(|k| k.ends_with('}'));
        entries.sort();
        assert!(
            entries.contains(&small_key) && entries.contains(&kib_key),
            "{entries:?}"
        );
        let moka = moka::sync::Cache::builder()
            .max_capacity(Local::DEFAULT_MAX_BYTES)
            .weigher(|k: &String, v: &Arc<[u8]>| (k.len() + v.len() + 160) as u32)
            .build();
        let (moka_small, moka_kib) = ("floor:{bench::rate(1)}", "floor:{bench::blob(1)}");
        let mut sizes = Vec::new();
        for (key, twin) in [(&small_key, moka_small), (&kib_key, moka_kib)] {
            let bytes: Vec<u8> = redis::cmd("GET")
                .arg(key)
                .query(&mut *sync_conn.borrow_mut())
                .expect("GET entry");
            sizes.push(format!("{key} {} bytes", bytes.len()));
            moka.insert(twin.to_owned(), Arc::from(bytes));
        }
        eprintln!(
            "local: redis-server on port {}; entries {}; the raw GETs read those keys, moka \
             holds their bytes under keys as long",
            server.port,
            sizes.join(", ")
        );
        Fixture {
            _server: server,
            rt,
            conn,
            sync_conn,
            small_key,
            kib_key,
            moka,
            moka_small: moka_small.into(),
            moka_kib: moka_kib.into(),
        }
    }

    /// `n` calls of `op` after one untimed call; their total time.
    fn time(&self, op: Op, n: u64) -> Duration {
        op.count(n + 1);
        match op {
            Op::Moka(v) => {
                let key = match v {
                    Value::Small => self.moka_small.as_str(),
                    Value::Kib => self.moka_kib.as_str(),
                };
                black_box(self.moka.get(key).expect("held"));
                let t = Instant::now();
                for _ in 0..n {
                    black_box(self.moka.get(black_box(key)).expect("held"));
                }
                t.elapsed()
            }
            Op::SyncRaw | Op::SyncCached | Op::SyncLocal => {
                let mut conn = self.sync_conn.borrow_mut();
                let mut call = || match op {
                    Op::SyncRaw => {
                        let v: Option<Vec<u8>> = redis::cmd("GET")
                            .arg(&self.small_key)
                            .query(&mut *conn)
                            .expect("sync GET");
                        black_box(v.expect("present"));
                    }
                    Op::SyncCached => {
                        black_box(rate_sync_plain(black_box(1)));
                    }
                    _ => {
                        black_box(rate_sync_local(black_box(1)));
                    }
                };
                call();
                let t = Instant::now();
                for _ in 0..n {
                    call();
                }
                t.elapsed()
            }
            _ => {
                let mut conn = self.conn.clone();
                let key = match op {
                    Op::RawGet(Value::Kib) => self.kib_key.clone(),
                    _ => self.small_key.clone(),
                };
                self.rt
                    .block_on(self.rt.spawn(async move {
                        call_async(op, &mut conn, &key).await;
                        let t = Instant::now();
                        for _ in 0..n {
                            call_async(op, &mut conn, &key).await;
                        }
                        t.elapsed()
                    }))
                    .expect("bench task panicked")
            }
        }
    }
}

async fn call_async(op: Op, conn: &mut MultiplexedConnection, key: &str) {
    match op {
        Op::RawGet(_) => {
            let v: Option<Vec<u8>> = conn.get(key).await.expect("raw GET");
            black_box(v.expect("present"));
        }
        Op::Cached(Value::Small) => {
            black_box(rate_plain(black_box(1)).await);
        }
        Op::Cached(Value::Kib) => {
            black_box(blob_plain(black_box(1)).await);
        }
        Op::Local(Value::Small) => {
            black_box(rate_local(black_box(1)).await);
        }
        Op::Local(Value::Kib) => {
            black_box(blob_local(black_box(1)).await);
        }
        Op::MissPlain => {
            let id = NEXT_MISS.fetch_add(1, Ordering::Relaxed);
            black_box(miss_plain(id).await);
        }
        Op::MissLocal => {
            let id = NEXT_MISS.fetch_add(1, Ordering::Relaxed);
            black_box(miss_local(id).await);
        }
        Op::MissTracked => {
            let id = NEXT_MISS.fetch_add(1, Ordering::Relaxed);
            black_box(miss_tracked(id).await);
        }
        Op::Moka(_) | Op::SyncRaw | Op::SyncCached | Op::SyncLocal => unreachable!("not async"),
    }
}

/// The groups: a name, its variants (the baseline first), and the ratios the summary prints:
/// (variant, baseline, the most its time may be of the baseline's, if bounded).
type Group = (
    &'static str,
    &'static [(&'static str, Op)],
    &'static [(&'static str, &'static str, Option<f64>)],
);

const GROUPS: [Group; 4] = [
    (
        "hit async, small struct",
        &[
            ("raw GET", Op::RawGet(Value::Small)),
            ("cached hit", Op::Cached(Value::Small)),
            ("local hit", Op::Local(Value::Small)),
            ("moka get", Op::Moka(Value::Small)),
        ],
        &[
            ("local hit", "raw GET", Some(0.01)),
            ("cached hit", "raw GET", None),
        ],
    ),
    (
        "hit async, 1 KiB",
        &[
            ("raw GET", Op::RawGet(Value::Kib)),
            ("cached hit", Op::Cached(Value::Kib)),
            ("local hit", Op::Local(Value::Kib)),
            ("moka get", Op::Moka(Value::Kib)),
        ],
        &[
            ("local hit", "raw GET", Some(0.01)),
            ("cached hit", "raw GET", None),
        ],
    ),
    (
        "hit sync, small struct",
        &[
            ("raw GET", Op::SyncRaw),
            ("cached hit", Op::SyncCached),
            ("local hit", Op::SyncLocal),
        ],
        &[
            ("local hit", "raw GET", Some(0.01)),
            ("cached hit", "raw GET", None),
        ],
    ),
    (
        "miss async",
        &[
            ("miss without tier", Op::MissPlain),
            ("miss without tier, tracked", Op::MissTracked),
            ("miss with tier", Op::MissLocal),
        ],
        &[
            ("miss with tier", "miss without tier", Some(1.05)),
            ("miss without tier, tracked", "miss without tier", None),
            ("miss with tier", "miss without tier, tracked", None),
        ],
    ),
];

fn criterion_groups(c: &mut Criterion, fx: &Fixture) {
    for (group, variants, _) in GROUPS {
        let mut g = c.benchmark_group(group);
        for &(name, op) in variants {
            g.bench_function(name, |b| b.iter_custom(|n| fx.time(op, n)));
        }
        g.finish();
    }
}

/// Per-call times of one variant, one entry per round.
struct Series {
    name: &'static str,
    per_call_ns: Vec<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `rounds` rounds of 20 blocks per variant, the variants alternating block by block (the order
/// rotated each block); prints each variant's times and the group's ratios.
fn summary_group(fx: &Fixture, (group, variants, bounds): Group, rounds: u64) {
    const BLOCKS: u64 = 20;
    let mut series: Vec<Series> = variants
        .iter()
        .map(|&(name, op)| {
            fx.time(op, op.block()); // warm-up
            Series {
                name,
                per_call_ns: Vec::new(),
            }
        })
        .collect();
    let len = variants.len();
    for _ in 0..rounds {
        let mut total = vec![Duration::ZERO; len];
        for b in 0..BLOCKS as usize {
            for k in 0..len {
                let i = (k + b) % len;
                let op = variants[i].1;
                total[i] += fx.time(op, op.block());
            }
        }
        for ((s, t), &(_, op)) in series.iter_mut().zip(total).zip(variants) {
            s.per_call_ns
                .push(t.as_nanos() as f64 / (BLOCKS * op.block()) as f64);
        }
    }
    for s in &series {
        let mean = s.per_call_ns.iter().sum::<f64>() / s.per_call_ns.len() as f64;
        let rounds: Vec<String> = s.per_call_ns.iter().map(|ns| format!("{ns:.0}")).collect();
        let label = format!("{group} / {}", s.name);
        eprintln!(
            "  {label:<44} {mean:>10.0} ns/call  rounds: {}",
            rounds.join(" ")
        );
    }
    let find = |name: &str| {
        series
            .iter()
            .find(|s| s.name == name)
            .expect("a variant of the group")
    };
    for &(name, base, bound) in bounds {
        let (s, b) = (find(name), find(base));
        let sum = |s: &Series| s.per_call_ns.iter().sum::<f64>();
        let all = sum(s) / sum(b);
        let per_round: Vec<f64> = s
            .per_call_ns
            .iter()
            .zip(&b.per_call_ns)
            .map(|(x, y)| x / y)
            .collect();
        let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_round.iter().copied().fold(0.0, f64::max);
        let med = median(per_round);
        let verdict = match bound {
            Some(bound) if med <= bound => format!("; bound {bound}x: met"),
            Some(bound) => format!("; bound {bound}x: NOT MET"),
            None => String::new(),
        };
        let digits = if med < 0.1 { 4 } else { 3 };
        println!(
            "{group}: {name} {all:.digits$}x time of {base} (median round {med:.digits$}x, \
             rounds {lo:.digits$}..{hi:.digits$}){verdict}"
        );
    }
    // The floor, for the hit groups.
    if let (Some(l), Some(m)) = (
        series.iter().find(|s| s.name == "local hit"),
        series.iter().find(|s| s.name == "moka get"),
    ) {
        let ratio = median(l.per_call_ns.clone()) / median(m.per_call_ns.clone());
        println!("{group}: local hit {ratio:.2}x time of moka get (medians)");
    }
}

/// Iterations of each step in [`attribution`].
const STEPS: u32 = 200_000;

fn step(what: &str, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..STEPS {
        f();
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(STEPS);
    eprintln!("  cpu / {what:<60} {ns:>6.1} ns");
    ns
}

/// The steps of a local hit of `rate_local(1)`, each alone in a tight loop, as src/call/local.rs
/// and src/local/tier.rs perform them; and their sum against the hit itself.
fn attribution(fx: &Fixture) {
    eprintln!("\nlocal: CPU cost per local-hit step, {STEPS} iterations each");
    let mut total = 0.0;
    // The expansion's `KeyArgs`, then `Key::new`'s readable branch (src/key.rs).
    total += step("key: KeyArgs (serde_json) + Key::new", || {
        let mut key = KeyArgs::new().arg(black_box(&1u64)).finish().expect("args");
        key.reserve(20);
        for part in ["(", "bench::rate", ":{", "local"] {
            key.insert_str(0, part);
        }
        key.push_str(")}");
        black_box(key);
    });
    // `Tier::live`: the epoch, the monotonic clock against the heartbeat's lease.
    let (epoch, alive_until, base) = (AtomicU64::new(2), AtomicU64::new(u64::MAX), Instant::now());
    total += step(
        "tier live: epoch load + Instant::elapsed + lease load",
        || {
            let since = base.elapsed().as_millis() as u64;
            black_box(
                epoch.load(Ordering::SeqCst) % 2 == 0
                    && since < alive_until.load(Ordering::Acquire),
            );
        },
    );
    // The tier's map: quick_cache's `get` by `&str`, returning an `Arc` clone.
    let map: quick_cache::sync::Cache<String, Arc<[u8]>> = quick_cache::sync::Cache::new(1024);
    let key = fx.moka_small.clone();
    map.insert(key.clone(), fx.moka.get(&key).expect("held"));
    total += step("map get: quick_cache (&str key, Arc clone)", || {
        black_box(map.get(black_box(key.as_str())));
    });
    let stripe = AtomicU64::new(0);
    total += step("held checks: epoch + stripe loads (SeqCst)", || {
        black_box(epoch.load(Ordering::SeqCst) == 2 && stripe.load(Ordering::SeqCst) == 0);
    });
    // `clock::now_ms`, read once per local hit (in `local::before`, passed on).
    total += step("wall clock: SystemTime::now", || {
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        black_box(now.map(|d| d.as_millis() as u64).unwrap_or(0));
    });
    let entry = fx.moka.get(&fx.moka_small).expect("held");
    let kept: Box<dyn std::any::Any + Send + Sync> =
        Box::new(rmp_serde::from_slice::<Rate>(&entry[20..]).expect("decode"));
    // `Rate` is `Clone + Sync`: the hit clones the copy kept at fill (src/call/local.rs).
    total += step("copy: downcast + clone of the kept Rate", || {
        let v: Option<Rate> = black_box(&kept).downcast_ref::<Rate>().cloned();
        black_box(v);
    });
    step(
        "(decode: header + rmp_serde::from_slice::<Rate>, for types that are not Clone; not summed)",
        || {
            let entry = black_box(&entry[..]);
            assert_eq!(&entry[..4], b"rc2\0", "an entry of the crate");
            let written = u64::from_be_bytes(entry[4..12].try_into().expect("8 bytes"));
            let generation = u64::from_be_bytes(entry[12..20].try_into().expect("8 bytes"));
            let v: Rate = rmp_serde::from_slice(&entry[20..]).expect("decode");
            black_box((written, generation, v));
        },
    );
    let kib = fx.moka.get(&fx.moka_kib).expect("held");
    step("(decode of the 1 KiB Vec<u8>, not summed)", || {
        let v: Vec<u8> = rmp_serde::from_slice(black_box(&kib[20..])).expect("decode");
        black_box(v);
    });
    let counter = AtomicU64::new(0);
    total += step(
        "stats: 2x AtomicU64::fetch_add (local_hits, success)",
        || {
            counter.fetch_add(1, Ordering::Relaxed);
            counter.fetch_add(1, Ordering::Relaxed);
        },
    );
    eprintln!("  cpu / {:<60} {total:>6.1} ns", "sum of the steps above");
    let n = u64::from(STEPS);
    let hit = fx.time(Op::Local(Value::Small), n).as_nanos() as f64 / n as f64;
    eprintln!(
        "  cpu / {:<60} {hit:>6.1} ns",
        "a whole local hit of rate_local(1), for comparison"
    );
}

/// Every timed hit was a hit, every timed `local` hit from memory; only the first calls missed
/// and only the fills read Redis on `local`; nothing failed.
fn check_stats() {
    let read = |c: &Slot<RedisCache>| c.get().expect("set").stats_blocking().expect("stats");
    // `TRACKED` shares `LOCAL_MISS`'s prefix: reading its stats first flushes its pending
    // counts (a cache's own flush sends only its own), so `lmiss` below has all of both.
    read(&TRACKED);
    let (plain, local, lmiss) = (read(&PLAIN), read(&LOCAL), read(&LOCAL_MISS));
    let (plain_hits, local_hits) = (
        PLAIN_HITS.load(Ordering::Relaxed),
        LOCAL_HITS.load(Ordering::Relaxed),
    );
    let (plain_misses, local_misses, tracked_misses) = (
        PLAIN_MISSES.load(Ordering::Relaxed),
        LOCAL_MISSES.load(Ordering::Relaxed),
        TRACKED_MISSES.load(Ordering::Relaxed),
    );
    eprintln!(
        "\nlocal: plain stats: {} hits ({plain_hits} timed), {} misses ({plain_misses} timed), \
         {} errors",
        plain.success, plain.missed, plain.errors
    );
    eprintln!(
        "local: local stats: {} hits, {} from memory ({local_hits} timed), {} fills, {} \
         discarded, {} invalidations, {} flushes, {} misses, {} errors",
        local.success,
        local.local_hits,
        local.local_fills,
        local.local_discarded_fills,
        local.local_invalidations,
        local.local_flushes,
        local.missed,
        local.errors
    );
    eprintln!(
        "local: lmiss stats: {} misses ({local_misses} + {tracked_misses} tracked timed), {} \
         invalidations, {} flushes, {} errors",
        lmiss.missed, lmiss.local_invalidations, lmiss.local_flushes, lmiss.errors
    );
    // Three functions per cache missed once, then (on `local`) hit Redis once to fill.
    assert_eq!(plain.success, plain_hits, "plain: every timed call hit");
    assert_eq!(plain.missed, 3 + plain_misses, "plain: the misses");
    assert_eq!(
        local.local_hits, local_hits,
        "local: every timed hit from memory"
    );
    assert_eq!(
        local.success,
        local_hits + 3,
        "local: only the fills read Redis"
    );
    assert_eq!(local.local_fills, 3, "local: one fill per entry");
    assert_eq!(local.missed, 3, "local: the first calls");
    // `TRACKED` shares the prefix, and so the counts, of `LOCAL_MISS`.
    assert_eq!(
        lmiss.missed,
        1 + local_misses + tracked_misses,
        "lmiss: the misses"
    );
    for (name, s) in [("plain", &plain), ("local", &local), ("lmiss", &lmiss)] {
        assert_eq!(s.errors, 0, "{name}: no Redis errors");
    }
}

fn main() {
    let listing = std::env::args().any(|a| a == "--list");
    let fx = Fixture::start();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    criterion_groups(&mut c, &fx);
    c.final_summary();
    if listing {
        return;
    }
    let rounds = std::env::var("LOCAL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let only = std::env::var("LOCAL_GROUPS").unwrap_or_default();
    let groups: Vec<Group> = GROUPS
        .into_iter()
        .filter(|(name, ..)| name.contains(only.as_str()))
        .collect();
    if rounds > 0 {
        eprintln!(
            "\nlocal summary: {rounds} rounds per group; each round times 20 blocks per \
             variant (a block: 4000 memory hits, 25 GETs or 8 misses), alternating"
        );
        for &group in &groups {
            summary_group(&fx, group, rounds);
        }
    }
    if groups.iter().any(|(name, ..)| name.contains("hit")) {
        attribution(&fx);
    }
    check_stats();
}
