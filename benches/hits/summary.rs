//! The summary: a timing loop of our own that alternates the variants of each case block by
//! block, so that all of them see the same machine, then prints the cached hit's ratios to each
//! baseline.
//!
//! Why: on this VM a round trip takes either ~15 µs or ~50 µs depending on where the scheduler
//! put the threads, and that state lasts from milliseconds to seconds. Criterion times one
//! variant after another and can put them in different states; blocks of a few milliseconds,
//! rotated, cannot.

use std::cell::RefCell;
use std::time::Duration;

use crate::SYNC_VARIANTS;
use crate::fixture::{AsyncOp, Fixture};
use crate::sync::{SyncCaller, Team};

/// Blocks per round and calls per block, in the latency cases (one call at a time).
const LATENCY: (u64, u64) = (20, 50);
/// Blocks per round and calls per block, in the throughput cases (64 callers at once).
const THROUGHPUT: (u64, u64) = (10, 1280);

/// A named way of timing `n` calls.
struct Variant<'a> {
    name: &'static str,
    time: Box<dyn FnMut(u64) -> Duration + 'a>,
}

fn variant<'a>(name: &'static str, time: impl FnMut(u64) -> Duration + 'a) -> Variant<'a> {
    Variant {
        name,
        time: Box::new(time),
    }
}

/// Per-call times of one variant, one entry per round.
struct Series {
    name: &'static str,
    per_call_ns: Vec<f64>,
}

impl Series {
    fn mean(&self) -> f64 {
        self.per_call_ns.iter().sum::<f64>() / self.per_call_ns.len() as f64
    }
}

/// Times every variant over `rounds` rounds of `blocks` blocks of `calls` calls. Within a round
/// the variants alternate block by block, the order rotated each block.
fn interleave(
    rounds: u64,
    (blocks, calls): (u64, u64),
    mut variants: Vec<Variant<'_>>,
) -> Vec<Series> {
    for v in variants.iter_mut() {
        (v.time)(calls); // warm-up
    }
    let mut series: Vec<Series> = variants
        .iter()
        .map(|v| Series {
            name: v.name,
            per_call_ns: Vec::new(),
        })
        .collect();
    let len = variants.len();
    for _ in 0..rounds {
        let mut total = vec![Duration::ZERO; len];
        for b in 0..blocks as usize {
            for k in 0..len {
                let i = (k + b) % len;
                total[i] += (variants[i].time)(calls);
            }
        }
        for (s, t) in series.iter_mut().zip(total) {
            s.per_call_ns
                .push(t.as_nanos() as f64 / (blocks * calls) as f64);
        }
    }
    series
}

/// `cached / base` per-call time: over all rounds, the median round, the lowest and highest.
fn ratio(cached: &Series, base: &Series) -> [f64; 4] {
    let mut r: Vec<f64> = cached
        .per_call_ns
        .iter()
        .zip(&base.per_call_ns)
        .map(|(c, b)| c / b)
        .collect();
    r.sort_by(f64::total_cmp);
    let n = r.len();
    let median = if n % 2 == 1 {
        r[n / 2]
    } else {
        (r[n / 2 - 1] + r[n / 2]) / 2.0
    };
    [cached.mean() / base.mean(), median, r[0], r[n - 1]]
}

/// Prints each variant's times (stderr) and the ratios of the last variant, the cached hit, to
/// each of the others (stdout).
fn report(case: &str, series: &[Series], throughput: bool) {
    for s in series {
        let mean = s.mean();
        let rounds: Vec<String> = s
            .per_call_ns
            .iter()
            .map(|ns| format!("{:.1}", ns / 1e3))
            .collect();
        let rate = if throughput {
            format!("{:>8.0} calls/s", 1e9 / mean)
        } else {
            String::new()
        };
        let label = format!("{case} / {}", s.name);
        eprintln!(
            "  {label:<52} {:>7.2} µs/call {rate}  rounds: {}",
            mean / 1e3,
            rounds.join(" ")
        );
    }
    let (cached, bases) = series.split_last().expect("variants");
    for base in bases {
        let [all, median, lo, hi] = ratio(cached, base);
        if throughput {
            // Calls per second are the inverse of the time per call: the range flips.
            println!(
                "{case}: {} {:.2}x calls/s of {} (median round {:.2}x, rounds {:.2}..{:.2})",
                cached.name,
                1.0 / all,
                base.name,
                1.0 / median,
                1.0 / hi,
                1.0 / lo
            );
        } else {
            println!(
                "{case}: {} {all:.2}x time of {} (median round {median:.2}x, rounds {lo:.2}..{hi:.2})",
                cached.name, base.name
            );
        }
    }
}

/// Runs the four cases, `rounds` rounds each, and prints them.
pub(crate) fn run(fx: &Fixture, team: &Team, rounds: u64) {
    eprintln!(
        "\nhits summary: {rounds} rounds per case; each round times {}x{} calls per variant \
         (latency) or {}x{} (throughput), the variants alternating block by block",
        LATENCY.0, LATENCY.1, THROUGHPUT.0, THROUGHPUT.1
    );

    let async_ops = [("raw GET", AsyncOp::Raw), ("cached hit", AsyncOp::Cached)];
    let seq = async_ops
        .iter()
        .map(|&(name, op)| variant(name, move |n| fx.async_seq(op, n)))
        .collect();
    report("latency async", &interleave(rounds, LATENCY, seq), false);
    let par = async_ops
        .iter()
        .map(|&(name, op)| variant(name, move |n| fx.async_par(op, n)))
        .collect();
    let s = interleave(rounds, THROUGHPUT, par);
    report("throughput async (64 tasks)", &s, true);

    let caller = RefCell::new(SyncCaller::new(fx));
    let seq = SYNC_VARIANTS
        .iter()
        .map(|&(name, op)| {
            let caller = &caller;
            variant(name, move |n| caller.borrow_mut().seq(op, n))
        })
        .collect();
    report("latency sync", &interleave(rounds, LATENCY, seq), false);
    let par = SYNC_VARIANTS
        .iter()
        .map(|&(name, op)| variant(name, move |n| team.run(op, n)))
        .collect();
    let s = interleave(rounds, THROUGHPUT, par);
    report("throughput sync (64 threads)", &s, true);
}
