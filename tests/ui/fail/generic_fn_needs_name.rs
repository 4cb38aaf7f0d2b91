// A generic function's instantiations would share one name, and their entries: without `name`
// it is an error, at the type parameter.

use rediscache::cache;

#[cache(refresh = 10, expire = 60, wait = true)]
fn parse<T: serde::Serialize + serde::de::DeserializeOwned + Default + Send + 'static>(
    text: &str,
) -> T {
    let _ = text;
    T::default()
}

fn main() {
    let _: u64 = parse("1");
}
