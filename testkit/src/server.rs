//! A private `redis-server` on a free port, with fault helpers (pause, kill, restart).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binaries;

/// A `redis-server` owned by one test: free port, no persistence, killed and reaped on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// The loopback port it listens on; a [`restart`](Self::restart) keeps it.
    pub port: u16,
    log: PathBuf,
    /// From `--requirepass`, so helpers can still talk to it.
    password: Option<String>,
    /// Extra arguments, for restarts.
    extra: Vec<String>,
}

fn spawn_server(port: u16, log: &std::path::Path, extra: &[String]) -> Child {
    let mut cmd = binaries::server();
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .args(["--logfile", log.to_str().expect("utf-8 temp path")])
    // Its own directory: a replica's full sync writes an RDB file there.
    .args([
        "--dir",
        log.parent()
            .and_then(|d| d.to_str())
            .expect("utf-8 temp dir"),
    ])
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    binaries::spawn_server(&mut cmd)
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{sig} failed");
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

impl RedisServer {
    /// Starts a server and waits (bounded) until it answers `PING`.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let password = extra
            .iter()
            .position(|a| a == "--requirepass")
            .and_then(|i| extra.get(i + 1))
            .cloned();
        // A port can be taken between our probe and the server's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("rediscache-test-{port}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let log = dir.join("redis.log");
            let child = spawn_server(port, &log, &extra);
            let mut server = RedisServer {
                child,
                port,
                log,
                password: password.clone(),
                extra: extra.clone(),
            };
            if server.wait_ready(Duration::from_secs(10)) {
                return server;
            }
            eprintln!(
                "redis-server on {port} did not come up; log:\n{}",
                server.log_text()
            );
        }
        panic!("could not start redis-server");
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        signal(&self.child, "STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        signal(&self.child, "CONT");
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh, empty server on the same port (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.child = spawn_server(self.port, &self.log, &self.extra);
            if self.wait_ready(Duration::from_secs(10)) {
                return;
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            assert!(
                Instant::now() < deadline,
                "could not restart redis-server on {}:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.cli(&["PING"]).is_some_and(|out| out.trim() == "PONG") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The process id of the running server (a new one after a restart).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The text of its log file.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `redis://[:password@]127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Runs `redis-cli` against this server; `None` if it failed.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = binaries::cli()
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(
                self.password
                    .iter()
                    .flat_map(|p| ["--no-auth-warning", "-a", p.as_str()]),
            )
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A direct connection for assertions about what is stored.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("url")
            .get_connection()
            .expect("connects")
    }

    /// How many clients are subscribed to `channel`: a waiter is waiting once it is.
    pub fn subscribers(&self, channel: &str) -> i64 {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut self.conn())
            .expect("PUBSUB");
        n
    }

    /// Every key matching `pattern`, sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut self.conn())
            .expect("KEYS");
        keys.sort();
        keys
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
