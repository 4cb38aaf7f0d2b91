//! [`RedisServer`] itself: it starts on a free port and answers, pauses and resumes, restarts
//! empty on its port, and is killed and reaped on drop.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use rediscache_testkit::{
    RedisServer, SOON, Target, Topo, entries, eventually, lease_of, pttl, server_program,
};

fn ping(server: &RedisServer) -> Option<String> {
    server.cli(&["PING"]).map(|out| out.trim().to_owned())
}

/// Whether a process with this id exists, zombies included (a zombie was not reaped).
fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_server_starts_on_a_free_port_and_answers() {
    let server = RedisServer::start();
    assert_ne!(server.port, 6379, "never the default port");
    assert_eq!(ping(&server).as_deref(), Some("PONG"));
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}/0", server.port));
    assert_eq!(server.target(), Target::Single(server.url()));
    let mut conn = server.conn();
    let keys = [
        "b",
        "a",
        "rediscache:{f(1)}",
        "rediscache:lease{f(1)}",
        "rediscache:inv{f(1)}",
        "rediscache:stats:{0}",
    ];
    for key in keys {
        redis::cmd("SET")
            .arg(key)
            .arg("v")
            .arg("PX")
            .arg(60_000)
            .exec(&mut conn)
            .unwrap();
    }
    assert_eq!(
        server.keys("*"),
        [
            "a",
            "b",
            "rediscache:inv{f(1)}",
            "rediscache:lease{f(1)}",
            "rediscache:stats:{0}",
            "rediscache:{f(1)}"
        ],
        "sorted"
    );
    assert_eq!(entries(&server), ["rediscache:{f(1)}"], "entries only");
    assert_eq!(lease_of("rediscache:{f(1)}"), "rediscache:lease{f(1)}");
    let ttl = pttl(&server, "a");
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    assert_eq!(pttl(&server, "missing"), -2);
    assert_eq!(server.subscribers("some-channel"), 0);
    assert!(
        server.log_text().contains("Ready to accept connections"),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_password_from_requirepass_is_in_its_url_and_its_cli() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    assert_eq!(
        server.url(),
        format!("redis://:s3cret@127.0.0.1:{}/0", server.port)
    );
    assert_eq!(ping(&server).as_deref(), Some("PONG"));
    let _: () = redis::cmd("PING").query(&mut server.conn()).unwrap();
    let anonymous = redis::Client::open(format!("redis://127.0.0.1:{}/0", server.port))
        .unwrap()
        .get_connection()
        .and_then(|mut c| redis::cmd("GET").arg("k").query::<Option<String>>(&mut c));
    assert!(anonymous.is_err(), "the password is required");
}

#[test]
fn a_paused_server_does_not_answer_until_resumed() {
    let server = RedisServer::start();
    let conn = server.conn();
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut conn = conn;
    server.pause();
    let frozen: redis::RedisResult<String> = redis::cmd("PING").query(&mut conn);
    assert!(frozen.is_err(), "no answer while paused: {frozen:?}");
    server.resume();
    assert!(
        eventually(SOON, || ping(&server).as_deref() == Some("PONG")),
        "answers again"
    );
}

#[test]
fn a_restart_after_kill_keeps_the_port_and_starts_empty() {
    let mut server = RedisServer::start();
    let (port, pid) = (server.port, server.pid());
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .exec(&mut server.conn())
        .unwrap();
    server.kill();
    assert!(!exists(pid), "killed and reaped");
    assert_eq!(ping(&server), None, "nothing listens");
    server.restart();
    assert_eq!(server.port, port, "the same port");
    assert_ne!(server.pid(), pid, "a new process");
    assert_eq!(ping(&server).as_deref(), Some("PONG"));
    assert!(server.keys("*").is_empty(), "no persistence: empty");
}

#[test]
fn dropped_it_is_killed_reaped_and_its_port_and_files_are_freed() {
    let server = RedisServer::start();
    let (port, pid) = (server.port, server.pid());
    let dir = std::env::temp_dir().join(format!("rediscache-test-{port}-{}", std::process::id()));
    assert!(dir.join("redis.log").exists(), "its log is in {dir:?}");
    drop(server);
    assert!(!exists(pid), "no process, not even a zombie");
    assert!(!dir.exists(), "its directory is removed");
    TcpListener::bind(("127.0.0.1", port)).expect("its port is free again");
}

/// `REDISCACHE_TEST_SERVER` is what runs: `scripts/test` relies on it to test on Valkey.
#[test]
fn the_server_program_is_the_one_configured() {
    let server = RedisServer::start();
    let info = server.cli(&["INFO", "server"]).expect("INFO");
    let program = server_program();
    let valkey = info.lines().any(|l| l.trim() == "server_name:valkey");
    assert_eq!(
        valkey,
        program.contains("valkey"),
        "{program} runs as:\n{info}"
    );
    assert!(
        info.contains(&format!("process_id:{}", server.pid())),
        "the process we started answers:\n{info}"
    );
}
