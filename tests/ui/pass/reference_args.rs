use rediscache::cache;

#[derive(Clone, serde::Serialize)]
struct Query {
    text: String,
    limit: usize,
}

#[cache(refresh = 10, expire = 60)]
fn by_str(name: &str) -> String {
    name.to_uppercase()
}

#[cache(refresh = 10, expire = 60)]
fn by_bytes(data: &[u8]) -> usize {
    data.len()
}

#[cache(refresh = 10, expire = 60)]
fn by_struct(query: &Query) -> Vec<String> {
    vec![query.text.clone(); query.limit]
}

#[cache(refresh = 10, expire = 60, wait = true)]
async fn all_async(name: &str, data: &[u8], query: &Query) -> String {
    format!("{name} {} {}", data.len(), query.text)
}

#[allow(dead_code)]
async fn use_them() {
    let query = Query {
        text: "q".to_owned(),
        limit: 2,
    };
    let _: String = by_str("a");
    let _: usize = by_bytes(b"abc");
    let _: Vec<String> = by_struct(&query);
    let _: String = all_async("a", &[1, 2], &query).await;
}

fn main() {}
