use rediscache::cache;

#[derive(serde::Serialize)]
struct Query {
    text: String,
}

#[cache(refresh = 10, expire = 60)]
fn f(query: &Query) -> usize {
    query.text.len()
}

fn main() {}
