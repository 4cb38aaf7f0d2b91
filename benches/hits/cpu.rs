//! Attribution (`HITS_ATTRIBUTION=1`): the CPU cost of each step of a hit besides the round
//! trip, one at a time in a tight loop, as the crate performs them (src/call/, src/key.rs,
//! src/backend/, src/codec.rs, src/clock.rs, src/stats/). Their sum is what the crate adds
//! to a `GET` on its connection when nothing waits on a lock or a cache line.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rediscache::__private::KeyArgs;
use rediscache::RedisCacheBuilder;
use tokio::runtime::Handle;

use crate::fixture::Fixture;

const DEFAULT_PREFIX: &str = RedisCacheBuilder::DEFAULT_PREFIX;

/// Iterations of each step.
const N: u32 = 200_000;

/// Times `N` runs of `step` after one untimed run; prints and returns ns per run.
fn time(what: &str, mut step: impl FnMut()) -> f64 {
    step();
    let t = Instant::now();
    for _ in 0..N {
        step();
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(N);
    eprintln!("  cpu / {what:<52} {ns:>7.0} ns");
    ns
}

/// Prints the cost of each step of a hit of `cached_async(1)`, and their sum.
pub(crate) fn costs(fx: &Fixture) {
    eprintln!("\nhits: CPU cost per hit step, {N} iterations each, no I/O");
    let mut total = 0.0;

    // The expansion renders the key arguments with `KeyArgs` (serde_json, comma-separated, one
    // buffer with room for the key): the very code it calls. Then `Key::new`'s readable branch,
    // which builds the key in that buffer.
    let name = "hits::cached_async";
    let key = |prefix: &str, name: &str, args: String| {
        assert!(name.len() + args.len() + 2 <= 160, "a readable key");
        let mut value = args;
        value.reserve(prefix.len() + name.len() + 5);
        for part in ["(", name, ":{", prefix] {
            value.insert_str(0, part);
        }
        value.push_str(")}");
        value
    };
    let args = || {
        KeyArgs::new()
            .arg(black_box(&1u64))
            .finish()
            .expect("key args")
    };
    assert_eq!(
        key(DEFAULT_PREFIX, name, args()),
        fx.entry_key,
        "the measured key is the entry's"
    );
    total += time("key: KeyArgs (serde_json per arg) + Key::new", || {
        black_box(key(black_box(DEFAULT_PREFIX), black_box(name), args()));
    });

    // `is_enabled`, `backend()` (a `OnceLock` and the flusher's flag), the closed breaker.
    let backend = OnceLock::from(1u64);
    let flusher_started = AtomicBool::new(true);
    let breaker_open_until = AtomicU64::new(0);
    total += time("gates: OnceLock::get + 2 atomic loads", || {
        black_box(backend.get());
        black_box(flusher_started.load(Ordering::Relaxed));
        black_box(breaker_open_until.load(Ordering::Acquire));
    });

    // `Conns::get`: the caller's runtime id, then its `MultiplexedConnection` in a short list.
    {
        let _rt = fx.rt.enter();
        let background = None::<tokio::runtime::Id>;
        let local = RwLock::new(vec![(Handle::current().id(), fx.conn())]);
        total += time(
            "conn: runtime id + RwLock read + find + clone, drop",
            || {
                let id = match Handle::try_current() {
                    Ok(h) if Some(h.id()) != background => h.id(),
                    _ => unreachable!("inside the bench runtime"),
                };
                let list = local.read().expect("lock");
                let found = list
                    .iter()
                    .rev()
                    .find(|(i, _)| *i == id)
                    .map(|(_, c)| c.clone());
                drop(list);
                black_box(found.expect("this runtime's connection"));
            },
        );
    }

    // `codec::decode`: the 12-byte header (magic, write time), then the value.
    let entry: Vec<u8> = redis::cmd("GET")
        .arg(&fx.entry_key)
        .query(&mut fx.server.conn())
        .expect("GET entry");
    total += time("decode: header + rmp_serde::from_slice::<Vec<u8>>", || {
        let entry = black_box(&entry[..]);
        assert_eq!(&entry[..4], b"rc1\0", "an entry of the crate");
        let stamp = u64::from_be_bytes(entry[4..12].try_into().expect("8 bytes"));
        let v: Vec<u8> = rmp_serde::from_slice(&entry[12..]).expect("decode");
        black_box((stamp, v));
    });

    // For comparison, not part of the sum: the same value written as an array of one integer
    // per byte, as entries were before bytes went to MessagePack `bin` (src/codec.rs).
    let value: Vec<u8> = rmp_serde::from_slice(&entry[12..]).expect("decode");
    let array = rmp_serde::to_vec(&value).expect("encode");
    assert_ne!(array[..], entry[12..], "the entry holds the compact form");
    time("(decode of the array form, not summed)", || {
        let v: Vec<u8> = rmp_serde::from_slice(black_box(&array[..])).expect("decode");
        black_box(v);
    });

    // `policy::now_ms` for the freshness check.
    total += time("freshness: SystemTime::now since the epoch, in ms", || {
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        black_box(now.map(|d| d.as_millis() as u64).unwrap_or(0));
    });

    // `Counters::add(Success)`; with 64 callers the cache line is contended, not here.
    let counter = AtomicU64::new(0);
    total += time("stats: AtomicU64::fetch_add (uncontended)", || {
        counter.fetch_add(1, Ordering::Relaxed);
    });

    eprintln!("  cpu / {:<52} {total:>7.0} ns", "sum of the steps above");
}
