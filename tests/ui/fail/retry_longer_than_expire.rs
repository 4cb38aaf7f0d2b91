use rediscache::cache;

#[cache(refresh = 10, expire = 60, retry = "1m30s")]
fn f(x: u64) -> u64 {
    x
}

fn main() {}
