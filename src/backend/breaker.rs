//! The circuit breaker: when Redis stops answering, calls stop paying the timeout.
//!
//! The first connection-level failure (a timeout, a refused or dropped connection) opens the
//! circuit: for a back-off of 250 ms, doubling with each failed probe up to 5 s, every Redis
//! operation fails at once and calls run the function. When the back-off has passed, one
//! operation goes through as a probe; its success closes the circuit. Errors that Redis
//! *answers* (`OOM`, `READONLY`, `NOAUTH`, a wrong type) do not open it: Redis is there, and
//! other commands (reads, other keys) may well work.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::Error;
use crate::clock::monotonic_ms as now_ms;

/// The first back-off.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest back-off.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The back-off after `failures` consecutive failures.
pub(crate) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

/// Whether `e` says Redis is unreachable (rather than Redis answering with an error).
pub(crate) fn is_outage(e: &Error) -> bool {
    match e {
        Error::Timeout(_) => true,
        Error::Redis(e) => {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
        }
        _ => false,
    }
}

/// The state of one cache's circuit.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    /// 0 when closed; otherwise until when (ms on the monotonic clock) operations fail fast.
    open_until: AtomicU64,
    /// Consecutive failures, for the back-off.
    failures: AtomicU32,
    /// When the current probe started, 0 if none. A probe that never reports (its caller was
    /// cancelled) stops counting after `probe_limit`.
    probe_started: AtomicU64,
}

impl Breaker {
    /// Whether an operation may go to Redis now.
    pub(crate) fn allow(&self, probe_limit: Duration) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = now_ms();
        if now < until {
            return false;
        }
        let started = self.probe_started.load(Ordering::Acquire);
        let limit = u64::try_from(probe_limit.as_millis()).unwrap_or(u64::MAX);
        if started != 0 && now.saturating_sub(started) < limit {
            return false;
        }
        self.probe_started
            .compare_exchange(started, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the circuit is open (operations fail fast, or a probe is out).
    pub(crate) fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }

    /// Reports an operation that reached Redis. Returns true if this closed the circuit.
    pub(crate) fn success(&self) -> bool {
        if self.open_until.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.failures.store(0, Ordering::Release);
        self.probe_started.store(0, Ordering::Release);
        self.open_until.swap(0, Ordering::AcqRel) != 0
    }

    /// Reports an outage. Returns the back-off if this opened the circuit (it was closed).
    pub(crate) fn failure(&self) -> Option<Duration> {
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let wait = backoff(failures);
        let until = now_ms().saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        let was = self.open_until.swap(until, Ordering::AcqRel);
        self.probe_started.store(0, Ordering::Release);
        (was == 0).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(6), Duration::from_secs(5));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn opens_on_failure_fails_fast_then_lets_one_probe_through() {
        let b = Breaker::default();
        assert!(b.allow(Duration::from_secs(1)));
        assert_eq!(
            b.failure(),
            Some(FIRST_BACKOFF),
            "the first failure opens it"
        );
        assert!(!b.allow(Duration::from_secs(1)), "open: fail fast");
        assert_eq!(b.failure(), None, "already open");
        // Pretend the back-off has passed.
        b.open_until.store(1, Ordering::Release);
        assert!(b.allow(Duration::from_secs(60)), "one probe");
        assert!(
            !b.allow(Duration::from_secs(60)),
            "only one probe at a time"
        );
        assert!(b.success(), "the probe closes it");
        assert!(!b.is_open());
        assert!(b.allow(Duration::from_secs(1)));
    }

    #[test]
    fn a_probe_that_never_reports_does_not_keep_the_circuit_open() {
        let b = Breaker::default();
        b.failure();
        b.open_until.store(1, Ordering::Release);
        assert!(b.allow(Duration::ZERO));
        assert!(
            b.allow(Duration::ZERO),
            "the silent probe is past its limit: another may go"
        );
    }
}
