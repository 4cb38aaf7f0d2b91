//! Tokio runtimes built by hand, for tests that run one runtime after another.

/// A tokio runtime of either flavor (multi-thread with 2 workers, or current-thread), with
/// every driver enabled.
pub fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().expect("a tokio runtime")
}
