//! The demo's HTTP routes: the same slow function direct, cached, and cached with the local
//! tier, the cache's counters as JSON, Prometheus metrics, and a page that shows them live.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rediscache::Stats;
use serde_json::{Value, json};

use crate::history::History;
use crate::work::{self, Route, Work};

/// The longest `{value}` the routes accept.
pub const MAX_VALUE_CHARS: usize = 100;

/// What the routes share.
pub struct Demo {
    work: Work,
    history: Arc<History>,
    metrics: Option<PrometheusHandle>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("work", &self.work)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

impl Demo {
    /// The routes' state: the function's settings, the counters' history, and the Prometheus
    /// handle (see [`install_metrics`]; `None` serves an empty `/metrics`).
    pub fn new(work: Work, history: Arc<History>, metrics: Option<PrometheusHandle>) -> Demo {
        Demo {
            work,
            history,
            metrics,
        }
    }

    /// The counters' history the page draws.
    pub fn history(&self) -> &Arc<History> {
        &self.history
    }
}

/// Installs the process's Prometheus recorder once and returns its handle; `None` if another
/// recorder was installed first. Install it before the first cached call: the cache registers
/// a function's metrics on its first event.
pub fn install_metrics() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const SECONDS: [f64; 14] = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            PrometheusBuilder::new()
                .set_buckets(&SECONDS)
                .and_then(|b| b.install_recorder())
                .inspect_err(|e| tracing::warn!("demo: no Prometheus recorder: {e}"))
                .ok()
        })
        .clone()
}

/// The demo's routes.
pub fn router(demo: Arc<Demo>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/direct/{value}", get(direct))
        .route("/cached/{value}", get(cached))
        .route("/local/{value}", get(local))
        .route("/stats", get(stats))
        .route("/history", get(history))
        .route("/metrics", get(metrics))
        .route("/invalidate", post(invalidate))
        .layer(axum::middleware::map_response_with_state(
            Arc::clone(&demo),
            worker_header,
        ))
        .with_state(demo)
}

/// Every response says which worker process answered: `x-demo-worker: N`.
async fn worker_header(State(demo): State<Arc<Demo>>, mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("x-demo-worker", HeaderValue::from(demo.work.worker()));
    response
}

async fn page() -> Html<&'static str> {
    Html(crate::page::PAGE)
}

async fn direct(State(demo): State<Arc<Demo>>, Path(value): Path<String>) -> Response {
    serve(Route::Direct, &demo.work, value).await
}

async fn cached(State(demo): State<Arc<Demo>>, Path(value): Path<String>) -> Response {
    serve(Route::Cached, &demo.work, value).await
}

async fn local(State(demo): State<Arc<Demo>>, Path(value): Path<String>) -> Response {
    serve(Route::Local, &demo.work, value).await
}

async fn serve(route: Route, w: &Work, value: String) -> Response {
    if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
        let msg = format!("the value must have 1 to {MAX_VALUE_CHARS} characters");
        return (StatusCode::BAD_REQUEST, msg).into_response();
    }
    let started = Instant::now();
    let answer = match route {
        Route::Direct => work::direct(w, &value).await,
        Route::Cached => work::cached(w, &value).await,
        Route::Local => work::local(w, &value).await,
    };
    metrics::histogram!("demo_request_seconds", "route" => route.name())
        .record(started.elapsed().as_secs_f64());
    Json(answer).into_response()
}

/// `/stats`: the cache's counters in total and per function, shared by every worker, and the
/// function's executions per route.
async fn stats(State(demo): State<Arc<Demo>>) -> Response {
    let cache = work::demo_cache();
    let read = async {
        // The local route's cache shares the Redis and the prefix, so its counts are in the
        // same totals; this sends the ones it has not flushed yet.
        work::local_cache().stats().await?;
        let functions = cache.stats_by_function().await?;
        let total = cache.stats().await?;
        Ok::<_, rediscache::Error>((total, functions))
    };
    let (total, functions) = match read.await {
        Ok(read) => read,
        Err(e) => return unavailable(&e.to_string()),
    };
    let executions = match demo.work.executions().await {
        Ok(e) => e,
        Err(e) => return unavailable(&e.to_string()),
    };
    let functions: serde_json::Map<String, Value> = functions
        .iter()
        .map(|(name, s)| (name.clone(), stats_json(s)))
        .collect();
    Json(json!({
        "worker": demo.work.worker(),
        "total": stats_json(&total),
        "functions": functions,
        "executions": executions,
    }))
    .into_response()
}

/// `POST /invalidate`: every entry of the cached functions (`/cached`'s and `/local`'s)
/// becomes a miss, in every worker and in their memory; no computation that started before can
/// store what it read. The next call of each value computes anew (the misses show in `/stats`
/// and on the page).
async fn invalidate() -> Response {
    let done = async {
        work::demo_cache()
            .invalidate_function(work::CACHED_NAME)
            .await?;
        work::local_cache()
            .invalidate_function(work::LOCAL_NAME)
            .await
    };
    match done.await {
        Ok(()) => {
            Json(json!({ "invalidated": [work::CACHED_NAME, work::LOCAL_NAME] })).into_response()
        }
        Err(e) => unavailable(&e.to_string()),
    }
}

/// `/history`: the totals sampled over the last minutes, oldest first.
async fn history(State(demo): State<Arc<Demo>>) -> Response {
    Json(demo.history.samples()).into_response()
}

/// `/metrics`: this worker's metrics in Prometheus' text format.
async fn metrics(State(demo): State<Arc<Demo>>) -> Response {
    let body = demo
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

fn unavailable(why: &str) -> Response {
    let body = Json(json!({ "error": format!("Redis did not answer: {why}") }));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

fn stats_json(s: &Stats) -> Value {
    json!({
        "success": s.success,
        "missed": s.missed,
        "default": s.default,
        "refresh": s.refresh,
        "wait": s.wait,
        "sleep": s.sleep,
        "failed": s.failed,
        "errors": s.errors,
        "local_hits": s.local_hits,
    })
}
