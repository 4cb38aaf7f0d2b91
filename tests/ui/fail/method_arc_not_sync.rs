// `self: Arc<Self>` on a type that is not `Sync`: the background refresh shares the `Arc`.

use std::cell::Cell;
use std::sync::Arc;

use rediscache::{cache, methods};

struct Repo {
    hits: Cell<u64>,
}

#[methods]
impl Repo {
    #[cache(refresh = 10, expire = 60)]
    fn f(self: Arc<Self>, x: u64) -> u64 {
        self.hits.set(self.hits.get() + 1);
        x
    }
}

fn main() {}
