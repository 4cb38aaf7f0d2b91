// `key_self = EXPR` puts an expression over `self` first in the key (per-tenant entries), in the
// call and in every companion that takes the arguments; it may read fields and call methods,
// and the `Function` handle of the same name takes it as its first argument. Runs against a
// disabled cache.

use std::sync::LazyLock;

use rediscache::{Error, Function, RedisCache, cache, methods};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

#[derive(Clone)]
struct Tenant {
    name: String,
    region: u8,
}

impl Tenant {
    fn region(&self) -> u8 {
        self.region
    }
}

#[methods]
impl Tenant {
    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true, key_self = self.name)]
    async fn price(&self, sku: &str) -> u64 {
        sku.len() as u64
    }

    #[cache(cache = CACHE, refresh = 10, expire = 60, wait = true, key_self = (self.name.as_str(), self.region()), name = "app::stock")]
    fn stock(&self, sku: &str) -> u64 {
        sku.len() as u64 + u64::from(self.region)
    }
}

static STOCK: Function = Function::new("app::stock");

async fn use_them() -> Result<(), Error> {
    let t = Tenant {
        name: "acme".into(),
        region: 2,
    };
    assert_eq!(t.price("abc").await, 3);
    t.price_invalidate("abc").await?;
    t.price_set(&1, "abc").await?;
    assert!(t.price_get("abc").await?.is_none());
    assert_eq!(t.stock("abc"), 5);
    t.stock_invalidate("abc")?;
    let by_handle = STOCK.get_blocking::<u64>(&CACHE, (("acme", 2u8), "abc"))?;
    assert!(by_handle.is_none());
    Ok(())
}

#[tokio::main]
async fn main() {
    use_them().await.expect("a disabled cache never fails");
}
