// With `#[async_trait]`, `#[rediscache::methods]` goes above it: it sees the `async fn`, writes
// the cached method for `#[async_trait]` to box, and puts the companions in an inherent impl
// `#[async_trait]` never sees. Runs against a disabled cache.

use std::sync::LazyLock;

use async_trait::async_trait;
use rediscache::{Error, RedisCache, cache, methods};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

#[async_trait]
trait Store: Send + Sync {
    async fn load(&self, id: u64) -> u64;
}

#[derive(Clone)]
struct Pg {
    offset: u64,
}

#[methods]
#[async_trait]
impl Store for Pg {
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn load(&self, id: u64) -> u64 {
        id + self.offset
    }
}

async fn use_them() -> Result<(), Error> {
    let store: Box<dyn Store> = Box::new(Pg { offset: 1 });
    assert_eq!(store.load(1).await, 2);
    let pg = Pg { offset: 1 };
    assert_eq!(pg.load_uncached(1).await, 2);
    pg.load_invalidate(1).await?;
    Pg::load_invalidate_all().await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    use_them().await.expect("a disabled cache never fails");
}
