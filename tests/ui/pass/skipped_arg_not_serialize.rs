use rediscache::cache;

// Same as `fail/key_arg_not_serialize.rs`, with the argument left out of the key.
#[derive(Clone)]
struct Conn;

#[cache(refresh = 10, expire = 60, skip(conn))]
fn f(conn: Conn, x: u64) -> u64 {
    let _ = conn;
    x
}

#[cache(refresh = 10, expire = 60, skip(conn))]
async fn f_async(conn: &Conn, x: u64) -> u64 {
    let _ = conn;
    x
}

#[allow(dead_code)]
async fn use_them() {
    let _: u64 = f(Conn, 1);
    let _: u64 = f_async(&Conn, 1).await;
    let _ = f_invalidate(Conn, 1);
    let _ = f_async_invalidate(&Conn, 1).await;
}

fn main() {}
