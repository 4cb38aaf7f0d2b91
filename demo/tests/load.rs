//! The load report in its short mode, as CI runs it: the `load` command against a private
//! Redis, a few seconds per route; its JSON must show what the cache buys, within bounds, and
//! the `/local` route's hits served from memory.

use std::path::PathBuf;
use std::process::Command;

use rediscache_demo::load::Report;
use testkit::RedisServer;

#[test]
fn the_short_load_report_shows_the_cache_faster_with_bounded_executions() {
    let redis = RedisServer::start();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("load-report");
    let _ = std::fs::remove_dir_all(&out);
    let (seconds, values) = (3, 6);
    let run = Command::new(env!("CARGO_BIN_EXE_rediscache-demo"))
        .args([
            "load",
            "--redis",
            &redis.url(),
            "--io-ms",
            "200",
            "--rounds",
            "1000",
        ])
        .args([
            "--seconds",
            &seconds.to_string(),
            "--values",
            &values.to_string(),
        ])
        .args(["--concurrency", "8", "--out"])
        .arg(&out)
        .output()
        .expect("the load command runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "load failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );

    // The table on stdout.
    assert!(stdout.contains("| route | requests |"), "{stdout}");
    assert!(
        stdout.contains("| `/direct` |") && stdout.contains("| `/cached` |"),
        "{stdout}"
    );

    // The JSON.
    let json = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let r: Report = serde_json::from_str(&json).expect("a report");
    let (direct, cached) = (&r.direct, &r.cached);
    assert_eq!((direct.errors, cached.errors), (0, 0), "{json}");
    assert!(direct.requests > 0 && cached.requests > 0, "{json}");
    assert!(
        cached.requests_per_second > direct.requests_per_second,
        "cached is not faster: {json}"
    );
    assert!(cached.latency_ms.p50 < direct.latency_ms.p50, "{json}");
    assert!(r.throughput_speedup > 1.0 && r.p50_speedup > 1.0, "{json}");
    // /direct runs the function once per request; /cached at most once per value and refresh
    // period, and at least once per value (each one missed first).
    assert_eq!(direct.executions, direct.requests, "{json}");
    assert_eq!(
        r.cached_execution_bound,
        values * (1 + (seconds as u64).div_ceil(2))
    );
    assert!(
        (values..=r.cached_execution_bound).contains(&cached.executions),
        "cached executions out of bounds: {json}"
    );
    // The cache counts a run as it starts it, the demo as the function begins: a refresh still
    // starting when /stats was read may be in one count and not yet in the other.
    assert!(
        r.cache.refreshes.abs_diff(cached.executions) <= values,
        "{json}"
    );
    assert_eq!(r.cache.errors, 0, "{json}");
    // After POST /invalidate every value misses again: at least one execution per value
    // requested, within the same bound.
    let after = r
        .after_invalidate
        .as_ref()
        .expect("the phase after /invalidate");
    assert_eq!(after.phase.errors, 0, "{json}");
    assert!(
        (values..=r.cached_execution_bound).contains(&after.phase.executions),
        "executions after the invalidation: {json}"
    );
    assert!(after.cache.misses >= values, "every value missed: {json}");
    assert!(
        stdout.contains("after POST /invalidate: misses"),
        "{stdout}"
    );
    assert!(
        r.cache.hits > 0 && r.cache.hits <= cached.requests,
        "{json}"
    );
    assert_eq!(r.cache.local_hits, 0, "/cached has no local tier: {json}");
    // /local: the same function and bounds, its hits from memory once each value is filled.
    let local = r.local.as_ref().expect("the /local phase");
    assert_eq!(local.phase.errors, 0, "{json}");
    assert!(
        (values..=r.cached_execution_bound).contains(&local.phase.executions),
        "executions on /local: {json}"
    );
    assert!(
        local.cache.local_hits > 0 && local.cache.local_hits <= local.cache.hits,
        "hits from memory: {json}"
    );
    assert!(local.cache.hits <= local.phase.requests, "{json}");
    assert_eq!(local.cache.errors, 0, "{json}");
    assert!(
        stdout.contains("| `/local` |") && stdout.contains("/local (local tier): hits"),
        "{stdout}"
    );
    // Every percentile is ordered.
    for l in [direct.latency_ms, cached.latency_ms] {
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, "{json}");
    }

    // The chart.
    let svg = std::fs::read_to_string(out.join("latency.svg")).expect("latency.svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("/cached: p50"),
        "not the chart"
    );
}
