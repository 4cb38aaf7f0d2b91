use rediscache::cache;

#[derive(Clone)]
struct Conn;

#[cache(refresh = 10, expire = 60)]
fn f(conn: Conn, x: u64) -> u64 {
    let _ = conn;
    x
}

fn main() {}
