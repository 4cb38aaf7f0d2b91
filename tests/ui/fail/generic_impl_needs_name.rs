// A method of a generic impl: its instantiations would share one name; without `name` it is an
// error, at the method.

use std::marker::PhantomData;

use rediscache::{cache, methods};

#[derive(Clone)]
struct Repo<T>(PhantomData<T>);

#[methods]
impl<T: Clone + Send + Sync + 'static> Repo<T> {
    #[cache(refresh = 10, expire = 60)]
    fn count(&self, x: u64) -> u64 {
        x
    }
}

fn main() {}
