// `#[rediscache::methods]` on an inherent impl: `&self` methods, async and sync, with their
// companions as methods and `NAME_invalidate_all` / `NAME_expire_all` as associated functions;
// an associated function without a receiver; a method the attribute leaves alone. Runs against a
// disabled cache.

use std::sync::LazyLock;

use rediscache::{Cached, Error, RedisCache, cache, methods};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
}

#[derive(Clone)]
struct UserRepo {
    base: u64,
}

#[methods]
impl UserRepo {
    #[cache(cache = CACHE, refresh = "30s", expire = "10m", wait = true)]
    async fn user(&self, id: u64) -> Result<User, String> {
        Ok(User { id: self.base + id })
    }

    #[rediscache::cache(cache = CACHE, refresh = 10, expire = 60)]
    fn count(&self, label: &str) -> usize {
        label.len() + self.base as usize
    }

    #[cache(cache = CACHE, refresh = 10, expire = 60)]
    pub(crate) fn double(x: u64) -> u64 {
        x * 2
    }

    fn untouched(&self) -> u64 {
        self.base
    }
}

async fn use_them() -> Result<(), Error> {
    let repo = UserRepo { base: 10 };
    assert_eq!(repo.user(7).await, Ok(User { id: 17 }));
    assert_eq!(repo.user_uncached(7).await, Ok(User { id: 17 }));
    assert_eq!(repo.user_refresh(7).await, Ok(User { id: 17 }));
    repo.user_set(&User { id: 1 }, 7).await?;
    let peeked: Option<Cached<User>> = repo.user_get(7).await?;
    assert!(peeked.is_none(), "a disabled cache has nothing");
    repo.user_invalidate(7).await?;
    UserRepo::user_invalidate_all().await?;
    UserRepo::user_expire_all().await?;

    assert_eq!(repo.count("ab"), 12);
    assert_eq!(repo.count_uncached("ab"), 12);
    assert_eq!(repo.count_refresh("ab"), 12);
    repo.count_set(&3, "ab")?;
    assert!(repo.count_get("ab")?.is_none());
    repo.count_invalidate("ab")?;
    UserRepo::count_invalidate_all()?;
    UserRepo::count_expire_all()?;

    assert_eq!(UserRepo::double(2), 4);
    assert_eq!(UserRepo::double_uncached(2), 4);
    UserRepo::double_invalidate(2)?;
    UserRepo::double_invalidate_all()?;
    assert_eq!(repo.untouched(), 10);
    Ok(())
}

#[tokio::main]
async fn main() {
    use_them().await.expect("a disabled cache never fails");
}
