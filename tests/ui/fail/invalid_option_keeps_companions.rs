// With an invalid option the macro still emits `NAME` and every companion, so
// code that calls them shows the option's error alone, not "cannot find function" for each call.
// (rustc hides those for paths into the failing module, but not through a glob import, and not
// on every supported compiler.)

mod api {
    use rediscache::cache;

    #[cache(refresh = 10, expire = 60, ttl = 5)]
    pub fn lookup<T: std::fmt::Display>(id: T, label: &str) -> String {
        format!("{id}:{label}")
    }
}

use api::*;

fn main() {
    let _: String = lookup(1, "a");
    let _: String = lookup_uncached(1, "a");
    let _: Result<(), rediscache::Error> = lookup_invalidate(1, "a");
    let _: Result<(), rediscache::Error> = lookup_invalidate_all();
    let _: Result<(), rediscache::Error> = lookup_expire_all();
    let _: String = lookup_refresh(1, "a");
    let _: Result<(), rediscache::Error> = lookup_set(&String::new(), 1, "a");
    let _: Result<Option<rediscache::Cached<String>>, rediscache::Error> = lookup_get(1, "a");
}
