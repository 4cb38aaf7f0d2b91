// `&self` on a type that is not `Clone`: the background refresh owns a clone of `self`, and the
// message says so, at the receiver.

use rediscache::{cache, methods};

struct Repo;

#[methods]
impl Repo {
    #[cache(refresh = 10, expire = 60)]
    fn f(&self, x: u64) -> u64 {
        x
    }
}

fn main() {}
