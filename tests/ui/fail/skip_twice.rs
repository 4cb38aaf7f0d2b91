use rediscache::cache;

#[cache(refresh = 10, expire = 60, skip(x), skip(y))]
fn f(x: u64, y: u64) -> u64 {
    x + y
}

fn main() {}
