//! A test that runs another test of its own binary in a child process: another process for
//! real, with its own connections, flights and counters, that reports on a `RESULT` line.

use std::process::Command;

/// Variables that configure a default `RedisCache`; a child starts without them, so it sees only
/// what the parent passes.
const CACHE_ENV: [&str; 5] = [
    "REDIS_URL",
    "REDIS_SERVICE_HOST",
    "REDIS_SERVICE_PORT",
    "REDIS_SERVICE_DB",
    "REDIS_SERVICE_PASSWORD",
];

/// Runs one `#[ignore]`d test of this test binary in a child process with `env`, and returns its
/// stdout. Panics, with the child's output, if it fails.
pub fn run_child(test: &str, env: &[(&str, String)]) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in CACHE_ENV {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("child test runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value of `name=` on the child's `RESULT` line (`RESULT a=1 b=two`).
pub fn child_field<'a>(stdout: &'a str, name: &str) -> &'a str {
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{stdout}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_field_reads_the_result_line() {
        let out = "running 1 test\nRESULT ok=1 value=40 name=a_b\ntest ... ok\n";
        assert_eq!(child_field(out, "ok"), "1");
        assert_eq!(child_field(out, "value"), "40");
        assert_eq!(child_field(out, "name"), "a_b");
    }

    #[test]
    #[should_panic(expected = "no missing in")]
    fn a_missing_field_says_so() {
        child_field("RESULT ok=1", "missing");
    }
}
