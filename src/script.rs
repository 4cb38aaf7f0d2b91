//! The server-side scripts. `redis::Script` sends `EVALSHA` and reloads a script on `NOSCRIPT`
//! (after a restart or `SCRIPT FLUSH`) by itself.

use std::sync::LazyLock;

use redis::Script;

/// Stores a computed entry, releases the lease if the caller still holds it (or if it only marks
/// an earlier failure, which a value supersedes), and wakes waiters.
///
/// KEYS: value, lease. ARGV: entry, expire in ms, lease token, channel, failure marker.
pub(crate) static STORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local holder = redis.pcall('GET', KEYS[2])
if holder == ARGV[3] or holder == ARGV[5] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], '1')
return 1
",
    )
});

/// Takes the recompute lease if nobody holds it. A lease key that no lease of ours could be
/// (another type, or without a TTL) is garbage: it is removed first, so it cannot block
/// refreshes forever.
///
/// KEYS: lease. ARGV: token, retry in ms, failure marker.
/// Returns 1 when taken, 2 when held by a failed computation, 0 when held by a running one.
pub(crate) static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'none' and (t ~= 'string' or redis.call('PTTL', KEYS[1]) == -1) then redis.call('DEL', KEYS[1]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[3] then return 2 end
return 0
",
    )
});

/// Marks a failed computation: if the caller still holds the lease, its value becomes
/// [`FAILED`] for the rest of its time, so background refreshes keep backing off until `retry`
/// while callers that wait for a value see at once that none is coming; then wakes waiters.
///
/// KEYS: lease. ARGV: lease token, channel, marker.
pub(crate) static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.pcall('GET', KEYS[1])
if holder == ARGV[1] then redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL') end
redis.call('PUBLISH', ARGV[2], '0')
return 1
",
    )
});

/// The lease value left by a failed computation.
pub(crate) const FAILED: &str = "!failed";

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
