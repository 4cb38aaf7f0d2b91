// A signature `#[cache]` cannot take still gets its companions: one error, at the parameter.

mod api {
    use rediscache::cache;

    #[cache(refresh = 10, expire = 60)]
    pub fn bump(counter: &mut u64) -> u64 {
        *counter += 1;
        *counter
    }
}

use api::*;

fn main() {
    let mut counter = 0;
    let _: u64 = bump(&mut counter);
    let _: u64 = bump_uncached(&mut counter);
    let _: Result<(), rediscache::Error> = bump_invalidate(&mut counter);
}
