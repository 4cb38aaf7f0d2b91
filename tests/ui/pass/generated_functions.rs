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

#[cache(refresh = 10, expire = 60, wait = true)]
pub async fn fallible(id: u64) -> Result<Vec<u8>, std::io::Error> {
    Ok(vec![id as u8])
}

#[allow(dead_code)]
async fn use_them() -> Result<(), rediscache::Error> {
    let _: String = lookup(1, "a");
    let _: String = lookup_uncached(1, "a");
    lookup_invalidate(1, "a")?;
    lookup_invalidate_all()?;
    lookup_expire_all()?;
    let _: String = lookup_refresh(1, "a");
    lookup_set(&"1:a".to_owned(), 1, "a")?;
    let _: Option<rediscache::Cached<String>> = lookup_get(1, "a")?;

    let _: String = lookup_async(1, "a").await;
    let _: String = lookup_async_uncached(1, "a").await;
    lookup_async_invalidate(1, "a").await?;
    lookup_async_invalidate_all().await?;
    lookup_async_expire_all().await?;
    let _: String = lookup_async_refresh(1, "a").await;
    lookup_async_set(&"1:a".to_owned(), 1, "a").await?;
    let _: Option<rediscache::Cached<String>> = lookup_async_get(1, "a").await?;

    // A `Result` function's value is its `Ok` type.
    let _: Result<Vec<u8>, std::io::Error> = fallible_refresh(1).await;
    fallible_set(&vec![1], 1).await?;
    let _: Option<rediscache::Cached<Vec<u8>>> = fallible_get(1).await?;

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
    let _ = lookup_invalidate_all;
    let _ = lookup_async_expire_all;
}
