use std::sync::LazyLock;

use rediscache::{RedisCache, cache};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

#[derive(Clone)]
struct Conn;

#[cache(
    cache = CACHE,
    refresh = "250ms",
    expire = "1m30s",
    retry = "5s",
    default = vec![0],
    wait = false,
    skip(conn, verbose),
    name = "every_option_sync",
)]
fn sync_every(conn: Conn, id: u64, verbose: bool) -> Vec<u64> {
    let _ = (conn, verbose);
    vec![id]
}

#[cache(
    cache = CACHE,
    refresh = "10s",
    expire = "2h",
    retry = "1m",
    default = String::from("pending"),
    wait = true,
    skip(conn),
    name = "every_option_async",
)]
async fn async_every(conn: Conn, id: u64) -> String {
    let _ = conn;
    id.to_string()
}

#[allow(dead_code)]
async fn use_them() {
    let _: Vec<u64> = sync_every(Conn, 1, true);
    let _: String = async_every(Conn, 1).await;
}

fn main() {}
