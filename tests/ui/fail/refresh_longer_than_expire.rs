use rediscache::cache;

#[cache(refresh = "2m", expire = "1m")]
fn f(x: u64) -> u64 {
    x
}

fn main() {}
