//! The page at `/` in a real headless browser (Debian's `chromium`): its script fetches
//! `/stats` and `/history` and renders the counters, the per-function table and the chart.
//!
//! Skipped, with a message, when no chromium is on PATH; `.ci/run` installs it and sets
//! `REDISCACHE_REQUIRE_BROWSER=1`, which turns that skip into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rediscache_demo::serve;
use testkit::RedisServer;

fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs the browser headless on `url` with `args`; its stdout. Bounded: a browser that hangs
/// is killed and fails the test.
fn headless(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the browser starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait().expect("wait for the browser") {
            Some(status) => {
                let out = child.wait_with_output().expect("browser output");
                assert!(status.success(), "the browser failed: {status}");
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the browser did not finish within 120 s");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_renders_live_counters_and_the_chart_in_a_browser() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("REDISCACHE_REQUIRE_BROWSER").is_none(),
            "REDISCACHE_REQUIRE_BROWSER is set but no chromium is on PATH"
        );
        eprintln!("SKIPPED the browser test: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let redis = RedisServer::start();
    let worker = serve::start_worker(&serve::WorkerConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
        redis_url: redis.url(),
        prefix: "browser-test".into(),
        io: Duration::from_millis(20),
        rounds: 100,
        worker: 0,
        sample_every: Duration::from_millis(200),
    })
    .await
    .expect("a worker");
    let base = format!("http://{}", worker.addr);
    let client = reqwest::Client::new();
    for path in ["/cached/a", "/cached/a", "/cached/a", "/direct/a"] {
        let r = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("GET");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    // The chart needs three samples (two rates) taken after the calls.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let history: Vec<serde_json::Value> = client
            .get(format!("{base}/history"))
            .send()
            .await
            .expect("GET /history")
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).expect("JSON"))
            .expect("a body");
        if history.iter().filter(|s| s["hits"] == 2).count() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no history: {history:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-test");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("a temp dir");
    let url = format!("{base}/");
    let (browser_, tmp_, url_) = (browser.clone(), tmp.clone(), url.clone());
    let dom = tokio::task::spawn_blocking(move || {
        headless(&browser_, &tmp_.join("profile"), &["--dump-dom"], &url_)
    })
    .await
    .expect("the browser ran");

    // What the script rendered from /stats: 3 cached calls = 1 miss + 2 hits, 1 execution each.
    assert!(
        dom.contains("data-ready=\"true\""),
        "the script did not finish:\n{dom}"
    );
    for (id, value) in [
        ("total-success", 2),
        ("total-missed", 1),
        ("total-refresh", 1),
        ("exec-cached", 1),
        ("exec-direct", 1),
    ] {
        let rendered = format!("id=\"{id}\">{value}<");
        assert!(dom.contains(&rendered), "no {rendered} in:\n{dom}");
    }
    assert!(
        dom.contains(
            "<tr data-function=\"demo::cached\"><td>demo::cached</td><td>2</td><td>1</td>"
        ),
        "no per-function row:\n{dom}"
    );
    for series in ["hits", "misses", "refreshes"] {
        assert!(
            dom.contains(&format!("data-series=\"{series}\"")),
            "no {series} line in the chart:\n{dom}"
        );
    }

    // And a picture of it, for people: target/tmp/browser-test/page.png.
    let png = tmp.join("page.png");
    let (shot, tmp_) = (format!("--screenshot={}", png.display()), tmp.clone());
    tokio::task::spawn_blocking(move || {
        headless(
            &browser,
            &tmp_.join("profile"),
            &[&shot, "--window-size=1000,1500"],
            &url,
        )
    })
    .await
    .expect("the browser ran");
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a suspiciously small screenshot: {} bytes",
        bytes.len()
    );
    eprintln!("page screenshot: {}", png.display());
    drop(worker);
}
