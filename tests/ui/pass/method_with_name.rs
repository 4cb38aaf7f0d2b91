// A method `#[cache]` finds on its own (no `#[methods]` on the impl) works once it has a
// `name`; so does a generic function, whose instantiations then share it knowingly. Runs
// against a disabled cache.

use std::sync::LazyLock;

use rediscache::{Error, RedisCache, cache};

static CACHE: LazyLock<RedisCache> = LazyLock::new(|| {
    RedisCache::builder()
        .enabled(false)
        .build()
        .expect("a disabled cache always builds")
});

#[derive(Clone)]
struct Repo;

impl Repo {
    #[cache(cache = CACHE, refresh = 10, expire = 60, name = "app::Repo::user")]
    fn user(&self, id: u64) -> u64 {
        id
    }
}

#[cache(cache = CACHE, refresh = 10, expire = 60, name = "app::render")]
fn render<T: serde::Serialize + std::fmt::Debug + Send + 'static>(x: T) -> String {
    format!("{x:?}")
}

fn main() -> Result<(), Error> {
    assert_eq!(Repo.user(1), 1);
    Repo.user_invalidate(1)?;
    Repo::user_invalidate_all()?;
    assert_eq!(render(1u8), "1");
    render_invalidate(1u8)?;
    render_invalidate_all()?;
    Ok(())
}
