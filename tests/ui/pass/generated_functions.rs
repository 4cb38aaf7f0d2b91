use rediscache::cache;

#[cache(refresh = 10, expire = 60)]
pub fn lookup(id: u64, label: &str) -> String {
    format!("{id}:{label}")
}

#[cache(refresh = 10, expire = 60)]
pub async fn lookup_async(id: u64, label: &str) -> String {
    format!("{id}:{label}")
}

mod inner {
    use rediscache::cache;

    #[cache(refresh = 10, expire = 60)]
    pub(crate) fn visible(x: u64) -> u64 {
        x
    }
}

#[allow(dead_code)]
async fn use_them() -> Result<(), rediscache::Error> {
    let _: String = lookup(1, "a");
    let _: String = lookup_uncached(1, "a");
    lookup_invalidate(1, "a")?;

    let _: String = lookup_async(1, "a").await;
    let _: String = lookup_async_uncached(1, "a").await;
    lookup_async_invalidate(1, "a").await?;

    let _: u64 = inner::visible(1);
    let _: u64 = inner::visible_uncached(1);
    inner::visible_invalidate(1)?;
    Ok(())
}

fn main() {
    // Referenced, not called: nothing here may reach Redis.
    let _ = lookup_uncached;
    let _ = lookup_invalidate;
    let _ = lookup_async_uncached;
    let _ = lookup_async_invalidate;
}
