// A method in an impl without `#[rediscache::methods]` and without `name`: `#[cache]` cannot
// see the type, and `module::f` would collide across types. The error says both ways out.

use rediscache::cache;

#[derive(Clone)]
struct S;

impl S {
    #[cache(refresh = 10, expire = 60)]
    fn f(&self, x: u64) -> u64 {
        x
    }
}

fn main() {
    let _ = S.f(1);
    let _ = S.f_uncached(1);
    let _ = S::f_invalidate_all();
}
