//! The server-side scripts. `redis::Script` sends `EVALSHA` and reloads a script on `NOSCRIPT`
//! (after a restart or `SCRIPT FLUSH`) by itself.

use std::sync::LazyLock;

use redis::Script;

/// Stores a computed entry, releases the lease if the caller still holds it, and wakes waiters.
///
/// KEYS: value, lease. ARGV: entry, expire in ms, lease token, channel.
pub(crate) static STORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local holder = redis.pcall('GET', KEYS[2])
if holder == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], '1')
return 1
",
    )
});

/// Gives up a computation that stored nothing: releases the lease if the caller still holds it,
/// and tells waiters to stop waiting.
///
/// KEYS: lease. ARGV: lease token, channel.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.pcall('GET', KEYS[1])
if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], '0')
return 1
",
    )
});

/// Reads the stats hash and deletes it in one step, so no count is read twice or lost.
///
/// KEYS: stats hash.
pub(crate) static TAKE_STATS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return fields
",
    )
});
