//! What a load run measured, as JSON and as a table.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LoadConfig;

/// A whole load run: both routes and what the cache did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The service driven.
    pub target: String,
    /// Seconds each route was driven.
    pub seconds_per_route: f64,
    /// Clients sending at once.
    pub concurrency: usize,
    /// Values cycled over.
    pub values: usize,
    /// `/direct`: the function on every request.
    pub direct: Phase,
    /// `/cached`: the function through the cache.
    pub cached: Phase,
    /// `/cached`'s requests per second over `/direct`'s.
    pub throughput_speedup: f64,
    /// `/direct`'s median latency over `/cached`'s.
    pub p50_speedup: f64,
    /// The most executions `/cached` may cause: per value, one on its first miss and at most
    /// one per refresh period after that.
    pub cached_execution_bound: u64,
    /// The cached function's counters during the `/cached` phase.
    pub cache: CacheCounts,
    /// `/cached` again, after `POST /invalidate` made every value a miss.
    #[serde(default)]
    pub after_invalidate: Option<Invalidated>,
    /// `/local`: the same function through the cache with its local tier.
    #[serde(default)]
    pub local: Option<LocalRoute>,
}

/// The `/local` phase: the cache with its local tier, its hits served from memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalRoute {
    /// Its requests.
    pub phase: Phase,
    /// Its function's counters during it; `local_hits` are the hits served from memory.
    pub cache: CacheCounts,
}

/// The `/cached` phase after an invalidation of every value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invalidated {
    /// Its requests.
    pub phase: Phase,
    /// The cached function's counters during it: the misses that followed the invalidation.
    pub cache: CacheCounts,
}

/// One route's requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// `direct` or `cached`.
    pub route: String,
    /// Requests answered with 200.
    pub requests: u64,
    /// Requests that failed (status or transport).
    pub errors: u64,
    /// How long the phase took, in seconds, until its last response.
    pub seconds: f64,
    /// Successful requests per second.
    pub requests_per_second: f64,
    /// Latency of the successful requests.
    pub latency_ms: Latency,
    /// Executions of the function during the phase, from `/stats`.
    pub executions: u64,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// Counter changes of the cached function, from `/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCounts {
    /// Served from the cache.
    pub hits: u64,
    /// Of the hits, those served from the local tier's memory (no `GET`).
    #[serde(default)]
    pub local_hits: u64,
    /// Found nothing.
    pub misses: u64,
    /// Executions the cache started.
    pub refreshes: u64,
    /// Times a caller waited for another's execution.
    pub waited: u64,
    /// Redis operations that failed.
    pub errors: u64,
}

impl CacheCounts {
    /// What changed from `before` to `self`.
    pub fn since(&self, before: &CacheCounts) -> CacheCounts {
        CacheCounts {
            hits: self.hits.saturating_sub(before.hits),
            local_hits: self.local_hits.saturating_sub(before.local_hits),
            misses: self.misses.saturating_sub(before.misses),
            refreshes: self.refreshes.saturating_sub(before.refreshes),
            waited: self.waited.saturating_sub(before.waited),
            errors: self.errors.saturating_sub(before.errors),
        }
    }
}

impl Phase {
    /// Summarizes `latencies` (sorted).
    pub fn new(
        route: &str,
        latencies: &[Duration],
        errors: u64,
        elapsed: Duration,
        executions: u64,
    ) -> Phase {
        let requests = latencies.len() as u64;
        Phase {
            route: route.to_owned(),
            requests,
            errors,
            seconds: elapsed.as_secs_f64(),
            requests_per_second: requests as f64 / elapsed.as_secs_f64().max(1e-9),
            latency_ms: Latency {
                p50: percentile(latencies, 50.0),
                p90: percentile(latencies, 90.0),
                p99: percentile(latencies, 99.0),
                max: percentile(latencies, 100.0),
            },
            executions,
        }
    }
}

/// The `p`th percentile of sorted `latencies` in ms (nearest rank); 0 when there are none.
fn percentile(latencies: &[Duration], p: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
    let i = rank.clamp(1, latencies.len()) - 1;
    latencies[i].as_secs_f64() * 1000.0
}

impl Report {
    /// Puts the phases together.
    pub fn new(config: &LoadConfig, direct: Phase, cached: Phase, cache: CacheCounts) -> Report {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let periods = config.phase.as_secs_f64() / config.refresh.as_secs_f64().max(1e-3);
        Report {
            target: config.target.clone(),
            seconds_per_route: config.phase.as_secs_f64(),
            concurrency: config.concurrency,
            values: config.values,
            throughput_speedup: ratio(cached.requests_per_second, direct.requests_per_second),
            p50_speedup: ratio(direct.latency_ms.p50, cached.latency_ms.p50),
            cached_execution_bound: config.values as u64 * (1 + periods.ceil() as u64),
            direct,
            cached,
            cache,
            after_invalidate: None,
            local: None,
        }
    }
}

/// The table the `load` command prints.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} clients, {} values, {:.0} s per route, against {}",
            self.concurrency, self.values, self.seconds_per_route, self.target
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| route | requests | errors | requests/s | p50 ms | p90 ms | p99 ms | max ms | executions |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        let after = self.after_invalidate.as_ref().map(|i| &i.phase);
        let local = self.local.as_ref().map(|l| &l.phase);
        for p in [&self.direct, &self.cached]
            .into_iter()
            .chain(after)
            .chain(local)
        {
            let l = &p.latency_ms;
            writeln!(
                f,
                "| `/{}` | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                p.route,
                p.requests,
                p.errors,
                p.requests_per_second,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                p.executions
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "speed-up: {:.0}x the requests/s, {:.0}x faster at the median; /cached ran the \
             function {} times (bound {}), hits {}, misses {}, waited for another's run {}",
            self.throughput_speedup,
            self.p50_speedup,
            self.cached.executions,
            self.cached_execution_bound,
            self.cache.hits,
            self.cache.misses,
            self.cache.waited
        )?;
        if let Some(i) = &self.after_invalidate {
            writeln!(f)?;
            write!(
                f,
                "after POST /invalidate: misses {}, executions {}, hits {}",
                i.cache.misses, i.phase.executions, i.cache.hits
            )?;
        }
        if let Some(l) = &self.local {
            let share = if l.cache.hits > 0 {
                100.0 * l.cache.local_hits as f64 / l.cache.hits as f64
            } else {
                0.0
            };
            writeln!(f)?;
            write!(
                f,
                "/local (local tier): hits {}, from memory {} ({share:.1}%), misses {}, \
                 executions {} (bound {}), {:.1}x the requests/s of /cached",
                l.cache.hits,
                l.cache.local_hits,
                l.cache.misses,
                l.phase.executions,
                self.cached_execution_bound,
                if self.cached.requests_per_second > 0.0 {
                    l.phase.requests_per_second / self.cached.requests_per_second
                } else {
                    0.0
                }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), 50.0);
        assert_eq!(percentile(&ms, 99.0), 99.0);
        assert_eq!(percentile(&ms, 100.0), 100.0);
        assert_eq!(percentile(&ms[..1], 99.0), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
