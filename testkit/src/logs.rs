//! The library's warnings in a test's output.

use tracing_subscriber::filter::LevelFilter;

/// Sends warnings (from `rediscache`, through `tracing`) to the test's captured output, which a
/// failing test prints: a test that fails because Redis stalled then says so. Does nothing if
/// the process already has a global subscriber.
pub fn show_warnings() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::WARN)
        .with_test_writer()
        .try_init();
}
