//! The server-side scripts. `redis::Script` sends `EVALSHA` and reloads a script on `NOSCRIPT`
//! (after a restart or `SCRIPT FLUSH`) by itself.

use std::sync::LazyLock;

use redis::Script;

/// Whether a computation of a key was overtaken by an invalidation of that key, and then its
/// store is refused: the key's invalidation count (`KEYS[3]`, 0 when missing) must still be the
/// one the computation read when it started (`ARGV[6]`; `''`: unknown, refused after any
/// invalidation; `'*'`: a value set by hand, never refused). A refused store releases the
/// caller's lease and wakes waiters, who then compute for themselves.
const OVERTAKEN: &str = r"
local function overtaken()
  if ARGV[6] == '*' then return false end
  local inv = redis.pcall('GET', KEYS[3])
  if type(inv) ~= 'string' then inv = '0' end
  if ARGV[6] == '' then return inv ~= '0' end
  return inv ~= ARGV[6]
end
local function refuse()
  if redis.pcall('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
  redis.call('PUBLISH', ARGV[4], '0')
  return 2
end
";

/// Entries of format 1 and 2 (`rc1\0`, `rc2\0`) alike: their write time sits in bytes 5 to 12,
/// big-endian, so comparing those bytes as strings compares times; format 2 carries the
/// function's generation in bytes 13 to 20 (format 1: generation 0).
const ENTRIES: &str = r"
local function is_entry(e)
  return type(e) == 'string' and string.sub(e, 1, 2) == 'rc' and string.sub(e, 4, 4) == '\0'
end
local function generation(e)
  if string.sub(e, 3, 3) == '2' then return string.sub(e, 13, 20) end
  return '\0\0\0\0\0\0\0\0'
end
";

fn script(parts: &[&str]) -> Script {
    Script::new(&parts.concat())
}

/// Stores a computed entry unless an invalidation overtook its computation, releases the lease
/// if the caller still holds it (or if it only marks an earlier failure, which a value
/// supersedes), and wakes waiters.
///
/// KEYS: value, lease, invalidations. ARGV: entry, expire in ms, lease token, channel, failure
/// marker, invalidation count at the start. Returns 1 when stored, 2 when refused.
pub(crate) static STORE: LazyLock<Script> = LazyLock::new(|| {
    script(&[
        OVERTAKEN,
        r"
if overtaken() then return refuse() end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local holder = redis.pcall('GET', KEYS[2])
if holder == ARGV[3] or holder == ARGV[5] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], '1')
return 1
",
    ])
});

/// Stores an entry again after Redis did not take it the first time (it was unreachable for a
/// moment), unless an invalidation overtook it or something newer is there: it stores while
/// the caller's lease still holds; with no lease (Redis restarted or was flushed, or the first
/// attempt landed after all) or one marked failed, only over a missing entry, a foreign value,
/// or an entry written earlier. Another caller's lease means its value is coming: nothing is
/// written. Wakes waiters when it stores.
///
/// KEYS and ARGV: as [`STORE`]. Returns 1 when stored, 0 when something newer holds the
/// entry, 2 when refused.
pub(crate) static STORE_LATE: LazyLock<Script> = LazyLock::new(|| {
    script(&[
        OVERTAKEN,
        ENTRIES,
        r"
if overtaken() then return refuse() end
local holder = redis.pcall('GET', KEYS[2])
if type(holder) ~= 'string' then holder = false end
if holder and holder ~= ARGV[3] and holder ~= ARGV[5] then return 0 end
if holder ~= ARGV[3] then
  local current = redis.pcall('GET', KEYS[1])
  if is_entry(current) and string.sub(current, 5, 12) >= string.sub(ARGV[1], 5, 12) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if holder then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], '1')
return 1
",
    ])
});

/// Takes the recompute lease if nobody holds it and the entry is not fresh. A lease key that no
/// lease of ours could be (another type, or without a TTL) is garbage: it is removed first, so
/// it cannot block refreshes forever. Also returns the key's invalidation count, which the
/// computation's store must find unchanged.
///
/// The freshness check closes a race: a stale hit whose `GET` was answered just before a
/// refresh landed would otherwise find the lease free (the store released it) and recompute
/// at once. So the caller passes the header of an entry written at `now - refresh` under the
/// generation entries must have reached ([`codec::header`](crate::codec::header)); an entry
/// written later, under that generation or a newer one, is fresh.
///
/// KEYS: lease, value, invalidations. ARGV: token, lease life in ms, failure marker, freshness
/// header. Returns `{status, invalidations}`: status 1 when taken, 2 when held by a failed
/// computation, 0 when held by a running one, 3 when the entry is fresh (nothing taken).
pub(crate) static LEASE: LazyLock<Script> = LazyLock::new(|| {
    script(&[
        ENTRIES,
        r"
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'none' and (t ~= 'string' or redis.call('PTTL', KEYS[1]) == -1) then redis.call('DEL', KEYS[1]) end
local inv = redis.pcall('GET', KEYS[3])
if type(inv) ~= 'string' then inv = '0' end
local current = redis.pcall('GET', KEYS[2])
if is_entry(current) and string.sub(current, 5, 12) > string.sub(ARGV[4], 5, 12)
  and generation(current) >= string.sub(ARGV[4], 13, 20) then return {3, inv} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, inv} end
if redis.call('GET', KEYS[1]) == ARGV[3] then return {2, inv} end
return {0, inv}
",
    ])
});

/// Removes an entry and its lease, counts an invalidation of the key (kept `ARGV[1]` ms, longer
/// than any computation it must overtake), and wakes waiters, who compute for themselves.
///
/// KEYS: value, lease, invalidations. ARGV: how long the count is kept in ms, channel.
pub(crate) static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1], KEYS[2])
local n = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], '0')
return n
",
    )
});

/// Starts a new generation of a function (`hard`: its entries are misses; `soft`: stale): the
/// field becomes the larger of its old value plus one and the server's clock in ms, so it only
/// grows, even after the hash was lost; then tells every process.
///
/// KEYS: generations hash. ARGV: function name, `hard` or `soft`, channel. Returns the new value.
pub(crate) static BUMP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local field = ARGV[1] .. '@' .. ARGV[2]
local old = tonumber(redis.pcall('HGET', KEYS[1], field)) or 0
local new = math.max(old + 1, now)
redis.call('HSET', KEYS[1], field, string.format('%d', new))
redis.call('PUBLISH', ARGV[3], ARGV[1])
return new
",
    )
});

/// Marks a failed computation: if the caller still holds the lease, its value becomes
/// [`FAILED`] for what is left of `retry`, so background refreshes keep backing off until then
/// while callers that wait for a value see at once that none is coming; then wakes waiters.
///
/// KEYS: lease. ARGV: lease token, channel, marker, ms left of `retry`.
pub(crate) static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.pcall('GET', KEYS[1])
if holder == ARGV[1] then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) end
redis.call('PUBLISH', ARGV[2], '0')
return 1
",
    )
});

/// Extends the caller's lease, if it still holds it: a live holder renews, so a dead one's
/// lease is gone within its short life (see `backend/lease.rs`).
///
/// KEYS: lease. ARGV: lease token, new life in ms. Returns 1 when renewed.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.pcall('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
",
    )
});

/// What a waiter needs to know in one step: the entry if it is there; else 1 while the lease
/// is held by a computation, 2 when it is marked failed, 0 when it is free (its holder died
/// or gave up).
///
/// KEYS: value, lease. ARGV: failure marker.
pub(crate) static PROBE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local entry = redis.pcall('GET', KEYS[1])
if type(entry) == 'string' then return entry end
local holder = redis.pcall('GET', KEYS[2])
if type(holder) ~= 'string' then return 0 end
if holder == ARGV[1] then return 2 end
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

    use crate::codec::{self, Stamp};
    use testkit::RedisServer;

    fn at(written: u64) -> Stamp {
        Stamp {
            written,
            generation: 0,
        }
    }

    /// Runs [`STORE_LATE`] for an entry written at `written` by `token`; returns what it did.
    fn store_late(conn: &mut redis::Connection, written: u64, token: &str) -> i64 {
        let entry = codec::encode(&format!("from {written}"), at(written)).expect("encodes");
        STORE_LATE
            .key("v")
            .key("l")
            .key("i")
            .arg(entry)
            .arg(60_000)
            .arg(token)
            .arg("done")
            .arg(FAILED)
            .arg("0")
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
        let newer = codec::encode(&"newer".to_string(), at(2_000)).expect("encodes");

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
        lease_from(conn, token, fresh_after, 0)
    }

    /// Runs [`LEASE`], entries written after `fresh_after` under generation `generation` or a
    /// newer one counting as fresh; returns the status.
    fn lease_from(
        conn: &mut redis::Connection,
        token: &str,
        fresh_after: u64,
        generation: u64,
    ) -> i64 {
        let fresh = codec::header(Stamp {
            written: fresh_after,
            generation,
        });
        LEASE
            .key("l")
            .key("v")
            .key("i")
            .arg(token)
            .arg(60_000)
            .arg(FAILED)
            .arg(&fresh[..])
            .invoke::<(i64, String)>(conn)
            .map(|(status, _)| status)
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
        let entry = codec::encode(&7u8, at(5_000)).expect("encodes");
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

    /// Runs [`STORE`] of an entry with the invalidation count `version`; returns what it did.
    fn store(conn: &mut redis::Connection, version: &str) -> i64 {
        let entry = codec::encode(&"v".to_string(), at(1)).expect("encodes");
        STORE
            .key("v")
            .key("l")
            .key("i")
            .arg(entry)
            .arg(60_000)
            .arg("mine")
            .arg("done")
            .arg(FAILED)
            .arg(version)
            .invoke(conn)
            .expect("script runs")
    }

    fn invalidate(conn: &mut redis::Connection) -> i64 {
        INVALIDATE
            .key("v")
            .key("l")
            .key("i")
            .arg(60_000)
            .arg("done")
            .invoke(conn)
            .expect("script runs")
    }

    #[test]
    fn a_store_overtaken_by_an_invalidation_is_refused() {
        let server = RedisServer::start();
        let conn = &mut server.conn();
        // No invalidation yet: the count reads 0 and the store lands.
        assert_eq!(store(conn, "0"), 1);
        assert!(exists(conn, "v"));
        // An invalidation removes the entry and the lease and counts itself.
        set(conn, "l", b"mine");
        assert_eq!(invalidate(conn), 1);
        assert!(!exists(conn, "v") && !exists(conn, "l"));
        let ttl: i64 = redis::cmd("PTTL").arg("i").query(conn).expect("PTTL");
        assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
        // A computation that started before it (count 0) or from an unknown count: refused,
        // and its lease released.
        set(conn, "l", b"mine");
        assert_eq!(store(conn, "0"), 2);
        assert!(!exists(conn, "v") && !exists(conn, "l"));
        assert_eq!(store(conn, ""), 2);
        assert!(!exists(conn, "v"));
        // One that started after it: stored. A value set by hand: always.
        assert_eq!(store(conn, "1"), 1);
        redis::cmd("DEL").arg("v").exec(conn).expect("DEL");
        assert_eq!(store(conn, "*"), 1);
        // The late store obeys it too.
        assert_eq!(invalidate(conn), 2);
        assert_eq!(store_late(conn, 5_000, "mine"), 2, "count 0, overtaken");
        assert!(!exists(conn, "v"));
    }

    #[test]
    fn an_entry_from_an_older_generation_is_never_fresh() {
        let server = RedisServer::start();
        let conn = &mut server.conn();
        let entry = codec::encode(
            &7u8,
            Stamp {
                written: 5_000,
                generation: 10,
            },
        )
        .expect("encodes");
        set(conn, "v", &entry);
        assert_eq!(
            lease_from(conn, "a", 4_999, 10),
            3,
            "recent, same generation: fresh"
        );
        assert_eq!(holder(conn), None);
        assert_eq!(
            lease_from(conn, "a", 4_999, 11),
            1,
            "recent, older generation: taken"
        );
        redis::cmd("DEL").arg("l").exec(conn).expect("DEL");
        // A format 1 entry is generation 0.
        let mut v1 = b"rc1\0".to_vec();
        v1.extend_from_slice(&5_000u64.to_be_bytes());
        v1.push(7);
        set(conn, "v", &v1);
        assert_eq!(
            lease_from(conn, "a", 4_999, 0),
            3,
            "format 1, recent: fresh"
        );
        assert_eq!(
            lease_from(conn, "a", 4_999, 1),
            1,
            "format 1 after expire_all: taken"
        );
    }

    #[test]
    fn a_generation_only_grows_and_follows_the_server_clock() {
        let server = RedisServer::start();
        let conn = &mut server.conn();
        let bump = |conn: &mut redis::Connection| -> u64 {
            BUMP.key("g")
                .arg("app::f")
                .arg("hard")
                .arg("gens")
                .invoke(conn)
                .expect("script runs")
        };
        let (first, second) = (bump(conn), bump(conn));
        let (secs, _): (u64, u64) = redis::cmd("TIME").query(conn).expect("TIME");
        assert!(
            first / 1000 <= secs && first / 1000 + 60 > secs,
            "{first} ~ {secs} s"
        );
        assert!(second > first);
        // Lost (FLUSHALL) and bumped again: from the clock, so not below the first (within the
        // same millisecond it may repeat the second; processes never lower what they hold).
        redis::cmd("DEL").arg("g").exec(conn).expect("DEL");
        let third = bump(conn);
        assert!(third >= first, "{third} < {first}");
        let field: u64 = redis::cmd("HGET")
            .arg("g")
            .arg("app::f@hard")
            .query(conn)
            .expect("HGET");
        assert_eq!(field, third);
    }
}
