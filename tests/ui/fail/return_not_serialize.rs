use rediscache::cache;

#[derive(Default)]
struct Report {
    lines: u64,
}

#[cache(refresh = 10, expire = 60)]
fn f(x: u64) -> Report {
    Report { lines: x }
}

fn main() {}
