//! What a cached hit costs on a Redis Cluster against a single `redis-server`, in the same run:
//! the throughput of 64 concurrent tasks and the latency of one call at a time.
//!
//! ```sh
//! cargo bench --bench cluster
//! ```
//!
//! It starts its own servers on free ports of 127.0.0.1 (never 6379) and stops them at the end:
//! one `redis-server`, and a cluster of 3 primaries with a replica each (`testkit`). A run
//! takes about 30 s on 2 cores. Without `--bench` (`cargo test --benches`) it runs one short
//! round, as a smoke test.
//!
//! # What is measured
//!
//! `on_single` caches a 100-byte `Vec<u8>` on the single server, `on_cluster` on the cluster.
//! Both are filled for keys `0..300` first (on the cluster the entries spread over the 3
//! primaries), so every timed call is a fresh hit. Callers are tasks of a 2-worker tokio
//! runtime calling random keys among the 300, for a fixed time per block: 64 tasks at once
//! (`throughput 64 tasks`, calls per second of wall time) or one (`latency 1 task`, time per
//! call). Each round alternates `BLOCKS` blocks of each deployment, swapping the order every
//! block, so that both see the same machine (a noisy shared 2-core VM).
//!
//! # What it prints
//!
//! Setup, warm-up and final stats on stderr; on stdout, per case, a line like
//! `cluster bench: throughput 64 tasks: cluster 0.83x single (single N calls/s, cluster M
//! calls/s; rounds 0.78..0.90, median 0.84x)`: the cluster's calls per second over the single
//! server's (below 1: fewer), or for latency its time per call over the single server's (above
//! 1: slower); over all rounds together, then the range and median of the rounds' own ratios.
//! It then asserts that after the warm-up each cache counted one hit per call and no miss,
//! compute or error. `CLUSTER_ROUNDS` sets the rounds (10 by default).

use std::hint::black_box;
use std::time::{Duration, Instant};

use rediscache::{RedisCache, RedisCacheBuilder, cache};
use testkit::{Cluster, RedisServer, Slot, is_entry, runtime};
use tokio::runtime::Runtime;

/// The cache of `on_single`, on one `redis-server`.
static SINGLE: Slot<RedisCache> = Slot::new();
/// The cache of `on_cluster`, on the cluster.
static CLUSTER: Slot<RedisCache> = Slot::new();

/// Distinct keys called.
const KEYS: u64 = 300;
/// Length of the cached value.
const VALUE_BYTES: usize = 100;
/// Blocks of each deployment per round.
const BLOCKS: usize = 4;

#[cache(cache = SINGLE, refresh = 3600, expire = 7200, wait = true)]
async fn on_single(_k: u64) -> Vec<u8> {
    vec![7; VALUE_BYTES]
}

#[cache(cache = CLUSTER, refresh = 3600, expire = 7200, wait = true)]
async fn on_cluster(_k: u64) -> Vec<u8> {
    vec![7; VALUE_BYTES]
}

/// The deployments, by index: 0 the single server, 1 the cluster.
const NAMES: [&str; 2] = ["single", "cluster"];
const CACHES: [&Slot<RedisCache>; 2] = [&SINGLE, &CLUSTER];

/// A call of deployment `t`'s cached function.
async fn call(t: usize, k: u64) -> Vec<u8> {
    if t == 0 {
        on_single(k).await
    } else {
        on_cluster(k).await
    }
}

/// A measurement: its name, the tasks calling at once, and the length of a block in ms.
type Case = (&'static str, u64, u64);

const CASES: [Case; 2] = [("throughput 64 tasks", 64, 150), ("latency 1 task", 1, 60)];

/// xorshift64: a key picker without a dependency; `state` must not be 0.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `tasks` tasks of `rt` call deployment `t` with random keys for `ms`: calls, wall time.
fn block(rt: &Runtime, t: usize, tasks: u64, ms: u64, seed: u64) -> (u64, f64) {
    rt.block_on(async move {
        let start = Instant::now();
        let until = start + Duration::from_millis(ms);
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                tokio::spawn(async move {
                    let (mut state, mut n) = (seed * 1000 + i + 1, 0u64);
                    while Instant::now() < until {
                        let v = call(t, next(&mut state) % KEYS).await;
                        assert_eq!(black_box(v).len(), VALUE_BYTES);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut calls = 0;
        for h in handles {
            calls += h.await.expect("bench task panicked");
        }
        (calls, start.elapsed().as_secs_f64())
    })
}

/// Runs `case` over `rounds` rounds and prints its line; adds its calls to `made`.
fn run_case(rt: &Runtime, case: Case, rounds: usize, seed: &mut u64, made: &mut [u64; 2]) {
    let (name, tasks, ms) = case;
    // Per round (round 0: an untimed warm-up) and deployment: calls and seconds.
    let mut sums = vec![[(0u64, 0.0); 2]; rounds + 1];
    for round in sums.iter_mut() {
        for b in 0..BLOCKS {
            for t in [b % 2, (b + 1) % 2] {
                *seed += 1;
                let (calls, secs) = block(rt, t, tasks, ms, *seed);
                made[t] += calls;
                round[t].0 += calls;
                round[t].1 += secs;
            }
        }
    }
    // Seconds per call of `t` over `rs` (for 64 tasks: wall time, the inverse of throughput).
    let per_call = |t: usize, rs: &[[(u64, f64); 2]]| {
        let calls: u64 = rs.iter().map(|r| r[t].0).sum();
        rs.iter().map(|r| r[t].1).sum::<f64>() / calls.max(1) as f64
    };
    let throughput = tasks > 1;
    let ratio = |rs: &[[(u64, f64); 2]]| {
        let cluster_over_single = per_call(1, rs) / per_call(0, rs);
        cluster_over_single.powi(if throughput { -1 } else { 1 })
    };
    let mut by_round: Vec<f64> = sums[1..].chunks(1).map(ratio).collect();
    by_round.sort_by(f64::total_cmp);
    let show = |t| match throughput {
        true => format!("{:.0} calls/s", 1.0 / per_call(t, &sums[1..])),
        false => format!("{:.1} µs/call", per_call(t, &sums[1..]) * 1e6),
    };
    println!(
        "cluster bench: {name}: cluster {:.2}x single (single {}, cluster {}; rounds {:.2}..{:.2}, \
         median {:.2}x)",
        ratio(&sums[1..]),
        show(0),
        show(1),
        by_round[0],
        by_round[rounds - 1],
        by_round[rounds / 2],
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = std::env::var("CLUSTER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok());
    let rounds = if quick {
        1
    } else {
        rounds.filter(|&n| n > 0).unwrap_or(10)
    };
    let started = Instant::now();
    let server = RedisServer::start();
    let cluster = Cluster::start();
    let build = |b: RedisCacheBuilder| b.from_env(false).build().expect("valid config");
    SINGLE.set(build(RedisCache::builder().url(server.url())));
    CLUSTER.set(build(RedisCache::builder().cluster(cluster.urls())));
    eprintln!(
        "cluster bench: redis-server on port {}; cluster primaries {:?}; up in {:.1} s",
        server.port,
        cluster.primaries(),
        started.elapsed().as_secs_f64()
    );

    let rt = runtime(true);
    rt.block_on(async {
        tokio::spawn(async {
            for k in 0..KEYS {
                assert_eq!(on_single(k).await.len(), VALUE_BYTES);
                assert_eq!(on_cluster(k).await.len(), VALUE_BYTES);
            }
        })
        .await
        .expect("warm-up task");
    });
    let per_primary: Vec<(u16, usize)> = cluster
        .primaries()
        .into_iter()
        .map(|p| {
            let keys = cluster.cli(p, &["--scan"]).unwrap_or_default();
            let entries = keys.lines().filter(|k| is_entry(k));
            (p, entries.count())
        })
        .collect();
    eprintln!("cluster bench: entries per primary (port, entries): {per_primary:?}");
    let total: usize = per_primary.iter().map(|(_, n)| n).sum();
    assert_eq!(total, KEYS as usize, "one entry per key");
    assert!(
        per_primary.iter().all(|(_, n)| *n > 0),
        "entries on every primary"
    );
    for (name, cache) in NAMES.iter().zip(CACHES) {
        let s = rt.block_on(cache.take_stats());
        let s = s.expect("take_stats");
        eprintln!("cluster bench: {name} warm-up stats: {s:?}");
        assert_eq!(s.missed, KEYS, "{name}: each warm-up call missed");
    }

    let (mut seed, mut made) = (0, [0u64; 2]);
    for case in CASES {
        run_case(&rt, case, rounds, &mut seed, &mut made);
    }

    for ((name, cache), calls) in NAMES.iter().zip(CACHES).zip(made) {
        let s = rt.block_on(cache.stats()).expect("stats");
        eprintln!("cluster bench: {name} stats after warm-up: {s:?} ({calls} calls)");
        assert_eq!(s.missed, 0, "{name}: no miss after warm-up");
        assert_eq!(s.errors, 0, "{name}: no Redis error");
        assert_eq!(s.refresh, 0, "{name}: nothing computed after warm-up");
        assert_eq!(s.success, calls, "{name}: every call a hit");
    }
    eprintln!(
        "cluster bench: {rounds} rounds, done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
