// Regression: the expansion declared `static OPTIONS` inside the cached function, so a user's
// module-level `OPTIONS` named in `cache = ..` or `default = ..` silently became the macro's.
// The user's static stays theirs in the options and in the body. Runs against a disabled cache.

use std::sync::LazyLock;

use rediscache::{RedisCache, cache};

static OPTIONS: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

#[cache(
    cache = OPTIONS,
    refresh = 10,
    expire = 60,
    default = if OPTIONS.is_enabled() { 1 } else { 2 },
)]
fn sync_options(x: u64) -> u64 {
    if OPTIONS.is_enabled() { 0 } else { x }
}

#[cache(
    cache = OPTIONS,
    refresh = 10,
    expire = 60,
    default = if OPTIONS.is_enabled() { 1 } else { 2 },
)]
async fn async_options(x: u64) -> u64 {
    if OPTIONS.is_enabled() { 0 } else { x }
}

#[tokio::main]
async fn main() {
    assert_eq!(sync_options(7), 7);
    assert_eq!(sync_options_uncached(7), 7);
    sync_options_invalidate(7).expect("a disabled cache invalidates nothing");
    assert_eq!(async_options(7).await, 7);
    assert_eq!(async_options_uncached(7).await, 7);
    async_options_invalidate(7)
        .await
        .expect("a disabled cache invalidates nothing");
}
