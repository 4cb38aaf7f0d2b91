// The async twin of `invalid_option_keeps_companions.rs`, with an error found when checking the
// options together: still one error, and the companions are async fns of the right types.

mod api {
    use rediscache::cache;

    #[cache(refresh = "2m", expire = "1m")]
    pub async fn lookup(id: u64, label: &str) -> String {
        format!("{id}:{label}")
    }
}

use api::*;

async fn use_them() -> Result<(), rediscache::Error> {
    let _: String = lookup(1, "a").await;
    let _: String = lookup_uncached(1, "a").await;
    lookup_invalidate(1, "a").await?;
    lookup_invalidate_all().await?;
    lookup_expire_all().await?;
    let _: String = lookup_refresh(1, "a").await;
    lookup_set(&String::new(), 1, "a").await?;
    let _: Option<rediscache::Cached<String>> = lookup_get(1, "a").await?;
    Ok(())
}

fn main() {
    let _ = use_them();
}
