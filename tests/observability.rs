//! What the cache tells the outside: `metrics` counters and a recompute histogram per function,
//! and tracing spans and events on the slow paths only, with names and keys but never values.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use rediscache::{RedisCache, cache};
use testkit::*;

use common::*;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn metrics_per_function_and_spans_on_slow_paths_only() {
    static CACHE: Slot<RedisCache> = Slot::new();
    // One test in this binary: the recorder is process-wide.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let server = RedisServer::start();
    CACHE.set(cache_on(&server));

    #[cache(cache = CACHE, name = "observed", refresh = 60, expire = 120, wait = true)]
    async fn observed(x: u32) -> String {
        format!("SECRET-VALUE-{x}")
    }

    let rt = runtime(false);
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            assert_eq!(observed(7).await, "SECRET-VALUE-7");
            let after_miss = logs.text().lines().count();
            for _ in 0..5 {
                assert_eq!(observed(7).await, "SECRET-VALUE-7");
            }
            assert_eq!(
                logs.text().lines().count(),
                after_miss,
                "hits log nothing:\n{}",
                logs.text()
            );
        });
    });

    let text = logs.text();
    assert!(
        text.contains("rediscache.recompute"),
        "a span around the computation:\n{text}"
    );
    assert!(
        text.contains("function=\"observed\"") || text.contains("function=observed"),
        "{text}"
    );
    assert!(text.contains("observed(7)"), "the key is named:\n{text}");
    assert!(text.contains("rediscache: miss"), "{text}");
    assert!(
        !text.contains("SECRET-VALUE"),
        "values never reach the logs:\n{text}"
    );

    let mut events = std::collections::BTreeMap::new();
    let mut recompute_samples = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        assert!(
            labels.contains(&("function".into(), "observed".into())),
            "{labels:?}"
        );
        match (key.key().name(), value) {
            ("rediscache_events_total", DebugValue::Counter(n)) => {
                let event = labels
                    .iter()
                    .find(|(k, _)| k == "event")
                    .map(|(_, v)| v.clone())
                    .unwrap();
                events.insert(event, n);
            }
            ("rediscache_recompute_seconds", DebugValue::Histogram(samples)) => {
                recompute_samples += samples.len()
            }
            (name, _) => panic!("unexpected metric {name}"),
        }
    }
    assert_eq!(events.get("missed"), Some(&1), "{events:?}");
    assert_eq!(events.get("success"), Some(&5), "{events:?}");
    assert_eq!(events.get("refresh"), Some(&1), "{events:?}");
    assert_eq!(events.get("wait"), Some(&1), "{events:?}");
    assert_eq!(recompute_samples, 1, "one computation timed");
}
