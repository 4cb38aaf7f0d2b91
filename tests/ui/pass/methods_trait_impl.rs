// `#[rediscache::methods]` on a trait impl with native `async fn` in the trait: the cached
// method stays in the trait impl; its companions go in an inherent impl, where `Self::Error`
// still means the trait's associated type and the trait's other methods stay callable although
// the trait is not imported. Runs against a disabled cache.

use std::sync::LazyLock;

use rediscache::{Error, RedisCache, cache, methods};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

mod store {
    pub trait Store {
        type Error;
        async fn load(&self, id: u64) -> Result<u64, Self::Error>;
        fn offset(&self) -> u64;
    }
}

#[derive(Clone)]
struct Pg;

#[methods]
impl store::Store for Pg {
    type Error = String;

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true)]
    async fn load(&self, id: u64) -> Result<u64, Self::Error> {
        Ok(id + self.offset())
    }

    fn offset(&self) -> u64 {
        100
    }
}

async fn through_the_trait(s: &impl store::Store<Error = String>) -> Result<u64, String> {
    s.load(1).await
}

async fn use_them() -> Result<(), Error> {
    assert_eq!(through_the_trait(&Pg).await, Ok(101));
    let uncached: Result<u64, <Pg as store::Store>::Error> = Pg.load_uncached(1).await;
    assert_eq!(uncached, Ok(101));
    assert_eq!(Pg.load_refresh(1).await, Ok(101));
    Pg.load_set(&5, 1).await?;
    assert!(Pg.load_get(1).await?.is_none());
    Pg.load_invalidate(1).await?;
    Pg::load_invalidate_all().await?;
    Pg::load_expire_all().await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    use_them().await.expect("a disabled cache never fails");
}
