use rediscache::cache;

struct S;

impl S {
    #[cache(refresh = 10, expire = 60)]
    fn f(&self, x: u64) -> u64 {
        x
    }
}

fn main() {
    let _ = S.f(1);
}
