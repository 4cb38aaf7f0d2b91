//! A real Redis Cluster for tests: 3 primaries with one replica each, six `redis-server`
//! processes on free loopback ports, created with `redis-cli --cluster create`. Helpers find
//! the node that owns a key, kill a primary and wait for its replica's promotion, and migrate a
//! slot with its keys. Every wait is bounded; on a failure the panic message carries the tail of
//! every node's log. Everything is killed, reaped and deleted on drop.

mod node;
mod parse;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::binaries;
use crate::process::run_bounded;
use crate::wait::eventually;
use node::{BUS, Node, connect, free_port_pair, query, random, spawn_node, text};
use parse::{NodeLine, info_field, parse_nodes};

/// Bound on one `redis-cli` run (a command, not `--cluster create`).
const CLI_LIMIT: Duration = Duration::from_secs(10);
/// Bound on `redis-cli --cluster create`.
const CREATE_LIMIT: Duration = Duration::from_secs(60);
/// Bound on a new node answering as the process we started.
const NODE_READY_LIMIT: Duration = Duration::from_secs(10);
/// Bound on the cluster becoming healthy, a failover, a slot settling everywhere.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// A primary killed with [`Cluster::kill`]: who could take over from it.
#[derive(Debug)]
struct Killed {
    port: u16,
    id: String,
    replicas: Vec<u16>,
}

/// A running Redis Cluster of six nodes; every process is killed and reaped, and its
/// directories removed, on drop.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    /// Parent of every node's directory.
    dir: PathBuf,
    killed: Vec<Killed>,
}

impl Cluster {
    /// Starts six nodes on free loopback ports, makes them a cluster of 3 primaries with a
    /// replica each, and waits (bounded) until every node reports `cluster_state:ok` with all
    /// 16384 slots assigned and every replica's link to its primary is up.
    pub fn start() -> Cluster {
        static CLUSTERS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rediscache-cluster-{}-{}-{:08x}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed),
            random() as u32
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // Owns every process from here on: a panic below still kills and cleans up.
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
            killed: Vec::new(),
        };
        cluster.start_nodes(6);
        cluster.create();
        if !eventually(SETTLE_LIMIT, || cluster.started()) {
            cluster.fail("the cluster did not become healthy");
        }
        cluster
    }

    /// Spawns `n` nodes at once, then replaces any that did not come up (say, another process
    /// took its port first) with one on another port.
    fn start_nodes(&mut self, n: usize) {
        let mut taken = BTreeSet::new();
        let mut pending = Vec::new();
        for _ in 0..n {
            pending.push(self.spawn_on_free_port(&mut taken));
        }
        for mut node in pending {
            let mut attempts = 1;
            loop {
                if let Some(id) = Self::wait_ready(&mut node) {
                    node.id = id;
                    self.nodes.push(node);
                    break;
                }
                let log = std::fs::read_to_string(node.log()).unwrap_or_default();
                eprintln!(
                    "cluster node on {} did not come up (attempt {attempts}); log:\n{log}",
                    node.port
                );
                node.kill();
                let _ = std::fs::remove_dir_all(&node.dir);
                attempts += 1;
                if attempts > 5 {
                    self.fail("could not start a cluster node");
                }
                node = self.spawn_on_free_port(&mut taken);
            }
        }
        self.nodes.sort_by_key(|n| n.port);
    }

    fn spawn_on_free_port(&self, taken: &mut BTreeSet<u16>) -> Node {
        let port = free_port_pair(taken);
        taken.insert(port);
        taken.insert(port + BUS);
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("node dir");
        Node {
            port,
            child: Some(spawn_node(port, &dir)),
            dir,
            id: String::new(),
        }
    }

    /// Waits until the node answers as the process we started (not some other server that got
    /// the port); its cluster node id, or `None` if it exited or never answered.
    fn wait_ready(node: &mut Node) -> Option<String> {
        let pid = node.child.as_ref()?.id().to_string();
        let deadline = Instant::now() + NODE_READY_LIMIT;
        while Instant::now() < deadline {
            if !matches!(node.child.as_mut()?.try_wait(), Ok(None)) {
                return None;
            }
            let ours = text(node.port, &["INFO", "server"])
                .is_some_and(|info| info_field(&info, "process_id") == Some(pid.as_str()));
            if ours {
                return text(node.port, &["CLUSTER", "MYID"]).map(|id| id.trim().to_owned());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// `redis-cli --cluster create` over all nodes.
    fn create(&self) {
        let mut cmd = binaries::cli();
        cmd.args(["--cluster", "create"]);
        cmd.args(self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        cmd.args(["--cluster-replicas", "1", "--cluster-yes"]);
        match run_bounded(&mut cmd, CREATE_LIMIT) {
            Some(out)
                if out.status.success()
                    && String::from_utf8_lossy(&out.stdout).contains("All 16384 slots covered") => {
            }
            Some(out) => self.fail(&format!(
                "redis-cli --cluster create failed ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            None => self.fail(&format!(
                "redis-cli --cluster create did not finish in {CREATE_LIMIT:?}"
            )),
        }
    }

    /// Healthy, and every node knows all six.
    fn started(&self) -> bool {
        self.healthy()
            && self.live().iter().all(|&p| {
                text(p, &["CLUSTER", "INFO"])
                    .is_some_and(|i| info_field(&i, "cluster_known_nodes") == Some("6"))
            })
            && self.primaries().len() == 3
            && self.replicas().len() == 3
    }

    /// Whether every live node reports `cluster_state:ok` with all 16384 slots assigned and
    /// served (none on a failing node), and every live replica's link to its primary is up.
    pub fn healthy(&self) -> bool {
        let live = self.live();
        !live.is_empty()
            && live.iter().all(|&p| {
                text(p, &["CLUSTER", "INFO"]).is_some_and(|i| {
                    info_field(&i, "cluster_state") == Some("ok")
                        && info_field(&i, "cluster_slots_assigned") == Some("16384")
                        && info_field(&i, "cluster_slots_ok") == Some("16384")
                })
            })
            && self.replicas().iter().all(|&p| {
                text(p, &["INFO", "replication"])
                    .is_some_and(|i| info_field(&i, "master_link_status") == Some("up"))
            })
    }

    /// Panics with `msg` and the tail of every node's log.
    fn fail(&self, msg: &str) -> ! {
        let mut logs = String::new();
        for node in &self.nodes {
            let log = std::fs::read_to_string(node.log()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(25)..];
            logs.push_str(&format!(
                "--- node {} ({}) ---\n{}\n",
                node.port,
                if node.is_live() { "live" } else { "killed" },
                tail.join("\n")
            ));
        }
        panic!("{msg}\n{logs}");
    }

    fn live(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.is_live())
            .map(|n| n.port)
            .collect()
    }

    fn node(&self, port: u16) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no cluster node on port {port}"))
    }

    /// `CLUSTER NODES` as seen by `port` (empty if it does not answer).
    fn view(&self, port: u16) -> Vec<NodeLine> {
        parse_nodes(&text(port, &["CLUSTER", "NODES"]).unwrap_or_default())
    }

    /// What each live node says about itself (its `myself` line).
    fn own_views(&self) -> Vec<NodeLine> {
        self.live()
            .into_iter()
            .filter_map(|p| self.view(p).into_iter().find(|l| l.myself))
            .collect()
    }

    /// `redis://127.0.0.1:P` of every live node (primaries and replicas), by port.
    pub fn urls(&self) -> Vec<String> {
        self.live()
            .into_iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// Ports of every live node, sorted.
    pub fn ports(&self) -> Vec<u16> {
        self.live()
    }

    /// Ports of the live nodes that, by their own account, are primaries serving slots; sorted.
    pub fn primaries(&self) -> Vec<u16> {
        self.own_views()
            .into_iter()
            .filter(|l| l.primary && !l.slots.is_empty())
            .map(|l| l.port)
            .collect()
    }

    /// Ports of the live nodes that, by their own account, are replicas; sorted.
    pub fn replicas(&self) -> Vec<u16> {
        self.own_views()
            .into_iter()
            .filter(|l| !l.primary)
            .map(|l| l.port)
            .collect()
    }

    /// Ports of the live replicas of the primary on `primary`, by their own account; sorted.
    pub fn replicas_of(&self, primary: u16) -> Vec<u16> {
        let id = &self.node(primary).id;
        self.own_views()
            .into_iter()
            .filter(|l| !l.primary && l.primary_id.as_ref() == Some(id))
            .map(|l| l.port)
            .collect()
    }

    /// Runs `redis-cli` against the node on `port` (bounded); its stdout, or `None` if it did
    /// not run, timed out or exited non-zero. As with `RedisServer::cli`, an error reply is
    /// output (`ERR …`, `MOVED …`), not `None`: redis-cli 7 exits 0 on it.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        self.run_cli(port, false, args)
    }

    /// As [`cli`](Self::cli) in cluster mode (`redis-cli -c`): follows `MOVED`/`ASK` redirects
    /// to the node that serves the key.
    pub fn cli_cluster(&self, port: u16, args: &[&str]) -> Option<String> {
        self.run_cli(port, true, args)
    }

    fn run_cli(&self, port: u16, cluster_mode: bool, args: &[&str]) -> Option<String> {
        let mut cmd = binaries::cli();
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        if cluster_mode {
            cmd.arg("-c");
        }
        let out = run_bounded(cmd.args(args), CLI_LIMIT)?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Every key matching `pattern` on the live primaries (`SCAN`), sorted, deduplicated.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys = BTreeSet::new();
        for port in self.primaries() {
            let mut conn = connect(port).expect("connects to a primary");
            let found: Vec<String> = redis::cmd("SCAN")
                .cursor_arg(0)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .clone()
                .iter(&mut conn)
                .expect("SCAN")
                .collect::<Result<_, _>>()
                .expect("SCAN");
            keys.extend(found);
        }
        keys.into_iter().collect()
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`).
    pub fn keyslot(&self, key: &str) -> u16 {
        let port = *self.live().first().expect("a live node");
        query(port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).expect("CLUSTER KEYSLOT")
    }

    /// The port of the live primary that serves `slot`, by its own account. Waits (bounded)
    /// while no node or more than one claims it, as briefly during a failover.
    pub fn primary_for_slot(&self, slot: u16) -> u16 {
        let mut owner = None;
        let settled = eventually(SETTLE_LIMIT, || {
            let owners: Vec<u16> = self
                .own_views()
                .into_iter()
                .filter(|l| l.primary && l.serves(slot))
                .map(|l| l.port)
                .collect();
            owner = (owners.len() == 1).then(|| owners[0]);
            owner.is_some()
        });
        match owner {
            Some(port) if settled => port,
            _ => self.fail(&format!("no single primary serves slot {slot}")),
        }
    }

    /// The port of the live primary that serves `key` (`CLUSTER KEYSLOT`, then `CLUSTER NODES`).
    pub fn primary_for_key(&self, key: &str) -> u16 {
        self.primary_for_slot(self.keyslot(key))
    }

    /// The text of one node's log file.
    pub fn log_text(&self, port: u16) -> String {
        std::fs::read_to_string(self.node(port).log()).unwrap_or_default()
    }

    /// Kills the node on `port` with SIGKILL and reaps it. It stays dead; [`urls`](Self::urls)
    /// and the other helpers leave it out from now on.
    pub fn kill(&mut self, port: u16) {
        let id = self.node(port).id.clone();
        let replicas = self.replicas_of(port);
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node on that port");
        assert!(node.is_live(), "node {port} was already killed");
        node.kill();
        self.killed.push(Killed { port, id, replicas });
    }

    /// After [`kill`](Self::kill)ing the primary on `killed`, waits (bounded) until one of its
    /// replicas has been promoted and serves its slots, no survivor still sees `killed` as a
    /// primary serving slots, and every survivor reports `cluster_state:ok` with all slots ok.
    /// Returns the promoted replica's port.
    pub fn wait_failover(&self, killed: u16) -> u16 {
        let gone = self
            .killed
            .iter()
            .find(|k| k.port == killed)
            .unwrap_or_else(|| panic!("node {killed} was not killed"));
        assert!(
            !gone.replicas.is_empty(),
            "node {killed} had no replica when killed (was it a primary?)"
        );
        let mut promoted = None;
        let done = eventually(SETTLE_LIMIT, || {
            let own = self.own_views();
            promoted = own
                .iter()
                .find(|l| gone.replicas.contains(&l.port) && l.primary && !l.slots.is_empty())
                .map(|l| l.port);
            // Every survivor has marked it failed and moved its slots away.
            let written_off = |l: &NodeLine| l.failed && l.slots.is_empty();
            promoted.is_some()
                && self.live().into_iter().all(|p| {
                    self.view(p)
                        .iter()
                        .all(|l| l.id != gone.id || written_off(l))
                })
                && self.healthy()
        });
        match promoted {
            Some(port) if done => port,
            _ => self.fail(&format!("no failover after killing {killed}")),
        }
    }

    /// Moves `slot`, with its keys, from the primary that serves it to the primary on `to`:
    /// `CLUSTER SETSLOT … IMPORTING` on `to`, `… MIGRATING` on the owner, `MIGRATE` of its keys
    /// in batches of `CLUSTER GETKEYSINSLOT`, then `CLUSTER SETSLOT … NODE` on every primary
    /// (`to` first, the old owner next). Waits (bounded) until every live node sees `to` as
    /// its owner.
    pub fn migrate_slot(&self, slot: u16, to: u16) {
        let from = self.primary_for_slot(slot);
        if from == to {
            return;
        }
        assert!(
            self.primaries().contains(&to),
            "{to} is not a primary serving slots"
        );
        let (from_id, to_id) = (self.node(from).id.clone(), self.node(to).id.clone());
        let setslot = |port: u16, state: &str, id: &str| {
            let cmd = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(state)
                .arg(id)
                .clone();
            if let Err(e) = query::<()>(port, &cmd) {
                self.fail(&format!(
                    "CLUSTER SETSLOT {slot} {state} {id} on {port}: {e}"
                ));
            }
        };
        setslot(to, "IMPORTING", &from_id);
        setslot(from, "MIGRATING", &to_id);
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let keys: Vec<Vec<u8>> = query(
                from,
                redis::cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(slot)
                    .arg(100),
            )
            .unwrap_or_else(|e| self.fail(&format!("GETKEYSINSLOT on {from}: {e}")));
            if keys.is_empty() {
                break;
            }
            let migrated: redis::RedisResult<String> = query(
                from,
                redis::cmd("MIGRATE")
                    .arg("127.0.0.1")
                    .arg(to)
                    .arg("")
                    .arg(0)
                    .arg(5000)
                    .arg("REPLACE")
                    .arg("KEYS")
                    .arg(&keys),
            );
            if let Err(e) = migrated {
                if Instant::now() >= deadline {
                    self.fail(&format!("MIGRATE of slot {slot} from {from} to {to}: {e}"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let mut order = vec![to, from];
        order.extend(
            self.primaries()
                .into_iter()
                .filter(|p| *p != to && *p != from),
        );
        for port in order {
            setslot(port, "NODE", &to_id);
        }
        let settled = eventually(SETTLE_LIMIT, || {
            self.live().into_iter().all(|p| {
                let view = self.view(p);
                view.iter()
                    .filter(|l| l.primary && !l.failed && l.serves(slot))
                    .map(|l| l.port)
                    .eq([to])
            })
        });
        if !settled {
            self.fail(&format!("slot {slot} did not settle on {to}"));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
