use rediscache::cache;

#[cache(refresh = 10, expire = 60)]
struct S;

fn main() {}
