// `&mut self`: a cached call may not run the method, and a refresh runs it on a clone.
// One error, at the receiver; the companions still exist.

use rediscache::{cache, methods};

#[derive(Clone)]
struct Counter {
    n: u64,
}

#[methods]
impl Counter {
    #[cache(refresh = 10, expire = 60)]
    fn bump(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn main() {
    let mut c = Counter { n: 0 };
    let _: u64 = c.bump();
    let _: u64 = c.bump_uncached();
    let _: Result<(), rediscache::Error> = Counter::bump_invalidate_all();
}
