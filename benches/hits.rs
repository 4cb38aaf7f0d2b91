//! Placeholder, replaced by the hit benchmarks.
fn main() {}
