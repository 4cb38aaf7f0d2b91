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

/// Stores an entry again after Redis did not take it the first time (see `store_later` in
/// `call.rs`), unless something newer is there: it stores while the caller's lease still holds;
/// with no lease (Redis restarted or was flushed, or the first attempt landed after all) or one
/// marked failed, only over a missing entry, a foreign value, or an entry written earlier
/// (entries start with the same 4-byte magic, then their write time as 8 big-endian bytes,
/// which compare as strings do). Another caller's lease means its value is coming: nothing is
/// written. Wakes waiters when it stores.
///
/// KEYS: value, lease. ARGV: entry, expire in ms, lease token, channel, failure marker.
/// Returns 1 when stored, 0 when something newer holds the entry.
pub(crate) static STORE_LATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.pcall('GET', KEYS[2])
if type(holder) ~= 'string' then holder = false end
if holder and holder ~= ARGV[3] and holder ~= ARGV[5] then return 0 end
if holder ~= ARGV[3] then
  local current = redis.pcall('GET', KEYS[1])
  if type(current) == 'string' and string.sub(current, 1, 4) == string.sub(ARGV[1], 1, 4)
    and string.sub(current, 5, 12) >= string.sub(ARGV[1], 5, 12) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if holder then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], '1')
return 1
",
    )
});

/// Takes the recompute lease if nobody holds it and the entry is not fresh. A lease key that no
/// lease of ours could be (another type, or without a TTL) is garbage: it is removed first, so
/// it cannot block refreshes forever.
///
/// The freshness check closes a race: a stale hit whose `GET` was answered just before a
/// refresh landed would otherwise find the lease free (the store released it) and recompute
/// at once. So the caller passes the header of an entry written at `now - refresh`
/// ([`codec::header`](crate::codec::header)); an entry written later is fresh.
///
/// KEYS: lease, value. ARGV: token, retry in ms, failure marker, freshness header.
/// Returns 1 when taken, 2 when held by a failed computation, 0 when held by a running one,
/// 3 when the entry is fresh (nothing taken).
pub(crate) static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'none' and (t ~= 'string' or redis.call('PTTL', KEYS[1]) == -1) then redis.call('DEL', KEYS[1]) end
local current = redis.pcall('GET', KEYS[2])
if type(current) == 'string' and string.sub(current, 1, 4) == string.sub(ARGV[4], 1, 4)
  and string.sub(current, 5, 12) > string.sub(ARGV[4], 5, 12) then return 3 end
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::codec;
    use testkit::RedisServer;

    /// Runs [`STORE_LATE`] for an entry written at `written` by `token`; returns what it did.
    fn store_late(conn: &mut redis::Connection, written: u64, token: &str) -> i64 {
        let entry = codec::encode(&format!("from {written}"), written).expect("encodes");
        STORE_LATE
            .key("v")
            .key("l")
            .arg(entry)
            .arg(60_000)
            .arg(token)
            .arg("done")
            .arg(FAILED)
            .invoke(conn)
            .expect("script runs")
    }

    /// The write time of what `v` holds, if it is an entry.
    fn stamp(conn: &mut redis::Connection) -> Option<u64> {
        let v: Option<Vec<u8>> = redis::cmd("GET").arg("v").query(conn).expect("GET");
        v.and_then(|v| codec::written_ms(&v).ok())
    }

    fn set(conn: &mut redis::Connection, key: &str, value: &[u8]) {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query(conn)
            .expect("SET");
    }

    fn exists(conn: &mut redis::Connection, key: &str) -> bool {
        redis::cmd("EXISTS").arg(key).query(conn).expect("EXISTS")
    }

    #[test]
    fn a_late_store_never_replaces_something_newer() {
        let server = RedisServer::start();
        let conn = &mut server.conn();
        let newer = codec::encode(&"newer".to_string(), 2_000).expect("encodes");

        // Our lease still holds: nobody else computed, so it stores and releases the lease.
        set(conn, "l", b"mine");
        assert_eq!(store_late(conn, 1_000, "mine"), 1);
        assert_eq!(stamp(conn), Some(1_000));
        assert!(!exists(conn, "l"), "lease released");

        // The first attempt landed after all: the same entry is there, nothing to do.
        assert_eq!(store_late(conn, 1_000, "mine"), 0);

        // Another caller holds the lease: its value is coming; nothing is written.
        redis::cmd("DEL").arg("v").exec(conn).expect("DEL");
        set(conn, "l", b"theirs");
        assert_eq!(store_late(conn, 1_000, "mine"), 0);
        assert_eq!(stamp(conn), None);

        // No lease, a newer entry (Redis restarted and someone computed since): kept.
        redis::cmd("DEL").arg("l").exec(conn).expect("DEL");
        set(conn, "v", &newer);
        assert_eq!(store_late(conn, 1_000, "mine"), 0);
        assert_eq!(stamp(conn), Some(2_000));

        // No lease, an older entry, a missing one, or garbage: ours replaces it.
        assert_eq!(store_late(conn, 3_000, "mine"), 1);
        assert_eq!(stamp(conn), Some(3_000));
        redis::cmd("DEL").arg("v").exec(conn).expect("DEL");
        assert_eq!(store_late(conn, 1_000, "mine"), 1);
        assert_eq!(stamp(conn), Some(1_000));
        set(conn, "v", b"garbage");
        assert_eq!(store_late(conn, 1_000, "mine"), 1);
        assert_eq!(stamp(conn), Some(1_000));

        // A lease marked failed promises no value: an older entry is replaced, the mark removed.
        set(conn, "l", FAILED.as_bytes());
        assert_eq!(store_late(conn, 4_000, "mine"), 1);
        assert_eq!(stamp(conn), Some(4_000));
        assert!(!exists(conn, "l"), "failure mark removed");
    }

    /// Runs [`LEASE`] for `token`, entries written after `fresh_after` counting as fresh.
    fn lease(conn: &mut redis::Connection, token: &str, fresh_after: u64) -> i64 {
        LEASE
            .key("l")
            .key("v")
            .arg(token)
            .arg(60_000)
            .arg(FAILED)
            .arg(&codec::header(fresh_after)[..])
            .invoke(conn)
            .expect("script runs")
    }

    fn holder(conn: &mut redis::Connection) -> Option<String> {
        redis::cmd("GET").arg("l").query(conn).expect("GET")
    }

    #[test]
    fn the_lease_is_taken_only_when_free_and_the_entry_is_not_fresh() {
        let server = RedisServer::start();
        let conn = &mut server.conn();
        let del = |conn: &mut redis::Connection| {
            redis::cmd("DEL").arg("l").exec(conn).expect("DEL");
        };

        // Nothing there: taken, with its TTL.
        assert_eq!(lease(conn, "a", 1_000), 1);
        assert_eq!(holder(conn).as_deref(), Some("a"));
        let ttl: i64 = redis::cmd("PTTL").arg("l").query(conn).expect("PTTL");
        assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
        // Held by a running computation, or one that failed.
        assert_eq!(lease(conn, "b", 1_000), 0);
        // (A lease has a TTL; one without is garbage and gets removed.)
        redis::cmd("SET")
            .arg("l")
            .arg(FAILED)
            .arg("PX")
            .arg(60_000)
            .exec(conn)
            .expect("SET");
        assert_eq!(lease(conn, "b", 1_000), 2);
        del(conn);

        // A refresh landed after the reader's threshold: fresh, nothing taken.
        let entry = codec::encode(&7u8, 5_000).expect("encodes");
        set(conn, "v", &entry);
        assert_eq!(lease(conn, "a", 4_999), 3);
        assert_eq!(holder(conn), None, "no lease taken for a fresh entry");
        // Written at or before the threshold: stale, so the lease is taken.
        assert_eq!(lease(conn, "a", 5_000), 1);
        del(conn);
        // The miss path asks for no freshness check.
        assert_eq!(lease(conn, "a", u64::MAX), 1);
        del(conn);
        // A foreign value is never fresh.
        set(conn, "v", b"garbage that is long enough");
        assert_eq!(lease(conn, "a", 0), 1);
    }
}
