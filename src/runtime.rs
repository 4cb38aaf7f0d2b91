//! The crate's own small tokio runtime: it drives the Redis connections, the stats flusher and
//! the pub/sub listener, and runs background refreshes of sync functions.
//!
//! Owning it means a `static` cache works from any caller: sync code with no runtime, several
//! `#[tokio::test]` runtimes one after another, `spawn_blocking` threads. Connections created on
//! a caller's runtime would die with that runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

/// The background runtime, started on first use; `None` if the OS refused its threads.
pub(crate) fn handle() -> Option<&'static Handle> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("rediscache")
                .enable_all()
                .build()
                .map_err(|e| tracing::error!(error = %e, "rediscache: cannot start its background runtime; caching is off"))
                .ok()
        })
        .as_ref()
        .map(Runtime::handle)
}

/// Spawns `task` on the caller's tokio runtime if there is one, else on the background runtime.
/// Returns false if neither exists.
pub(crate) fn spawn_here_or_background(task: impl Future<Output = ()> + Send + 'static) -> bool {
    if let Ok(current) = Handle::try_current() {
        current.spawn(task);
        return true;
    }
    spawn(task)
}

/// Spawns `task` on the background runtime. Returns false if it could not start.
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) -> bool {
    match handle() {
        Some(h) => {
            h.spawn(task);
            true
        }
        None => false,
    }
}

/// Spawns `task` on the background runtime, with a handle to abort it.
pub(crate) fn spawn_abortable(
    task: impl Future<Output = ()> + Send + 'static,
) -> Option<tokio::task::AbortHandle> {
    handle().map(|h| h.spawn(task).abort_handle())
}

/// Runs blocking work (a sync function's background refresh) on the background runtime's
/// blocking pool.
pub(crate) fn spawn_blocking(work: impl FnOnce() + Send + 'static) -> bool {
    match handle() {
        Some(h) => {
            h.spawn_blocking(work);
            true
        }
        None => false,
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` to completion on the calling thread, inside the background runtime's context
/// (so tokio timers work), without the "runtime within a runtime" panic of `Runtime::block_on`:
/// a sync cached function may be called anywhere, even from async code.
pub(crate) fn block_on<F: Future>(handle: &Handle, fut: F) -> F::Output {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn block_on_runs_timers_without_a_caller_runtime() {
        let h = handle().expect("runtime starts");
        let out = block_on(h, async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        });
        assert_eq!(out, 7);
    }

    #[test]
    fn block_on_works_inside_a_caller_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let out = rt.block_on(async {
            let h = handle().expect("runtime starts");
            block_on(h, async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                3
            })
        });
        assert_eq!(out, 3);
    }
}
