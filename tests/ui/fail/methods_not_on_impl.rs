// `#[rediscache::methods]` goes on an impl block, and takes no options.

use rediscache::methods;

#[methods]
fn f() {}

struct S;

#[methods(refresh = 10)]
impl S {}

fn main() {
    f();
}
