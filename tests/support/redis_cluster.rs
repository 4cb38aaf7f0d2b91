//! A real Redis Cluster for tests: 3 primaries with a replica each, from `redis-server`
//! processes on free loopback ports, created with `redis-cli --cluster create`, with helpers to
//! kill a primary and wait for its replica's promotion, and to migrate a slot.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster; every process is killed and reaped on drop.
pub struct Cluster {
    nodes: Vec<(u16, Option<Child>)>,
    dir: PathBuf,
}

/// Two free ports: a node's and its cluster bus's (`port + 10000`).
fn free_node_port() -> u16 {
    for _ in 0..1000 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let port = l.local_addr().expect("addr").port();
        if port > 20000 && port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

/// One line of `CLUSTER NODES`.
struct NodeLine {
    id: String,
    port: u16,
    primary: bool,
    failed: bool,
    slots: Vec<(u16, u16)>,
}

impl Cluster {
    /// Starts 6 nodes and makes them a cluster; waits (bounded) until it is healthy.
    pub fn start() -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "rediscache-cluster-{}-{}",
            std::process::id(),
            free_node_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
        };
        let mut ports = BTreeSet::new();
        while ports.len() < 6 {
            ports.insert(free_node_port());
        }
        for port in ports {
            let child = cluster.spawn(port);
            cluster.nodes.push((port, Some(child)));
        }
        for (port, _) in &cluster.nodes {
            assert!(
                super::eventually(Duration::from_secs(10), || cluster
                    .cli(*port, &["PING"])
                    .is_some_and(|o| o.trim() == "PONG")),
                "node {port} did not start"
            );
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for (port, _) in &cluster.nodes {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            super::eventually(Duration::from_secs(60), || cluster.healthy()),
            "the cluster did not become healthy"
        );
        cluster
    }

    fn spawn(&self, port: u16) -> Child {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("node dir");
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            // A replica may take over however long ago it last heard from its primary.
            .args(["--cluster-replica-validity-factor", "0"])
            .args([
                "--cluster-config-file",
                dir.join("nodes.conf").to_str().expect("utf-8"),
            ])
            .args([
                "--dir",
                dir.to_str().expect("utf-8"),
                "--logfile",
                dir.join("log").to_str().expect("utf-8"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH")
    }

    /// Every live node answers `cluster_state:ok`, 3 live primaries cover all slots, and each
    /// has a replica whose link is up.
    fn healthy(&self) -> bool {
        let live = self.live();
        let ok = live.iter().all(|p| {
            self.cli(*p, &["CLUSTER", "INFO"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
        });
        let Some(nodes) = live.first().map(|p| self.nodes_of(*p)) else {
            return false;
        };
        let primaries: Vec<_> = nodes
            .iter()
            .filter(|n| n.primary && !n.failed && !n.slots.is_empty())
            .collect();
        let covered: u32 = primaries
            .iter()
            .flat_map(|n| &n.slots)
            .map(|(a, b)| u32::from(b - a) + 1)
            .sum();
        let replicas_synced = live.iter().all(|p| {
            let info = self.cli(*p, &["INFO", "replication"]).unwrap_or_default();
            !info.contains("role:slave") || info.contains("master_link_status:up")
        });
        ok && primaries.len() == 3 && covered == 16384 && replicas_synced
    }

    fn live(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
            .collect()
    }

    /// `CLUSTER NODES` as seen by `port`.
    fn nodes_of(&self, port: u16) -> Vec<NodeLine> {
        let text = self.cli(port, &["CLUSTER", "NODES"]).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let addr = f.get(1)?.split('@').next()?;
                let port = addr.rsplit(':').next()?.parse().ok()?;
                let flags = f.get(2)?;
                let slots = f
                    .iter()
                    .skip(8)
                    .filter(|s| !s.starts_with('['))
                    .filter_map(|s| match s.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => s.parse().ok().map(|n| (n, n)),
                    })
                    .collect();
                Some(NodeLine {
                    id: f[0].to_owned(),
                    port,
                    primary: flags.contains("master"),
                    failed: flags.split(',').any(|f| f == "fail"),
                    slots,
                })
            })
            .collect()
    }

    /// `redis://` URLs of every node started.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(p, _)| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// Ports of the live primaries that serve slots.
    pub fn primaries(&self) -> Vec<u16> {
        let Some(any) = self.live().first().copied() else {
            return Vec::new();
        };
        let mut ports: Vec<u16> = self
            .nodes_of(any)
            .into_iter()
            .filter(|n| n.primary && !n.failed && !n.slots.is_empty())
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Ports of the live replicas.
    pub fn replicas(&self) -> Vec<u16> {
        let primaries = self.primaries();
        self.live()
            .into_iter()
            .filter(|p| !primaries.contains(p))
            .collect()
    }

    /// Runs `redis-cli` against one node; `None` if it failed.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The hash slot of `key`.
    pub fn keyslot(&self, key: &str) -> u16 {
        let port = self.live()[0];
        self.cli(port, &["CLUSTER", "KEYSLOT", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// The live primary serving `key`'s slot.
    pub fn primary_for_key(&self, key: &str) -> u16 {
        let slot = self.keyslot(key);
        self.nodes_of(self.live()[0])
            .into_iter()
            .find(|n| {
                n.primary && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .map(|n| n.port)
            .expect("an owner for every slot")
    }

    /// Every key matching `pattern` on the live primaries, sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .primaries()
            .into_iter()
            .flat_map(|p| {
                self.cli(p, &["--scan", "--pattern", pattern])
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Kills a node with SIGKILL.
    pub fn kill(&mut self, port: u16) {
        if let Some((_, Some(child))) = self.nodes.iter_mut().find(|(p, _)| *p == port) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(slot) = self.nodes.iter_mut().find(|(p, _)| *p == port) {
            slot.1 = None;
        }
    }

    /// Waits (bounded) until a replica has taken over the killed primary's slots.
    pub fn wait_failover(&self, killed: u16) {
        let promoted = || {
            let live = self.live();
            live.iter().all(|p| {
                self.cli(*p, &["CLUSTER", "INFO"])
                    .is_some_and(|i| i.contains("cluster_state:ok"))
            }) && !self.primaries().contains(&killed)
                && self.primaries().len() == 3
        };
        assert!(
            super::eventually(Duration::from_secs(60), promoted),
            "no failover after killing {killed}"
        );
    }

    /// Moves `slot`, with its keys, to the primary on port `to`.
    pub fn migrate_slot(&self, slot: u16, to: u16) {
        let nodes = self.nodes_of(self.live()[0]);
        let owner = nodes
            .iter()
            .find(|n| {
                n.primary && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .expect("an owner");
        let (from, from_id) = (owner.port, owner.id.clone());
        let to_id = nodes
            .iter()
            .find(|n| n.port == to)
            .expect("target node")
            .id
            .clone();
        let slot_s = slot.to_string();
        let ok = |port: u16, args: &[&str]| {
            let out = self.cli(port, args).unwrap_or_default();
            assert!(out.trim() == "OK", "{args:?} on {port}: {out}");
        };
        ok(to, &["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &from_id]);
        ok(from, &["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &to_id]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let keys = self
                .cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot_s, "100"])
                .unwrap_or_default();
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_s = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_s, "", "0", "5000", "KEYS"];
            args.extend(keys);
            let out = self.cli(from, &args).unwrap_or_default();
            assert!(
                out.trim() == "OK" || out.trim() == "NOKEY",
                "MIGRATE: {out}"
            );
            assert!(
                Instant::now() < deadline,
                "migrating slot {slot} took too long"
            );
        }
        for port in self.primaries() {
            ok(port, &["CLUSTER", "SETSLOT", &slot_s, "NODE", &to_id]);
        }
        let moved = || self.primary_for_key_slot(slot) == Some(to);
        assert!(
            super::eventually(Duration::from_secs(30), moved),
            "slot {slot} did not settle on {to}"
        );
    }

    fn primary_for_key_slot(&self, slot: u16) -> Option<u16> {
        self.nodes_of(self.live()[0])
            .into_iter()
            .find(|n| {
                n.primary && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .map(|n| n.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(child) = child {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
