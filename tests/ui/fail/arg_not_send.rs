use std::rc::Rc;

use rediscache::cache;

#[cache(refresh = 10, expire = 60, skip(shared))]
fn f(shared: Rc<u64>, x: u64) -> u64 {
    *shared + x
}

fn main() {}
