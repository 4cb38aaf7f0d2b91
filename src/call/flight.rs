//! In-process single flight: concurrent callers of one key share one computation.
//!
//! The first caller becomes the leader and holds a [`Leader`] guard; the others follow and wait
//! for its outcome. The guard is panic- and cancel-safe: if the leader's task panics or is
//! dropped before it reports, the guard's `Drop` wakes every follower with
//! [`Outcome::Abandoned`], so nobody waits for a computation that will never end. A flight older
//! than `retry` no longer blocks: the next caller leads a new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How a flight ended, as its followers see it.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The leader computed and encoded this entry.
    Done(Arc<[u8]>),
    /// The leader's computation failed, panicked or was cancelled: compute yourself.
    Abandoned,
}

#[derive(Debug)]
pub(crate) struct Flight {
    id: u64,
    started: Instant,
    outcome: Mutex<Option<Outcome>>,
    notify: Notify,
}

impl Flight {
    fn lock(&self) -> MutexGuard<'_, Option<Outcome>> {
        // A poisoned lock only means a panic elsewhere; the Option inside is always valid.
        self.outcome.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deadline(&self, retry: Duration) -> Instant {
        self.started + retry
    }

    /// Waits, async, until the flight ends or `retry` after it started; `None` on time-out.
    pub(crate) async fn wait(&self, retry: Duration) -> Option<Outcome> {
        let notified = self.notify.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if let Some(o) = self.lock().clone() {
            return Some(o);
        }
        let deadline = tokio::time::Instant::from_std(self.deadline(retry));
        let _ = tokio::time::timeout_at(deadline, notified).await;
        self.lock().clone()
    }
}

/// The flights of one cache, by entry key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
    next_id: AtomicU64,
}

/// What a caller is in a flight.
pub(crate) enum Role {
    Leader(Leader),
    Follower(Arc<Flight>),
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Flight>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the running flight of `key` if one started less than `retry` ago, else leads one.
    pub(crate) fn join(self: &Arc<Self>, key: &str, retry: Duration) -> Role {
        let mut map = self.lock();
        if let Some(f) = map.get(key) {
            if f.started.elapsed() < retry {
                return Role::Follower(f.clone());
            }
        }
        let flight = Arc::new(Flight {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            started: Instant::now(),
            outcome: Mutex::new(None),
            notify: Notify::new(),
        });
        map.insert(key.to_owned(), flight.clone());
        Role::Leader(Leader {
            flights: self.clone(),
            key: key.to_owned(),
            flight,
            finished: false,
        })
    }

    /// Leads a flight of `key` unless one younger than `retry` runs already.
    pub(crate) fn lead(self: &Arc<Self>, key: &str, retry: Duration) -> Option<Leader> {
        match self.join(key, retry) {
            Role::Leader(l) => Some(l),
            Role::Follower(_) => None,
        }
    }

    /// Leads a new flight of `key` even if one runs (a refresh asked for by hand): callers from
    /// now on follow it; the followers of the running one keep waiting for theirs.
    pub(crate) fn lead_now(self: &Arc<Self>, key: &str) -> Leader {
        match self.join(key, Duration::ZERO) {
            Role::Leader(l) => l,
            // A flight younger than zero cannot exist; lead a fresh one all the same.
            Role::Follower(_) => self.lead_now(key),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Held by the caller that computes; reports to followers exactly once, even on panic.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: String,
    flight: Arc<Flight>,
    finished: bool,
}

impl Leader {
    /// Ends the flight with `outcome` and wakes every follower.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.end(outcome);
    }

    fn end(&mut self, outcome: Outcome) {
        if self.finished {
            return;
        }
        self.finished = true;
        {
            let mut map = self.flights.lock();
            // A newer flight may have replaced ours after `retry`: leave it alone.
            if map.get(&self.key).is_some_and(|f| f.id == self.flight.id) {
                map.remove(&self.key);
            }
        }
        *self.flight.lock() = Some(outcome);
        self.flight.notify.notify_waiters();
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.end(Outcome::Abandoned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn second_caller_follows_and_sees_the_value() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join("k", LONG) else {
            panic!("first leads")
        };
        let Role::Follower(f) = flights.join("k", LONG) else {
            panic!("second follows")
        };
        leader.finish(Outcome::Done(Arc::from(&b"v"[..])));
        assert!(matches!(f.wait(LONG).await, Some(Outcome::Done(v)) if &*v == b"v"));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_wakes_followers_with_abandoned() {
        let flights = Arc::new(Flights::default());
        let leader = flights.lead("k", LONG).expect("leads");
        let Role::Follower(f) = flights.join("k", LONG) else {
            panic!("follows")
        };
        let waiter = tokio::spawn(async move { f.wait(LONG).await });
        tokio::task::yield_now().await;
        drop(leader);
        assert!(matches!(
            waiter.await.expect("joins"),
            Some(Outcome::Abandoned)
        ));
    }

    #[tokio::test]
    async fn a_panicking_leader_wakes_followers() {
        let flights = Arc::new(Flights::default());
        let Role::Follower(f) = ({
            let fl = flights.clone();
            let started = Arc::new(std::sync::Barrier::new(2));
            let s2 = started.clone();
            let t = std::thread::spawn(move || {
                let _leader = fl.lead("k", LONG).expect("leads");
                s2.wait();
                std::thread::sleep(Duration::from_millis(20));
                panic!("boom");
            });
            started.wait();
            let role = flights.join("k", LONG);
            assert!(t.join().is_err());
            role
        }) else {
            panic!("follows")
        };
        assert!(matches!(f.wait(LONG).await, Some(Outcome::Abandoned)));
    }

    #[test]
    fn an_old_flight_no_longer_blocks() {
        let flights = Arc::new(Flights::default());
        let old = flights.lead("k", Duration::ZERO).expect("leads");
        let new = flights
            .lead("k", Duration::ZERO)
            .expect("old one is older than retry");
        drop(old);
        // The old leader must not remove the new flight.
        assert_eq!(flights.len(), 1);
        drop(new);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn async_followers_wake_on_finish() {
        let flights = Arc::new(Flights::default());
        let leader = flights.lead("k", LONG).expect("leads");
        let Role::Follower(f) = flights.join("k", LONG) else {
            panic!("follows")
        };
        let waiter = tokio::spawn(async move { f.wait(LONG).await });
        tokio::task::yield_now().await;
        leader.finish(Outcome::Done(Arc::from(&b"x"[..])));
        assert!(matches!(
            waiter.await.expect("joins"),
            Some(Outcome::Done(_))
        ));
    }
}
