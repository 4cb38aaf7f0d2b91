//! Cancellation safety: a computation that callers wait on does not belong to the caller that
//! started it.
//!
//! The caller drives the computation while it waits (no task, no hop, its own tracing
//! context). If it goes away first (a dropped handler, a `timeout`, a `select!`), the
//! computation is handed to a task of its own, which runs it to the end, stores its value and
//! wakes every waiter, local and remote, so nobody computes twice because a caller left. A
//! handed-off computation nobody waits for is not run past `retry`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::Job;

type Computation<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A computation driven by its caller, and by a task of its own once the caller is gone.
pub(crate) struct Handoff<T: Send + 'static, R, J: Job<R>> {
    computation: Option<Computation<T>>,
    until: Instant,
    job: PhantomData<fn() -> (R, J)>,
}

impl<T: Send + 'static, R, J: Job<R>> Handoff<T, R, J> {
    /// Wraps `computation`; if handed off, it runs at most until `until`.
    pub(crate) fn new(
        computation: impl Future<Output = T> + Send + 'static,
        until: Instant,
    ) -> Handoff<T, R, J> {
        Handoff {
            computation: Some(Box::pin(computation)),
            until,
            job: PhantomData,
        }
    }
}

impl<T: Send + 'static, R, J: Job<R>> Future for Handoff<T, R, J> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(computation) = self.computation.as_mut() else {
            // Polled after it finished: a misuse that never happens here; never finish twice.
            return Poll::Pending;
        };
        let out = std::task::ready!(computation.as_mut().poll(cx));
        self.computation = None;
        Poll::Ready(out)
    }
}

impl<T: Send + 'static, R, J: Job<R>> Drop for Handoff<T, R, J> {
    fn drop(&mut self) {
        let Some(computation) = self.computation.take() else {
            return;
        };
        let until = self.until;
        tracing::debug!("rediscache: the caller left; its computation goes on in the background");
        // The way this kind of function runs in the background: on the caller's runtime for
        // async functions. (A sync caller cannot leave mid-call: its thread runs the call.)
        J::spawn(async move {
            if tokio::time::timeout_at(until, computation).await.is_err() {
                tracing::debug!(
                    "rediscache: a computation nobody waited for outlived retry; dropped"
                );
            }
        });
    }
}
