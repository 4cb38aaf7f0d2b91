//! A call's side of the local tier (`src/local/`): a hit from memory before the `GET`, the
//! ticket a `GET` fills memory with, and this process's own writes made visible at once.
//!
//! A hit from memory is judged as a hit from Redis is (the function's generations, its
//! `refresh`), from the same bytes Redis holds. A stale one asks for the usual background
//! refresh at most once per entry per `min(retry, 1 s)`: hits from memory come too fast to
//! let each try the lease.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::Function;
use super::generations::Current;
use crate::cache::Inner;
use crate::clock;
use crate::key::Key;
use crate::local::{Filled, Ticket};
use crate::stats::Counter;

/// The most often one entry's stale hits from memory ask for a refresh.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// What memory says of a call, before its `GET`.
pub(super) enum Before<V> {
    /// Served from memory; `true`: stale, and a refresh is due.
    Hit(V, bool),
    /// Not in memory: with a ticket, the `GET`'s entry may be kept.
    Miss(Option<Ticket>),
}

/// Looks `key` up in the local tier, if the cache has one and `opts` uses it.
pub(super) fn before<V: DeserializeOwned>(
    inner: &Inner,
    key: &Key,
    opts: &'static Function,
    gens: Current,
) -> Before<V> {
    let Some(tier) = inner.local_for(opts) else {
        return Before::Miss(None);
    };
    let now = clock::now_ms();
    if let Some(held) = tier.get(key.value(), now) {
        if let Some((value, freshness, _)) = super::judge::<V>(&held.entry, key, opts, gens) {
            inner.count(opts, Counter::LocalHits);
            let stale = freshness == super::Freshness::Stale;
            let refresh = stale && held.may_refresh(now, opts.retry.min(REFRESH_AT_MOST_EVERY));
            return Before::Hit(value, refresh);
        }
    }
    Before::Miss(tier.ticket(key.value()))
}

/// Keeps `entry`, just read from Redis with `ticket`, in memory.
pub(super) fn fill(
    inner: &Inner,
    opts: &'static Function,
    key: &Key,
    entry: Vec<u8>,
    written: u64,
    ticket: Ticket,
) {
    let Some(tier) = inner.local_for(opts) else {
        return;
    };
    match tier.fill(ticket, key.value(), entry, written, opts.expire) {
        Filled::Kept => inner.count(opts, Counter::LocalFills),
        Filled::Discarded => inner.count(opts, Counter::LocalDiscarded),
        Filled::Skipped => {}
    }
}

/// This process changed `key` in Redis: its copy in memory goes now, before tracking reports
/// the change.
pub(crate) fn forget(inner: &Inner, key: &Key) {
    if let Some(tier) = &inner.local {
        tier.invalidate(key.value().as_bytes());
    }
}
