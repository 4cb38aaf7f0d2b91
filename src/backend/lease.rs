//! Leases: the one computation of a key at a time, fleet-wide, and how waiters elsewhere learn
//! that it landed, failed, or died with its process.
//!
//! A lease lives [`LIFE`] at a time and its holder renews it every [`RENEW_EVERY`] while the
//! computation runs, never past `retry` after it was taken: a process that dies (SIGKILL, OOM,
//! a crash) stops renewing, so its lease is gone within [`LIFE`], while a live but slow holder
//! keeps every other caller away until `retry`, as the option promises. A waiter in another
//! process sleeps until the store's message wakes it and, every [`PROBE_EVERY`], checks that
//! the holder is still there.

use std::time::Duration;

use tokio::time::Instant;

use super::{Backend, scripts};
use crate::Error;
use crate::clock::px;
use crate::codec::{self, Stamp};
use crate::key::Key;

/// How long a lease lives unless its holder renews it.
pub(crate) const LIFE: Duration = Duration::from_secs(1);
/// How often a holder renews: three chances per [`LIFE`], for a loaded machine.
pub(crate) const RENEW_EVERY: Duration = Duration::from_millis(300);
/// How often a waiter checks that the holder is still alive.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(250);

/// What [`Backend::try_lease`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lease {
    /// The caller holds the lease now.
    Taken,
    /// Another computation holds it and may still store a value.
    Running,
    /// A computation failed under it: no value is coming before it expires.
    Failed,
    /// The entry is fresh (a refresh landed since the caller read it): nothing to do.
    Fresh,
}

/// How a wait for another computation ended.
#[derive(Debug)]
pub(crate) enum Landing {
    /// Its entry is there.
    Landed(Vec<u8>),
    /// Nobody holds the lease any more and no entry came: the holder died or gave up.
    Free,
    /// The computation failed: no value is coming.
    Failed,
    /// The deadline passed with the lease still held.
    TimedOut,
}

/// The lifetime to give a lease taken or renewed now that must not outlive `until`.
fn life_until(until: Instant) -> Option<Duration> {
    let left = until.saturating_duration_since(Instant::now());
    (!left.is_zero()).then(|| left.min(LIFE))
}

impl Backend {
    /// Takes the recompute lease of `key` if nobody holds it, unless the entry was written
    /// after `fresh.written` (ms since the epoch) under generation `fresh.generation` or a newer
    /// one (see [`scripts::LEASE`]). The lease lives
    /// [`LIFE`] (or `retry`, if shorter); [`renew`](Self::renew) keeps it.
    ///
    /// Also returns the key's invalidation count, which the computation's store must find
    /// unchanged.
    pub(crate) async fn try_lease(
        &self,
        key: &Key,
        token: &str,
        retry: Duration,
        fresh: Option<Stamp>,
    ) -> Result<(Lease, String), Error> {
        // No freshness check: a header no entry's write time exceeds.
        let fresh = codec::header(fresh.unwrap_or(Stamp {
            written: u64::MAX,
            generation: u64::MAX,
        }));
        let mut call = scripts::LEASE.prepare_invoke();
        call.key(key.lease())
            .key(key.value())
            .key(key.invalidations())
            .arg(token)
            .arg(px(retry.min(LIFE)))
            .arg(scripts::FAILED)
            .arg(&fresh[..]);
        let (status, version) = self
            .write(|mut c| async move { call.invoke_async::<(i64, String)>(&mut c).await })
            .await?;
        let lease = match status {
            1 => Lease::Taken,
            2 => Lease::Failed,
            3 => Lease::Fresh,
            _ => Lease::Running,
        };
        Ok((lease, version))
    }

    /// Extends our lease by [`LIFE`], never past `until`. `Ok(false)` when it is no longer
    /// ours (invalidated, or expired and taken by another) or `until` has passed.
    pub(crate) async fn renew(
        &self,
        key: &Key,
        token: &str,
        until: Instant,
    ) -> Result<bool, Error> {
        let Some(life) = life_until(until) else {
            return Ok(false);
        };
        let mut call = scripts::RENEW.prepare_invoke();
        call.key(key.lease()).arg(token).arg(px(life));
        self.bounded(|mut c| async move { call.invoke_async::<i64>(&mut c).await })
            .await
            .map(|renewed| renewed == 1)
    }

    /// Records that our computation failed and wakes waiters; the lease, marked failed, keeps
    /// refreshes away until `until`, the end of `retry` (see [`scripts::FAIL`]).
    pub(crate) async fn fail(&self, key: &Key, token: &str, until: Instant) -> Result<(), Error> {
        let life = until.saturating_duration_since(Instant::now());
        let mut call = scripts::FAIL.prepare_invoke();
        call.key(key.lease())
            .arg(token)
            .arg(key.channel())
            .arg(scripts::FAILED)
            .arg(px(life));
        self.bounded(|mut c| async move { call.invoke_async::<i64>(&mut c).await })
            .await
            .map(drop)
    }

    /// Releases our lease without a value (one too large to store) and wakes waiters, who
    /// then compute for themselves.
    pub(crate) async fn release(&self, key: &Key, token: &str) -> Result<(), Error> {
        let mut call = scripts::RELEASE.prepare_invoke();
        call.key(key.lease()).arg(token).arg(key.channel());
        self.bounded(|mut c| async move { call.invoke_async::<i64>(&mut c).await })
            .await
            .map(drop)
    }

    /// The entry if it is there, else whether its lease is held, failed or free: one script.
    /// `None`: the lease is held.
    async fn probe(&self, key: &Key) -> Result<Option<Landing>, Error> {
        let mut call = scripts::PROBE.prepare_invoke();
        call.key(key.value()).key(key.lease()).arg(scripts::FAILED);
        let reply = self
            .bounded(|mut c| async move { call.invoke_async::<redis::Value>(&mut c).await })
            .await?;
        Ok(match reply {
            redis::Value::BulkString(entry) => Some(Landing::Landed(entry)),
            redis::Value::Int(2) => Some(Landing::Failed),
            redis::Value::Int(1) => None,
            _ => Some(Landing::Free),
        })
    }

    /// Waits until the computation running elsewhere for `key` lands, fails or dies, at most
    /// until `deadline`: subscribes to the entry's channel, then probes at once (it may have
    /// landed already), at each message and every [`PROBE_EVERY`].
    pub(crate) async fn wait_landing(
        &self,
        key: &Key,
        deadline: Instant,
    ) -> Result<Landing, Error> {
        let sub = self.wakeups.subscribe(&key.channel()).await?;
        let landed = sub.notified();
        let mut landed = std::pin::pin!(landed);
        landed.as_mut().enable();
        loop {
            if let Some(ended) = self.probe(key).await? {
                return Ok(ended);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Landing::TimedOut);
            }
            let next = deadline.min(now + PROBE_EVERY);
            if tokio::time::timeout_at(next, landed.as_mut()).await.is_ok() {
                landed.set(sub.notified());
                landed.as_mut().enable();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_lives_its_life_but_never_past_retry() {
        let now = Instant::now();
        assert_eq!(life_until(now + Duration::from_secs(60)), Some(LIFE));
        let short = life_until(now + Duration::from_millis(400)).expect("time left");
        assert!(short <= Duration::from_millis(400) && short > Duration::from_millis(300));
        assert_eq!(life_until(now), None, "retry is over: no renewal");
    }
}
