// `key_self` needs a `self`.

use rediscache::{cache, methods};

struct Repo;

#[methods]
impl Repo {
    #[cache(refresh = 10, expire = 60, key_self = 1)]
    fn count(x: u64) -> u64 {
        x
    }
}

fn main() {}
