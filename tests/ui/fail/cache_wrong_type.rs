use rediscache::cache;

static CACHE: &str = "redis://localhost";

#[cache(cache = CACHE, refresh = 10, expire = 60)]
fn f(x: u64) -> u64 {
    x
}

fn main() {}
