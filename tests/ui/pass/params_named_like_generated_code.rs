// Regression: the expansion bound `let key_args` inside the cached function, so a parameter
// named `key_args` was shadowed by the rendered key (a type mismatch, or a use of a moved value
// when the types matched), and a parameter named `NAME_uncached` hid the function `NAME` calls.
// Parameters may be named like anything the expansion uses. Runs against a disabled cache, and
// checks each call got the caller's own values.

use std::sync::LazyLock;

use rediscache::{Error, RedisCache, cache};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

#[cache(cache = CACHE, refresh = 10, expire = 60)]
fn in_key(key_args: u64, cache: u64, make: u64, default: u64, shape: u64, options: u64) -> u64 {
    key_args + cache + make + default + shape + options
}

#[cache(cache = CACHE, refresh = 10, expire = 60)]
async fn in_key_async(key_args: u64, cache: u64, make: u64, default: u64, shape: u64) -> u64 {
    key_args + cache + make + default + shape
}

// Same type as the rendered key, left out of it: the caller's value must still arrive.
#[cache(cache = CACHE, refresh = 10, expire = 60, skip(key_args))]
fn skipped(key_args: Result<String, Error>) -> String {
    key_args.unwrap_or_else(|e| e.to_string())
}

#[cache(cache = CACHE, refresh = 10, expire = 60, skip(key_args))]
async fn skipped_async(key_args: Result<String, Error>) -> String {
    key_args.unwrap_or_else(|e| e.to_string())
}

// A parameter that shadows the companion the cached function calls.
#[cache(cache = CACHE, refresh = 10, expire = 60)]
fn shadow(shadow_uncached: u64) -> u64 {
    shadow_uncached * 2
}

#[cache(cache = CACHE, refresh = 10, expire = 60)]
async fn shadow_async(shadow_async_uncached: &str) -> String {
    shadow_async_uncached.repeat(2)
}

#[tokio::main]
async fn main() {
    assert_eq!(in_key(1, 2, 3, 4, 5, 6), 21);
    in_key_invalidate(1, 2, 3, 4, 5, 6).expect("a disabled cache invalidates nothing");
    assert_eq!(in_key_async(1, 2, 3, 4, 5).await, 15);
    in_key_async_invalidate(1, 2, 3, 4, 5)
        .await
        .expect("a disabled cache invalidates nothing");
    assert_eq!(skipped(Ok("mine".to_owned())), "mine");
    assert_eq!(skipped_async(Ok("mine".to_owned())).await, "mine");
    assert_eq!(shadow(4), 8);
    assert_eq!(shadow_async("ab").await, "abab");
}
