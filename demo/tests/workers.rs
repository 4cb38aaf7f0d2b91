//! The demo binary as its users run it: several worker processes behind one port sharing one
//! Redis (and one computation per value), and a worker that keeps serving without Redis.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{RedisServer, free_port};

/// The demo binary, stopped like a user stops it (Ctrl-C, then SIGKILL if it lingers).
struct Demo(Child);

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let child = Command::new(env!("CARGO_BIN_EXE_rediscache-demo"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the demo starts");
        Demo(child)
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.0.id().to_string()])
            .stderr(Stdio::null())
            .status();
    }

    /// Ctrl-C; whether it exited within `limit`.
    fn interrupt(&mut self, limit: Duration) -> bool {
        self.signal("INT");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let exited = matches!(self.0.try_wait(), Ok(Some(_)));
        if !exited && !self.interrupt(Duration::from_secs(10)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A client that opens a new connection per request, so the kernel spreads them over the
/// workers sharing the port.
fn fresh_connections() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// GET `url`: the status, the answering worker and the body as JSON.
async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, u32, Value), reqwest::Error> {
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let worker = response
        .headers()
        .get("x-demo-worker")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(u32::MAX);
    let body = response.bytes().await?;
    Ok((
        status,
        worker,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_one_port_one_redis_and_one_computation_per_value() {
    let redis = RedisServer::start();
    let port = free_port().to_string();
    let url = redis.url();
    let mut demo = Demo::start(&[
        "serve",
        "--workers",
        "2",
        "--port",
        &port,
        "--redis",
        &url,
        "--prefix",
        "workers",
        "--io-ms",
        "500",
        "--rounds",
        "100",
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let client = fresh_connections();

    // Both workers answer on the one port.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = BTreeSet::new();
    while seen.len() < 2 {
        if let Ok((200, worker, _)) = get(&client, &format!("{base}/stats")).await {
            seen.insert(worker);
        }
        assert!(Instant::now() < deadline, "workers seen: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, BTreeSet::from([0, 1]));

    // Concurrent misses of one value on both workers share one execution: the lease keeps the
    // other worker from computing, and its callers wake when the value lands. The kernel picks
    // the worker per connection, so a batch may land on one worker only; then try a new value.
    let mut shared_across_workers = false;
    for attempt in 0..10 {
        let before = get(&client, &format!("{base}/stats"))
            .await
            .expect("stats")
            .2;
        let value = format!("{base}/cached/shared-{attempt}");
        let started = Instant::now();
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let (client, value) = (client.clone(), value.clone());
                tokio::spawn(async move { get(&client, &value).await })
            })
            .collect();
        let mut bodies = Vec::new();
        let mut workers = BTreeSet::new();
        for call in calls {
            let (status, worker, body) = call.await.expect("joined").expect("answered");
            assert_eq!(status, 200, "{body}");
            workers.insert(worker);
            bodies.push(body);
        }
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "every caller got the one execution's answer: {bodies:?}"
        );
        let after = get(&client, &format!("{base}/stats"))
            .await
            .expect("stats")
            .2;
        let took = started.elapsed();
        let ran = |s: &Value| s["executions"]["cached"].as_u64().unwrap_or(0);
        let ran = ran(&after) - ran(&before);
        // The value is fresh for 2 s: a caller that a loaded machine delayed past that gets it
        // stale (the same body) and may start one refresh. Within 2 s, exactly one run.
        if took < Duration::from_millis(1900) {
            assert_eq!(ran, 1, "one execution for 12 callers in {took:?}");
        } else {
            assert!(ran <= 2, "{ran} executions for 12 callers in {took:?}");
        }
        if workers.len() == 2 {
            shared_across_workers = true;
            break;
        }
    }
    assert!(shared_across_workers, "no batch reached both workers");

    // Stats are fleet-wide: every worker reports the same totals.
    let mut totals = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while totals.len() < 2 {
        let (_, worker, stats) = get(&client, &format!("{base}/stats")).await.expect("stats");
        totals.insert((worker, stats["executions"].to_string()));
        assert!(Instant::now() < deadline, "{totals:?}");
    }
    let counts: BTreeSet<&String> = totals.iter().map(|(_, c)| c).collect();
    assert_eq!(counts.len(), 1, "the workers disagree: {totals:?}");

    // Ctrl-C stops the parent and every worker: the port closes.
    assert!(
        demo.interrupt(Duration::from_secs(20)),
        "the demo did not stop"
    );
    let closed = async {
        while get(&client, &format!("{base}/stats")).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), closed)
        .await
        .expect("a worker outlived its parent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_routes_still_answer_and_stats_say_why() {
    let gone = free_port(); // nothing listens there
    let port = free_port().to_string();
    let url = format!("redis://127.0.0.1:{gone}/0");
    let _demo = Demo::start(&[
        "serve", "--port", &port, "--redis", &url, "--io-ms", "10", "--rounds", "10",
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let client = fresh_connections();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stats = loop {
        if let Ok((status, _, body)) = get(&client, &format!("{base}/stats")).await {
            break (status, body);
        }
        assert!(Instant::now() < deadline, "the demo did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stats.0, 503, "{}", stats.1);
    let error = stats.1["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("Redis did not answer"), "{error}");

    for route in ["cached", "direct"] {
        let (status, _, body) = get(&client, &format!("{base}/{route}/v"))
            .await
            .expect("answered");
        assert_eq!(status, 200, "/{route}: {body}");
        assert_eq!(body["value"], "v");
        assert_eq!(body["execution"], 0, "no Redis to count in: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_by_sigterm_leaves_every_count_in_redis() {
    let redis = RedisServer::start();
    let port = free_port().to_string();
    let url = redis.url();
    let mut demo = Demo::start(&[
        "serve", "--port", &port, "--redis", &url, "--prefix", "closing", "--io-ms", "10",
        "--rounds", "10",
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let client = fresh_connections();
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&client, &format!("{base}/direct/up")).await.is_err() {
        assert!(Instant::now() < deadline, "the demo did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One miss, then hits, and SIGTERM at once: the last counts are younger than a flush.
    let calls = 6;
    for _ in 0..calls {
        let (status, _, body) = get(&client, &format!("{base}/cached/v"))
            .await
            .expect("answered");
        assert_eq!(status, 200, "{body}");
    }
    demo.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(demo.0.try_wait(), Ok(Some(_))) {
        assert!(Instant::now() < deadline, "SIGTERM did not stop the worker");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats: std::collections::HashMap<String, u64> = redis::cmd("HGETALL")
        .arg("closing:stats")
        .query(&mut redis.conn())
        .expect("HGETALL");
    let counted =
        stats.get("success").copied().unwrap_or(0) + stats.get("missed").copied().unwrap_or(0);
    assert_eq!(
        counted, calls,
        "every call counted before the worker exited: {stats:?}"
    );
}
