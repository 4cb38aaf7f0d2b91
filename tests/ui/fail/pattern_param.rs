use rediscache::cache;

#[cache(refresh = 10, expire = 60)]
fn f((a, b): (u64, u64)) -> u64 {
    a + b
}

fn main() {}
