//! Which connection an operation uses: one per runtime, opened on first use and replaced when
//! it breaks.
//!
//! A connection's driver task lives on the runtime that opened it, and a reply wakes the caller
//! from there. So async callers get a connection of their own runtime (a hit then costs what a
//! raw `GET` costs, with no hop between runtimes), while sync callers, background work and the
//! subscriber use connections of the crate's background runtime, which outlives any caller's
//! runtime. Connections of runtimes that have shut down are dropped as new ones come.
//!
//! On a single server the connection is a bare `MultiplexedConnection`, which a hit clones
//! from this table: a `ConnectionManager` in its place cost each hit a shared future, an
//! `ArcSwap` load and one more boxed future. What the manager did is done here instead:
//! - the first operation of a runtime opens its connection (bounded by `connect_timeout`), in
//!   one attempt that every operation needing it meanwhile awaits, so a burst of first calls
//!   opens one connection and each caller pays at most one `connect_timeout`;
//! - an operation that fails in a way that means the connection is broken (redis's
//!   `is_unrecoverable_error`, the manager's own test: dropped connection, unparsable reply,
//!   failed authentication) removes it, and the next operation, once the circuit breaker lets it
//!   through, opens a new one.
//!
//! A cluster's and a sentinel setup's connections recover by themselves: they are only kept here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::runtime::{Handle, Id as RuntimeId};

use crate::Error;
use crate::backend::conn::Conn;
use crate::backend::connector::Connector;
use crate::runtime;

/// Runtimes whose connections are kept; more means some have shut down.
const MAX_RUNTIMES: usize = 8;

/// Which connection an operation was lent, to drop it if the operation finds it broken.
pub(crate) struct Ticket {
    serial: u64,
    single: bool,
}

/// A connection lent to one operation.
type Lent = (Conn, Ticket);

fn lend(conn: &Conn, serial: u64) -> Lent {
    let single = matches!(conn, Conn::Single(_));
    (conn.clone(), Ticket { serial, single })
}

/// The connections of one cache, per runtime.
pub(crate) struct Conns {
    connector: Arc<Connector>,
    /// The crate's background runtime, used when the caller is in no runtime.
    background: Option<RuntimeId>,
    slots: RwLock<Vec<Slot>>,
    serials: AtomicU64,
}

/// One runtime's connection, or the attempt to open it.
struct Slot {
    runtime: Option<RuntimeId>,
    conn: Option<(Conn, u64)>,
    opening: Option<Opening>,
}

type Opening = Shared<BoxFuture<'static, Result<(Conn, u64), Error>>>;

impl Conns {
    pub(crate) fn new(connector: Connector, background: Option<RuntimeId>) -> Conns {
        Conns {
            connector: Arc::new(connector),
            background,
            slots: RwLock::default(),
            serials: AtomicU64::new(1),
        }
    }

    /// How connections are opened.
    #[cfg(feature = "local")]
    pub(crate) fn connector(&self) -> Arc<Connector> {
        self.connector.clone()
    }

    /// The current runtime's connection, opened if need be.
    pub(crate) async fn get(&self) -> Result<Lent, Error> {
        let (runtime, in_runtime) = match Handle::try_current() {
            Ok(h) => (Some(h.id()), true),
            Err(_) => (self.background, false),
        };
        if let Some(lent) = self.ready(runtime) {
            return Ok(lent);
        }
        // Boxed: the hit path's futures stay small.
        Box::pin(self.open(runtime, in_runtime)).await
    }

    fn ready(&self, runtime: Option<RuntimeId>) -> Option<Lent> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        let slot = slots.iter().rev().find(|s| s.runtime == runtime)?;
        slot.conn.as_ref().map(|(conn, serial)| lend(conn, *serial))
    }

    async fn open(&self, runtime: Option<RuntimeId>, in_runtime: bool) -> Result<Lent, Error> {
        let opening = {
            let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
            let i = match slots.iter().rposition(|s| s.runtime == runtime) {
                Some(i) => i,
                None => {
                    if slots.len() >= MAX_RUNTIMES {
                        if let Some(old) = slots.iter().position(|s| s.runtime != self.background) {
                            slots.remove(old);
                        }
                    }
                    slots.push(Slot {
                        runtime,
                        conn: None,
                        opening: None,
                    });
                    slots.len() - 1
                }
            };
            let slot = &mut slots[i];
            if let Some((conn, serial)) = &slot.conn {
                return Ok(lend(conn, *serial));
            }
            slot.opening
                .get_or_insert_with(|| self.attempt(in_runtime))
                .clone()
        };
        let result = opening.clone().await;
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        let slot = slots.iter_mut().find(|s| {
            s.opening
                .as_ref()
                .is_some_and(|o| Shared::ptr_eq(o, &opening))
        });
        match result {
            Ok((conn, serial)) => {
                // The first caller back files it (unless its runtime's slot was dropped).
                if let Some(slot) = slot {
                    slot.opening = None;
                    slot.conn = Some((conn.clone(), serial));
                }
                Ok(lend(&conn, serial))
            }
            Err(e) => {
                if let Some(slot) = slot {
                    // The next operation, past the circuit breaker, tries again.
                    slot.opening = None;
                }
                Err(e)
            }
        }
    }

    /// An attempt to open a connection, owned by whoever awaits it. Outside any runtime it runs
    /// on the background runtime, which then drives the connection.
    fn attempt(&self, in_runtime: bool) -> Opening {
        let connector = self.connector.clone();
        let serial = self.serials.fetch_add(1, Ordering::Relaxed);
        let open = async move { connector.open().await.map(|conn| (conn, serial)) };
        if in_runtime {
            return open.boxed().shared();
        }
        let Some(handle) = runtime::handle() else {
            return futures_util::future::ready(Err(Error::NoRuntime))
                .boxed()
                .shared();
        };
        let task = handle.spawn(open);
        async move { task.await.unwrap_or(Err(Error::Interrupted)) }
            .boxed()
            .shared()
    }

    /// Reports how an operation on a lent connection went: a broken single-server connection
    /// is dropped, so the next operation opens a new one.
    pub(crate) fn check<T>(&self, ticket: &Ticket, result: &Result<T, Error>) {
        let Err(Error::Redis(e)) = result else {
            return;
        };
        if !ticket.single || !e.is_unrecoverable_error() {
            return;
        }
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        for slot in slots.iter_mut() {
            if slot.conn.as_ref().is_some_and(|(_, s)| *s == ticket.serial) {
                slot.conn = None;
            }
        }
    }
}
