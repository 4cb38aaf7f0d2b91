//! A call's side of the local tier (`src/local/`): a hit from memory before the `GET`, the
//! ticket a `GET` fills memory with, and this process's own writes made visible at once.
//!
//! A hit from memory is judged as a hit from Redis is (the function's generations, its
//! `refresh`), from the header Redis holds. Its value is a clone of the value decoded when the
//! entry was filled, for types that are `Clone + Sync` (the macro finds out, [`Probe`]), else
//! decoded from the bytes Redis holds on every hit. A stale one asks for the usual background
//! refresh at most once per entry per `min(retry, 1 s)`: hits from memory come too fast to
//! let each try the lease.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::Function;
use super::generations::Current;
use crate::cache::Inner;
use crate::clock;
use crate::codec::Stamp;
use crate::key::Key;
use crate::local::{Filled, Kept, Ticket};
use crate::stats::Counter;

/// The most often one entry's stale hits from memory ask for a refresh.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// How a hit from memory makes the caller's value: a clone of a decoded copy kept in memory,
/// or (`decode()`) a decode of the bytes held.
#[derive(Debug)]
pub struct Copier<V> {
    /// Makes the copy to keep, and the caller's value from it.
    copy: Option<(Keep<V>, Take<V>)>,
}

/// Makes the decoded copy memory keeps.
type Keep<V> = fn(&V) -> Kept;
/// The caller's value from a kept copy (`None`: of another type, under a shared name).
type Take<V> = fn(&Kept) -> Option<V>;

impl<V> Clone for Copier<V> {
    fn clone(&self) -> Copier<V> {
        *self
    }
}

impl<V> Copy for Copier<V> {}

impl<V> Copier<V> {
    /// Decodes the bytes held on every hit: for types that cannot be cloned, and for callers
    /// that cannot tell (generic code, the `Function` handle).
    pub const fn decode() -> Copier<V> {
        Copier { copy: None }
    }
}

/// Finds out whether `V` can be cloned, where `V` is a concrete type: in the macro's expansion,
/// `(&Probe::<V>::new()).copier()` with [`ViaClone`] and [`ViaDecode`] in scope picks the
/// first when `V: Clone + Send + Sync + 'static` (method resolution tries `&Probe` before
/// `&&Probe`), the second otherwise.
#[derive(Debug)]
pub struct Probe<V>(PhantomData<fn() -> V>);

impl<V> Probe<V> {
    /// A probe for `V`.
    pub const fn new() -> Probe<V> {
        Probe(PhantomData)
    }
}

impl<V> Default for Probe<V> {
    fn default() -> Probe<V> {
        Probe::new()
    }
}

/// [`Probe`]'s pick for types that can be cloned.
pub trait ViaClone<V> {
    /// Clones a decoded copy.
    fn copier(&self) -> Copier<V>;
}

impl<V: Clone + Send + Sync + 'static> ViaClone<V> for Probe<V> {
    fn copier(&self) -> Copier<V> {
        Copier {
            copy: Some((
                |v| Box::new(v.clone()),
                |kept| kept.downcast_ref::<V>().cloned(),
            )),
        }
    }
}

/// [`Probe`]'s pick for the other types.
pub trait ViaDecode<V> {
    /// Decodes the bytes.
    fn copier(&self) -> Copier<V>;
}

impl<V> ViaDecode<V> for &Probe<V> {
    fn copier(&self) -> Copier<V> {
        Copier::decode()
    }
}

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
    copier: Copier<V>,
) -> Before<V> {
    let Some(tier) = inner.local_for(opts) else {
        return Before::Miss(None);
    };
    let now = clock::now_ms();
    if let Some(held) = tier.get(key.value(), now) {
        let kept = match (copier.copy, &held.kept) {
            (Some((_, take)), Some(kept)) => take(kept),
            _ => None,
        };
        let hit = match kept {
            Some(value) => super::fresh(held.stamp, opts, gens, now).map(|f| (value, f)),
            None => super::judge::<V>(&held.entry, key, opts, gens, now).map(|(v, f, _)| (v, f)),
        };
        if let Some((value, freshness)) = hit {
            inner.count(opts, Counter::LocalHits);
            let stale = freshness == super::Freshness::Stale;
            let refresh = stale && held.may_refresh(now, opts.retry.min(REFRESH_AT_MOST_EVERY));
            return Before::Hit(value, refresh);
        }
    }
    Before::Miss(tier.ticket(key.value()))
}

/// Keeps `entry` (with its header and `value`, decoded from it), just read from Redis with
/// `ticket`, in memory.
pub(super) fn fill<V>(
    inner: &Inner,
    opts: &'static Function,
    key: &Key,
    (entry, stamp, value): (Vec<u8>, Stamp, &V),
    ticket: Ticket,
    copier: Copier<V>,
) {
    let Some(tier) = inner.local_for(opts) else {
        return;
    };
    let kept = copier.copy.map(|(keep, _)| keep(value));
    match tier.fill(ticket, key.value(), (entry, stamp, kept), opts.expire) {
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

#[cfg(test)]
mod tests {
    use super::*;

    struct NotClone;

    #[test]
    #[allow(
        clippy::needless_borrow,
        reason = "the borrow is what lets types that are not Clone fall through to ViaDecode"
    )]
    fn the_probe_clones_what_can_be_cloned_and_decodes_the_rest() {
        let cloned = (&Probe::<String>::new()).copier();
        let (keep, take) = cloned.copy.expect("String is Clone + Sync");
        let kept = keep(&"rate".to_string());
        assert_eq!(take(&kept).as_deref(), Some("rate"));
        // A copy kept for another type under a shared name is not taken.
        let other = (&Probe::<u64>::new()).copier().copy.expect("u64 is Clone");
        assert_eq!((other.1)(&kept), None);
        assert!((&Probe::<NotClone>::new()).copier().copy.is_none());
        // Clone but not Sync: decoded.
        assert!(
            (&Probe::<std::cell::Cell<u8>>::new())
                .copier()
                .copy
                .is_none()
        );
    }
}
