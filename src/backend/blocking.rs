//! Blocking connections for the `GET` of a sync hit, sent from the calling thread: no hop to
//! the crate's runtime and back, so a sync hit costs what a plain blocking `GET` costs.
//!
//! A cache on a single server keeps a few of them ([`Lanes`], as many as `sync_connections`
//! says), each used by one call at a time. While fewer sync `GET`s are under way than there
//! are lanes, a sync call takes a free one without ever waiting (`try_lock`), starting with the
//! one its thread had last. Past that, or when none is free, it goes the way every sync call
//! went before: through the runtime's pipelined connection, which carries many callers in one
//! write and one read. So one thread, or a few, get the latency of a blocking connection; many
//! keep the throughput of pipelining (on 2 cores, 64 threads on blocking connections of their
//! own make less than half the calls per second: every call its own system calls on both sides,
//! and even a few lanes kept busy by some of the 64 cost the others about a tenth); and however
//! many threads call, the cache opens at most that many connections.
//!
//! Bounds, the same as the runtime's connections give a hit: a connection is opened on the
//! calling thread within `connect_timeout`, its handshake included; a reply is awaited at most
//! `timeout` (the socket's read and write timeouts). A connection that fails in any way other
//! than Redis answering with an error is dropped: a reply that timed out may still arrive, and
//! one read halfway would throw the next one off. A later call opens a new one, but only while
//! the circuit breaker is closed: while it is open, a lane without a connection is passed over,
//! so the breaker's probe goes through the runtime's connection and costs at most `timeout`,
//! never a connection attempt to a stalled server.
//!
//! Cluster and sentinel topologies have no lanes: a command there may be redirected, retried
//! or preceded by asking the sentinels, which their async clients do.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use redis::{Client, Connection, ConnectionLike, Value};
use tokio::runtime::Handle;

use crate::backend::Backend;
use crate::key::Key;
use crate::{Error, runtime};

thread_local! {
    /// The lane this thread had last: tried first, so one thread keeps one warm connection.
    static LAST: Cell<usize> = const { Cell::new(0) };
}

/// The blocking connections of one cache.
pub(crate) struct Lanes {
    client: Client,
    timeout: Duration,
    connect_timeout: Duration,
    lanes: Box<[Mutex<Lane>]>,
    /// Sync `GET`s under way, on lanes or through the runtime.
    reading: AtomicUsize,
}

/// Counts one sync `GET` as under way while it lives.
struct Reading<'a> {
    count: &'a AtomicUsize,
    /// Whether fewer than one per lane were under way before this one.
    few: bool,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One blocking connection, opened on first use, and its packed command.
#[derive(Default)]
struct Lane {
    conn: Option<Connection>,
    /// The last `GET` sent, its buffer reused: a hit packs its command without allocating.
    packed: Vec<u8>,
}

/// A lane lent to one call until it drops.
struct Lent<'a> {
    lanes: &'a Lanes,
    lane: MutexGuard<'a, Lane>,
}

impl Lanes {
    /// `count` lanes to the server of `client`, none connected yet; `None` when `count` is 0.
    pub(crate) fn new(
        client: Client,
        count: usize,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Option<Lanes> {
        (count > 0).then(|| Lanes {
            client,
            timeout,
            connect_timeout,
            lanes: (0..count).map(|_| Mutex::default()).collect(),
            reading: AtomicUsize::new(0),
        })
    }

    /// Counts a sync `GET` as under way until the guard drops.
    fn reading(&self) -> Reading<'_> {
        let before = self.reading.fetch_add(1, Ordering::Relaxed);
        Reading {
            count: &self.reading,
            few: before < self.lanes.len(),
        }
    }

    /// A free lane, if there is one; never waits for a busy one.
    fn take(&self) -> Option<Lent<'_>> {
        let n = self.lanes.len();
        let first = LAST.with(Cell::get);
        for i in 0..n {
            let at = first.wrapping_add(i) % n;
            let lane = match self.lanes[at].try_lock() {
                Ok(lane) => lane,
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Poisoned(poisoned)) => {
                    // A panic while it was lent: its connection may be halfway through a reply.
                    let mut lane = poisoned.into_inner();
                    lane.conn = None;
                    self.lanes[at].clear_poison();
                    lane
                }
            };
            LAST.with(|last| last.set(at));
            return Some(Lent { lanes: self, lane });
        }
        None
    }

    /// A blocking connection, its handshake within `connect_timeout`, its replies awaited at
    /// most `timeout`.
    fn open(&self) -> Result<Connection, Error> {
        let conn = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }
}

impl Lent<'_> {
    /// Whether this lane's connection is open (else the next command opens it).
    fn is_connected(&self) -> bool {
        self.lane.conn.is_some()
    }

    /// `GET key` on this lane, opening its connection first if need be. A connection that
    /// fails, other than by an error reply, is dropped.
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let lane = &mut *self.lane;
        pack_get(&mut lane.packed, key);
        let conn = match &mut lane.conn {
            Some(conn) => conn,
            none => none.insert(self.lanes.open()?),
        };
        let reply = conn
            .req_packed_command(&lane.packed)
            .and_then(Value::extract_error)
            .and_then(|v| Ok(redis::from_redis_value::<Option<Vec<u8>>>(v)?));
        match reply {
            Ok(entry) => Ok(entry),
            // Redis answered: the connection is fine.
            Err(e) if e.code().is_some() => Err(e.into()),
            Err(e) => {
                lane.conn = None;
                // A socket timeout reads "Resource temporarily unavailable": say what it is.
                Err(if e.is_timeout() {
                    Error::Timeout(self.lanes.timeout)
                } else {
                    e.into()
                })
            }
        }
    }
}

/// Writes `GET key` in the Redis protocol into `buf`, replacing what it held.
fn pack_get(buf: &mut Vec<u8>, key: &str) {
    use std::io::Write;
    buf.clear();
    // Writing to a Vec cannot fail.
    let _ = write!(buf, "*2\r\n$3\r\nGET\r\n${}\r\n", key.len());
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\r\n");
}

impl Backend {
    /// The `GET` of a sync call, from the calling thread: on a free lane while few sync
    /// `GET`s are under way (fewer than there are lanes), through the circuit breaker as every
    /// command is; otherwise (many under way, no lane free, or the free one would have to
    /// connect while the circuit is open, or this cache has no lanes) through the runtime's
    /// connection ([`get`](Backend::get)), driven from this thread in the runtime's context.
    pub(crate) fn get_sync(&self, handle: &Handle, key: &Key) -> Result<Option<Vec<u8>>, Error> {
        let Some(lanes) = &self.lanes else {
            return runtime::block_on(handle, self.get(key));
        };
        let reading = lanes.reading();
        if reading.few {
            if let Some(got) = self.get_on_lane(lanes, key) {
                return got;
            }
        }
        runtime::block_on(handle, self.get(key))
    }

    /// The `GET` on a free lane; `None` when none is free, or when the free one would have to
    /// connect while the circuit is open.
    fn get_on_lane(&self, lanes: &Lanes, key: &Key) -> Option<Result<Option<Vec<u8>>, Error>> {
        let mut lane = lanes.take()?;
        if !lane.is_connected() && self.breaker.is_open() {
            return None;
        }
        if !self.breaker.allow(self.timeout.saturating_mul(2)) {
            return Some(Err(Error::CircuitOpen));
        }
        let result = lane.get(key.value());
        drop(lane);
        self.report(&result);
        Some(super::garbage_is_undecodable(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::breaker::is_outage;

    #[test]
    fn a_packed_get_is_what_redis_rs_packs() {
        let mut buf = b"left over from a longer key".to_vec();
        for key in ["k", "rediscache:{app::f(1)}", ""] {
            pack_get(&mut buf, key);
            assert_eq!(buf, redis::cmd("GET").arg(key).get_packed_command());
        }
    }

    #[test]
    fn no_lanes_when_none_are_asked_for() {
        let client = Client::open("redis://127.0.0.1:1/").expect("valid url");
        let t = Duration::from_millis(10);
        assert!(Lanes::new(client, 0, t, t).is_none());
    }

    #[test]
    fn a_busy_lane_is_passed_over_and_none_is_lent_when_all_are_busy() {
        let client = Client::open("redis://127.0.0.1:1/").expect("valid url");
        let t = Duration::from_millis(10);
        let lanes = Lanes::new(client, 2, t, t).expect("two lanes");
        let a = lanes.take().expect("a first lane");
        let b = lanes.take().expect("the other lane");
        assert!(
            lanes.take().is_none(),
            "both busy: the caller goes elsewhere"
        );
        drop(a);
        let c = lanes.take().expect("a freed lane");
        assert!(!c.is_connected() && !b.is_connected(), "nothing opened yet");
    }

    #[test]
    fn a_failed_connection_attempt_is_an_outage_and_leaves_the_lane_unconnected() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let client = Client::open("redis://127.0.0.1:1/").expect("valid url");
        let t = Duration::from_millis(200);
        let lanes = Lanes::new(client, 1, t, t).expect("one lane");
        let mut lane = lanes.take().expect("a lane");
        let err = lane.get("k").expect_err("nothing listens");
        assert!(is_outage(&err), "{err}");
        assert!(!lane.is_connected());
    }
}
