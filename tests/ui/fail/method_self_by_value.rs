// A receiver other than `&self` or `self: Arc<Self>`.

use rediscache::{cache, methods};

#[derive(Clone)]
struct S;

#[methods]
impl S {
    #[cache(refresh = 10, expire = 60)]
    fn f(self, x: u64) -> u64 {
        x
    }
}

fn main() {}
