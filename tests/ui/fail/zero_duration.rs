use rediscache::cache;

#[cache(refresh = 0, expire = 60)]
fn f(x: u64) -> u64 {
    x
}

fn main() {}
