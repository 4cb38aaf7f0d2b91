//! Which programs the helpers run: `redis-server` and `redis-cli` from `PATH`, or the ones
//! that `REDISCACHE_TEST_SERVER` and `REDISCACHE_TEST_CLI` name (a Valkey build, say).

use std::process::{Child, Command};

/// The variable naming the server program (default `redis-server`), for single servers,
/// cluster nodes, sentinels (`--sentinel`) and TLS servers alike.
pub const SERVER_ENV: &str = "REDISCACHE_TEST_SERVER";
/// The variable naming the command-line client (default `redis-cli`), which the helpers use to
/// probe servers and to create clusters (`--cluster create`).
pub const CLI_ENV: &str = "REDISCACHE_TEST_CLI";

fn program(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The server program: `$REDISCACHE_TEST_SERVER`, or `redis-server`.
pub fn server_program() -> String {
    program(SERVER_ENV, "redis-server")
}

/// The client program: `$REDISCACHE_TEST_CLI`, or `redis-cli`.
pub fn cli_program() -> String {
    program(CLI_ENV, "redis-cli")
}

/// A command that runs the server program.
pub(crate) fn server() -> Command {
    Command::new(server_program())
}

/// A command that runs the client program.
pub(crate) fn cli() -> Command {
    Command::new(cli_program())
}

/// Spawns a server command, or panics saying which program could not run and how to change it.
pub(crate) fn spawn_server(cmd: &mut Command) -> Child {
    cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run {:?}: {e} (scripts/test installs redis-server; {SERVER_ENV} names another \
             server program)",
            cmd.get_program()
        )
    })
}
