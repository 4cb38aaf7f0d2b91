//! Redis Sentinel for tests: a primary, a replica and three sentinels watching them as
//! `mymaster`, from `redis-server` processes on free loopback ports; can kill the primary and
//! wait until the sentinels have promoted the replica.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::binaries;
use crate::server::{RedisServer, free_port};
use crate::wait::eventually;

/// The name the sentinels know the primary by.
pub const MASTER: &str = "mymaster";
/// How long the sentinels wait before judging the primary down, at rest: long, so that
/// a test machine's load never triggers a failover nobody asked for. At 1 s, the semantics
/// suite on sentinel once failed under load (a refresh never landed), which a surprise
/// failover explains: the store meets a demoted primary, and the lease holds for `retry`.
const QUIET_DOWN_AFTER_MS: u64 = 30_000;
/// The same during [`Sentinels::fail_over`], which wants the failover quickly.
const FAULT_DOWN_AFTER_MS: u64 = 1_000;

/// A watched primary with its replica; every process is stopped on drop.
#[derive(Debug)]
pub struct Sentinels {
    /// The primary the sentinels were told to watch (after [`fail_over`](Self::fail_over),
    /// killed).
    pub primary: RedisServer,
    /// Its replica, which a failover promotes.
    pub replica: RedisServer,
    sentinels: Vec<(u16, Child)>,
    dir: PathBuf,
}

fn cli(port: u16, args: &[&str]) -> String {
    binaries::cli()
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl Sentinels {
    /// Starts everything and waits (bounded) until the sentinels agree and know the replica.
    pub fn start() -> Sentinels {
        let primary = RedisServer::start();
        let replica =
            RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
        let dir = std::env::temp_dir().join(format!(
            "rediscache-sentinel-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let conf = dir.join(format!("sentinel-{port}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {} 2\n\
                 sentinel down-after-milliseconds {MASTER} {QUIET_DOWN_AFTER_MS}\n\
                 sentinel failover-timeout {MASTER} 5000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir.display(),
                dir.join(format!("sentinel-{port}.log")).display(),
                primary.port
            );
            std::fs::write(&conf, text).expect("sentinel config");
            let child = binaries::spawn_server(
                binaries::server()
                    .arg(&conf)
                    .arg("--sentinel")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            sentinels.push((port, child));
        }
        let setup = Sentinels {
            primary,
            replica,
            sentinels,
            dir,
        };
        let replica_port = setup.replica.port.to_string();
        let ready = || {
            setup.sentinels.iter().all(|(port, _)| {
                cli(*port, &["SENTINEL", "CKQUORUM", MASTER]).starts_with("OK 3")
                    && cli(*port, &["SENTINEL", "REPLICAS", MASTER]).contains(&replica_port)
            }) && setup
                .replica
                .cli(&["INFO", "replication"])
                .is_some_and(|i| i.contains("master_link_status:up"))
        };
        assert!(
            eventually(Duration::from_secs(60), ready),
            "the sentinels did not settle"
        );
        setup
    }

    /// `redis://` URLs of the sentinels.
    pub fn urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|(p, _)| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The port of the primary as the first sentinel sees it.
    pub fn master_port(&self) -> Option<u16> {
        let out = cli(
            self.sentinels[0].0,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER],
        );
        out.lines().nth(1).and_then(|p| p.trim().parse().ok())
    }

    /// Kills the primary and waits (bounded) until every sentinel names the replica instead.
    pub fn fail_over(&mut self) {
        // Quick detection for this failover only: at rest the sentinels are slow to judge, so
        // a primary that a loaded machine starves for a second is not failed over by surprise.
        for (port, _) in &self.sentinels {
            let down_after = FAULT_DOWN_AFTER_MS.to_string();
            let set = [
                "SENTINEL",
                "SET",
                MASTER,
                "down-after-milliseconds",
                &down_after,
            ];
            assert_eq!(cli(*port, &set).trim(), "OK", "SENTINEL SET on {port}");
        }
        self.primary.kill();
        let replica = self.replica.port;
        let promoted = || {
            self.sentinels.iter().all(|(port, _)| {
                cli(*port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER])
                    .lines()
                    .nth(1)
                    .map(str::trim)
                    == Some(replica.to_string().as_str())
            }) && self
                .replica
                .cli(&["ROLE"])
                .is_some_and(|r| r.starts_with("master"))
        };
        assert!(
            eventually(Duration::from_secs(60), promoted),
            "the sentinels did not promote the replica"
        );
    }

    /// The server the sentinels name as primary now.
    pub fn current_primary(&self) -> &RedisServer {
        if self.master_port() == Some(self.replica.port) {
            &self.replica
        } else {
            &self.primary
        }
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for (_, child) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
