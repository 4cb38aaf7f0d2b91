// An invalid option on a method of a trait impl: one error, and the companions (in their
// inherent impl) still exist for the code that calls them.

use rediscache::{cache, methods};

trait Store {
    async fn load(&self, id: u64) -> u64;
}

#[derive(Clone)]
struct Pg;

#[methods]
impl Store for Pg {
    #[cache(refresh = 10, expire = 60, ttl = 5)]
    async fn load(&self, id: u64) -> u64 {
        id
    }
}

async fn use_them() -> Result<(), rediscache::Error> {
    let _: u64 = Pg.load(1).await;
    let _: u64 = Pg.load_uncached(1).await;
    let _: u64 = Pg.load_refresh(1).await;
    Pg.load_set(&1, 1).await?;
    let _: Option<rediscache::Cached<u64>> = Pg.load_get(1).await?;
    Pg.load_invalidate(1).await?;
    Pg::load_invalidate_all().await?;
    Pg::load_expire_all().await
}

fn main() {
    let _ = use_them();
}
