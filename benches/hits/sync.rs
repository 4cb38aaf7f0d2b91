//! The sync callers: one on the calling thread ([`SyncCaller`]) and [`CONCURRENCY`] threads that
//! call at once ([`Team`]).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::runtime::Handle;

use crate::fixture::{CONCURRENCY, Fixture, share};
use crate::{cached_sync, cached_sync_via_runtime, count_hits, count_hits_via_runtime};

/// Wakes the thread blocked in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The crate's way of running a sync hit (src/runtime.rs): poll on the calling thread inside
/// the runtime's context, park until woken.
fn block_on<F: Future>(handle: &Handle, fut: F) -> F::Output {
    let _context = handle.enter();
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// One `GET`, as a user would write it (`AsyncCommands::get` into `Option<Vec<u8>>`).
async fn raw_get(conn: &mut MultiplexedConnection, key: &str) -> Vec<u8> {
    let v: Option<Vec<u8>> = conn.get(key).await.expect("raw GET");
    v.expect("raw key present")
}

/// Records `n` calls of `op` if they are cached hits, for the final check.
fn count(op: SyncOp, n: u64) {
    match op {
        SyncOp::Cached => count_hits(n),
        SyncOp::CachedViaRuntime => count_hits_via_runtime(n),
        SyncOp::RawConn | SyncOp::RawBlockOn | SyncOp::Quit => {}
    }
}

/// What a sync caller does once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncOp {
    /// `GET` on this thread's own blocking `redis::Connection`: the baseline.
    RawConn,
    /// `GET` on the multiplexed connection of the fixture's `side` runtime, through
    /// [`block_on`]: the crate's way of blocking, without the crate.
    RawBlockOn,
    /// A hit of the cached sync function through the crate's runtime (`sync_connections(0)`):
    /// how every sync hit went before sync hits had blocking connections.
    CachedViaRuntime,
    /// A hit of the cached sync function.
    Cached,
    /// Ends a [`Team`] worker.
    Quit,
}

/// What a sync caller needs for [`SyncCaller::call`]; its blocking connection opens on first use.
pub(crate) struct SyncCaller {
    conn: Option<redis::Connection>,
    url: String,
    side: Handle,
    side_conn: MultiplexedConnection,
    raw_key: String,
}

impl SyncCaller {
    pub(crate) fn new(fx: &Fixture) -> SyncCaller {
        SyncCaller {
            conn: None,
            url: fx.server.url(),
            side: fx.side.handle().clone(),
            side_conn: fx.side_conn.clone(),
            raw_key: fx.raw_key.clone(),
        }
    }

    fn call(&mut self, op: SyncOp) {
        match op {
            SyncOp::RawConn => {
                let conn = self.conn.get_or_insert_with(|| {
                    redis::Client::open(self.url.as_str())
                        .expect("url")
                        .get_connection()
                        .expect("sync connection")
                });
                let v: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(&self.raw_key)
                    .query(conn)
                    .expect("sync GET");
                black_box(v.expect("raw key present"));
            }
            SyncOp::RawBlockOn => {
                black_box(block_on(
                    &self.side,
                    raw_get(&mut self.side_conn, &self.raw_key),
                ));
            }
            SyncOp::CachedViaRuntime => {
                black_box(cached_sync_via_runtime(black_box(1)));
            }
            SyncOp::Cached => {
                black_box(cached_sync(black_box(1)));
            }
            SyncOp::Quit => {}
        }
    }

    /// `n` calls of `op` on this thread, after one untimed call; their total time.
    pub(crate) fn seq(&mut self, op: SyncOp, n: u64) -> Duration {
        count(op, n + 1);
        self.call(op); // opens this thread's connection outside the timing
        let t = Instant::now();
        for _ in 0..n {
            self.call(op);
        }
        t.elapsed()
    }
}

/// [`CONCURRENCY`] threads that run one batch of sync calls on demand.
pub(crate) struct Team {
    job: Arc<Mutex<(SyncOp, u64)>>,
    start: Arc<Barrier>,
    done: Arc<Barrier>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Team {
    /// Starts the threads and opens each one's blocking connection.
    pub(crate) fn new(fx: &Fixture) -> Team {
        let job = Arc::new(Mutex::new((SyncOp::Quit, 0)));
        let start = Arc::new(Barrier::new(CONCURRENCY + 1));
        let done = Arc::new(Barrier::new(CONCURRENCY + 1));
        let workers = (0..CONCURRENCY)
            .map(|i| {
                let (job, start, done) = (job.clone(), start.clone(), done.clone());
                let mut caller = SyncCaller::new(fx);
                thread::Builder::new()
                    .name(format!("sync-{i}"))
                    .spawn(move || {
                        loop {
                            start.wait();
                            let (op, n) = *job.lock().expect("job");
                            if op == SyncOp::Quit {
                                return;
                            }
                            for _ in 0..share(n, i) {
                                caller.call(op);
                            }
                            done.wait();
                        }
                    })
                    .expect("spawn worker")
            })
            .collect();
        let team = Team {
            job,
            start,
            done,
            workers,
        };
        // Open every thread's blocking connection before any timing.
        team.run(SyncOp::RawConn, CONCURRENCY as u64);
        team
    }

    /// `n` calls of `op` shared by the team; wall time.
    pub(crate) fn run(&self, op: SyncOp, n: u64) -> Duration {
        count(op, n);
        *self.job.lock().expect("job") = (op, n);
        let t = Instant::now();
        self.start.wait();
        self.done.wait();
        t.elapsed()
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        *self.job.lock().expect("job") = (SyncOp::Quit, 0);
        self.start.wait();
        for w in self.workers.drain(..) {
            w.join().expect("worker panicked");
        }
    }
}
