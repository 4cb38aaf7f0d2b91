//! The demo's routes, called in process (`tower::ServiceExt::oneshot`) against a private
//! `redis-server`. One test: a process configures its cache once, and the counts it asserts
//! must not mix with another test's calls.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rediscache_demo::{app, serve};
use serde_json::Value;
use testkit::{RedisServer, eventually_async};
use tower::ServiceExt;

async fn get(router: &Router, path: &str) -> (StatusCode, String) {
    let request = Request::get(path).body(Body::empty()).expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    assert_eq!(
        response
            .headers()
            .get("x-demo-worker")
            .map(|v| v.as_bytes()),
        Some(&b"3"[..]),
        "every response names its worker"
    );
    let body = response.into_body().collect().await.expect("a body");
    (
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    )
}

async fn get_json(router: &Router, path: &str) -> Value {
    let (status, body) = get(router, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {body}"))
}

/// The value of the Prometheus sample `name` (with its labels, as rendered), if present.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_run_the_function_direct_and_cached_and_report_it() {
    let redis = RedisServer::start();
    let config = serve::WorkerConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
        redis_url: redis.url(),
        prefix: "http-test".into(),
        io: Duration::from_millis(50),
        rounds: 100,
        worker: 3,
        sample_every: Duration::from_secs(2),
    };
    let router = app::router(serve::configure(&config).expect("configured"));
    assert!(
        matches!(
            serve::configure(&config),
            Err(rediscache_demo::Error::AlreadyServing)
        ),
        "a process configures its cache once"
    );

    // /cached: the first call computes, the second is served from Redis: the same body, one
    // execution.
    let first = get_json(&router, "/cached/alpha").await;
    let second = get_json(&router, "/cached/alpha").await;
    assert_eq!(first, second);
    assert_eq!(first["value"], "alpha");
    assert_eq!(first["worker"], 3);
    assert_eq!(
        first["execution"], 1,
        "the first execution counted in Redis"
    );
    let stats = get_json(&router, "/stats").await;
    assert_eq!(stats["executions"]["cached"], 1, "{stats}");
    let f = &stats["functions"]["demo::cached"];
    assert_eq!(
        (&f["missed"], &f["success"], &f["refresh"]),
        (&1.into(), &1.into(), &1.into()),
        "{stats}"
    );
    assert_eq!(stats["total"]["success"], 1, "{stats}");
    assert_eq!(stats["worker"], 3);

    // /direct: every call executes; the same digest, a new execution each time.
    let d1 = get_json(&router, "/direct/alpha").await;
    let d2 = get_json(&router, "/direct/alpha").await;
    assert_eq!(d1["digest"], first["digest"], "the same function");
    assert_ne!(d1["execution"], d2["execution"]);
    let stats = get_json(&router, "/stats").await;
    assert_eq!(stats["executions"]["direct"], 2, "{stats}");
    assert_eq!(stats["executions"]["cached"], 1, "{stats}");
    assert_eq!(
        stats["functions"]["demo::cached"]["success"], 1,
        "/direct does not touch the cache: {stats}"
    );

    // A value the routes refuse: a clear 400, nothing executed.
    let long = "x".repeat(app::MAX_VALUE_CHARS + 1);
    let (status, body) = get(&router, &format!("/cached/{long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("1 to 100 characters"), "{body}");
    let stats = get_json(&router, "/stats").await;
    assert_eq!(stats["executions"]["cached"], 1, "{stats}");

    // /metrics: this process's counters in Prometheus' text format.
    let (status, metrics) = get(&router, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let events = |event: &str| {
        sample(
            &metrics,
            &format!("rediscache_events_total{{function=\"demo::cached\",event=\"{event}\"}}"),
        )
    };
    assert_eq!(events("success"), Some(1.0), "{metrics}");
    assert_eq!(events("missed"), Some(1.0), "{metrics}");
    assert_eq!(events("refresh"), Some(1.0), "{metrics}");
    assert_eq!(
        sample(&metrics, "demo_executions_total{route=\"direct\"}"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "demo_request_seconds_count{route=\"cached\"}"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "rediscache_recompute_seconds_count{function=\"demo::cached\"}"
        ),
        Some(1.0),
        "{metrics}"
    );

    // POST /invalidate: every cached value is a miss again; the next call computes anew.
    let request = Request::post("/invalidate")
        .body(Body::empty())
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let again = get_json(&router, "/cached/alpha").await;
    assert_eq!(
        again["execution"], 2,
        "a miss after the invalidation: {again}"
    );
    assert_eq!(
        get_json(&router, "/cached/alpha").await,
        again,
        "then a hit"
    );
    let f = &get_json(&router, "/stats").await["functions"]["demo::cached"];
    assert_eq!((&f["missed"], &f["success"]), (&2.into(), &2.into()), "{f}");

    // /local: the same function through the cache with its local tier (refresh 2 s, so a
    // fresh entry for as long as this takes): one execution, then hits, from this worker's
    // memory once the tier is live.
    let l1 = get_json(&router, "/local/alpha").await;
    assert_eq!(l1["digest"], first["digest"], "the same function");
    let router_ = &router;
    let from_memory = eventually_async(Duration::from_secs(10), || async move {
        get_json(router_, "/local/alpha").await;
        let stats = get_json(router_, "/stats").await;
        stats["functions"]["demo::local"]["local_hits"].as_u64() > Some(0)
    })
    .await;
    let stats = get_json(&router, "/stats").await;
    assert!(from_memory, "no hit from memory: {stats}");
    assert!(stats["executions"]["local"].as_u64() >= Some(1), "{stats}");
    assert_eq!(stats["executions"]["cached"], 2, "{stats}");
    assert!(
        stats["total"]["local_hits"].as_u64() > Some(0),
        "in the totals: {stats}"
    );

    // /history: what the page's chart draws; the sampler runs only in a served worker, so it
    // is empty here but well-formed.
    assert_eq!(get_json(&router, "/history").await, Value::Array(vec![]));

    // /: the page, self-contained.
    let (status, page) = get(&router, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("id=\"chart\"") && page.contains("fetch(\"/stats\")"));
    assert!(page.contains("fetch(\"/invalidate\", { method: \"POST\" })"));
    assert!(
        only_svg_namespace(&page),
        "the page loads nothing from elsewhere"
    );
}

/// The only absolute URL the page may hold is SVG's namespace name, which is never fetched.
fn only_svg_namespace(page: &str) -> bool {
    page.replace("http://www.w3.org/2000/svg", "")
        .find("http")
        .is_none()
}
