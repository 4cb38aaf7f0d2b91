// `self: Arc<Self>`: a background refresh owns a clone of the `Arc`, so `Self` need not be
// `Clone`. Runs against a disabled cache.

use std::sync::{Arc, LazyLock, Mutex};

use rediscache::{Error, RedisCache, cache, methods};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

// Not `Clone`.
struct Service {
    calls: Mutex<u64>,
}

#[methods]
impl Service {
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn lookup(self: Arc<Self>, id: u64) -> u64 {
        *self.calls.lock().expect("not poisoned") += 1;
        id
    }

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    fn lookup_sync(self: Arc<Self>, id: u64) -> u64 {
        id
    }
}

async fn use_them() -> Result<(), Error> {
    let service = Arc::new(Service {
        calls: Mutex::new(0),
    });
    assert_eq!(Arc::clone(&service).lookup(3).await, 3);
    assert_eq!(Arc::clone(&service).lookup_uncached(3).await, 3);
    assert_eq!(Arc::clone(&service).lookup_refresh(3).await, 3);
    Arc::clone(&service).lookup_invalidate(3).await?;
    Arc::clone(&service).lookup_set(&1, 3).await?;
    assert!(Arc::clone(&service).lookup_get(3).await?.is_none());
    Service::lookup_invalidate_all().await?;
    assert_eq!(*service.calls.lock().expect("not poisoned"), 3);
    assert_eq!(Arc::clone(&service).lookup_sync(4), 4);
    Service::lookup_sync_expire_all()?;
    Ok(())
}

#[tokio::main]
async fn main() {
    use_them().await.expect("a disabled cache never fails");
}
