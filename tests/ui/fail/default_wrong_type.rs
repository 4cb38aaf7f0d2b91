use rediscache::cache;

#[cache(refresh = 10, expire = 60, default = "none")]
fn f(x: u64) -> u64 {
    x
}

fn main() {}
