// `#[async_trait]` above `#[rediscache::methods]` expands first and turns the `async fn` into
// one returning `Pin<Box<dyn Future>>`; the error explains the order that works.

use async_trait::async_trait;
use rediscache::{cache, methods};

#[async_trait]
trait Store {
    async fn load(&self, id: u64) -> u64;
}

#[derive(Clone)]
struct Pg;

#[async_trait]
#[methods]
impl Store for Pg {
    #[cache(refresh = 10, expire = 60, wait = true)]
    async fn load(&self, id: u64) -> u64 {
        id
    }
}

fn main() {}
