//! The load report: drives the service over HTTP, first `/direct`, then `/cached` (then
//! `/cached` again after `POST /invalidate`, then `/local`, the cache with its local tier), with
//! many concurrent clients cycling over a set of values; measures requests per second and latency,
//! reads the function's executions from `/stats`, and writes a table, JSON and an SVG chart.

mod chart;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use report::{CacheCounts, Invalidated, Latency, LocalRoute, Phase, Report};

use crate::Error;

/// What to drive, how hard and for how long.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The service's base URL, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    /// How long each route is driven.
    pub phase: Duration,
    /// Clients sending requests at once.
    pub concurrency: usize,
    /// How many different values the clients cycle over.
    pub values: usize,
    /// The cached route's refresh age (2 s in the demo), for the bound on its executions.
    pub refresh: Duration,
    /// Where `report.json` and `latency.svg` go.
    pub out: PathBuf,
}

/// Runs the phases and writes `report.json` and `latency.svg` into `config.out`.
///
/// ```no_run
/// use std::time::Duration;
/// use rediscache_demo::load::{run, LoadConfig};
///
/// # async fn demo() -> Result<(), rediscache_demo::Error> {
/// let report = run(&LoadConfig {
///     target: "http://127.0.0.1:8080".into(),
///     phase: Duration::from_secs(10),
///     concurrency: 32,
///     values: 20,
///     refresh: Duration::from_secs(2),
///     out: "target/load-report".into(),
/// })
/// .await?;
/// println!("{report}"); // the table
/// # Ok(()) }
/// ```
pub async fn run(config: &LoadConfig) -> Result<Report, Error> {
    if config.concurrency == 0 || config.values == 0 || config.phase.is_zero() {
        return Err(Error::Usage(
            "--concurrency, --values and --seconds must be above 0".into(),
        ));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Load(format!("HTTP client: {e}")))?;
    let base = config.target.trim_end_matches('/').to_owned();
    let (direct, direct_latencies, ..) = phase(&client, &base, "direct", config).await?;
    let (cached, cached_latencies, before, after) = phase(&client, &base, "cached", config).await?;
    let cache = counts_since(&before, &after, "demo::cached");
    // Then every cached value is invalidated, in every worker, and the same load goes on: the
    // misses that follow, one execution per value.
    invalidate(&client, &base).await?;
    let (mut invalidated, _, before, after) = phase(&client, &base, "cached", config).await?;
    invalidated.route = "cached` after `POST /invalidate".into();
    let invalidated_cache = counts_since(&before, &after, "demo::cached");
    // Then the same load on `/local`: its first calls miss, then the hits come from memory.
    let (local, _, before, after) = phase(&client, &base, "local", config).await?;
    let local_cache = counts_since(&before, &after, "demo::local");
    let mut report = Report::new(config, direct, cached, cache);
    report.after_invalidate = Some(Invalidated {
        phase: invalidated,
        cache: invalidated_cache,
    });
    report.local = Some(LocalRoute {
        phase: local,
        cache: local_cache,
    });
    std::fs::create_dir_all(&config.out).map_err(|e| Error::Write(config.out.clone(), e))?;
    let json = config.out.join("report.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Load(e.to_string()))?;
    std::fs::write(&json, text + "\n").map_err(|e| Error::Write(json.clone(), e))?;
    let svg = config.out.join("latency.svg");
    chart::draw(&svg, &report, &direct_latencies, &cached_latencies)?;
    Ok(report)
}

/// Drives one route for `config.phase`; returns its summary, every latency (sorted), and
/// `/stats` before and after.
async fn phase(
    client: &reqwest::Client,
    base: &str,
    route: &'static str,
    config: &LoadConfig,
) -> Result<(Phase, Vec<Duration>, Value, Value), Error> {
    let before = stats(client, base).await?;
    let started = Instant::now();
    let deadline = started + config.phase;
    let base: Arc<str> = Arc::from(base);
    let tasks: Vec<_> = (0..config.concurrency)
        .map(|client_no| {
            let (client, base) = (client.clone(), Arc::clone(&base));
            let (values, concurrency) = (config.values, config.concurrency);
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                let mut i = 0;
                while Instant::now() < deadline {
                    let value = (client_no + i * concurrency) % values;
                    i += 1;
                    let url = format!("{base}/{route}/v{value}");
                    let sent = Instant::now();
                    match get(&client, &url).await {
                        Ok(_) => latencies.push(sent.elapsed()),
                        Err(e) => {
                            errors += 1;
                            tracing::debug!("load: {url}: {e}");
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task
            .await
            .map_err(|e| Error::Load(format!("a client failed: {e}")))?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    let after = stats(client, base.as_ref()).await?;
    latencies.sort_unstable();
    let ran = executions(&after, route)?.saturating_sub(executions(&before, route)?);
    let phase = Phase::new(route, &latencies, errors, elapsed, ran);
    Ok((phase, latencies, before, after))
}

/// One request; it counts once the whole body has arrived.
async fn get(client: &reqwest::Client, url: &str) -> Result<(), reqwest::Error> {
    let response = client.get(url).send().await?.error_for_status()?;
    response.bytes().await?;
    Ok(())
}

/// `POST /invalidate`: every cached value becomes a miss.
async fn invalidate(client: &reqwest::Client, base: &str) -> Result<(), Error> {
    let url = format!("{base}/invalidate");
    client
        .post(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map(drop)
        .map_err(|e| Error::Load(format!("{url}: {e}")))
}

/// Reads `/stats` as JSON.
async fn stats(client: &reqwest::Client, base: &str) -> Result<Value, Error> {
    let url = format!("{base}/stats");
    let response = client
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| Error::Load(format!("{url}: {e}")))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| Error::Load(format!("{url}: {e}")))?;
    serde_json::from_slice(&body).map_err(|e| Error::Load(format!("{url}: not JSON: {e}")))
}

/// The function's executions for `route` in a `/stats` reading.
fn executions(stats: &Value, route: &str) -> Result<u64, Error> {
    stats["executions"][route]
        .as_u64()
        .ok_or_else(|| Error::Load(format!("/stats has no executions.{route}: {stats}")))
}

/// What the counters of the cached function `name` did between two `/stats` readings.
fn counts_since(before: &Value, after: &Value, name: &str) -> CacheCounts {
    function_counts(after, name).since(&function_counts(before, name))
}

/// The counters of the cached function `name` in a `/stats` reading.
fn function_counts(stats: &Value, name: &str) -> CacheCounts {
    let function = &stats["functions"][name];
    let field = |name: &str| function[name].as_u64().unwrap_or(0);
    CacheCounts {
        hits: field("success"),
        local_hits: field("local_hits"),
        misses: field("missed"),
        refreshes: field("refresh"),
        waited: field("sleep"),
        errors: field("errors"),
    }
}
