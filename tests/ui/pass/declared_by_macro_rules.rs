// Regression: the expansion named each key argument with an ident rebuilt at its type's span,
// which also took the type's hygiene. In a `macro_rules!` whose caller names the parameters,
// the name and the type come from different contexts, and the rebuilt ident found no parameter.
// Runs against a disabled cache.

use std::sync::LazyLock;

use rediscache::{RedisCache, cache};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

macro_rules! cached {
    ($name:ident, $async_name:ident, $arg:ident, $label:ident) => {
        #[cache(cache = CACHE, refresh = 10, expire = 60)]
        fn $name($arg: u64, $label: &str) -> String {
            format!("{}:{}", $arg, $label)
        }

        #[cache(cache = CACHE, refresh = 10, expire = 60)]
        async fn $async_name($arg: u64, $label: &str) -> String {
            format!("{}:{}", $arg, $label)
        }
    };
}

cached!(by_macro, by_macro_async, id, label);

#[tokio::main]
async fn main() {
    assert_eq!(by_macro(1, "a"), "1:a");
    by_macro_invalidate(1, "a").expect("a disabled cache invalidates nothing");
    assert_eq!(by_macro_async(1, "a").await, "1:a");
    by_macro_async_invalidate(1, "a")
        .await
        .expect("a disabled cache invalidates nothing");
}
