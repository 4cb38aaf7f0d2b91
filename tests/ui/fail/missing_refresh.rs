use rediscache::cache;

#[cache(expire = 60)]
fn f(x: u64) -> u64 {
    x
}

fn main() {}
