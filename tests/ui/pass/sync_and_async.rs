use rediscache::cache;

#[cache(refresh = 10, expire = 60)]
fn plain_sync(x: u64) -> u64 {
    x + 1
}

#[cache(refresh = "1s", expire = "1d")]
async fn plain_async(x: u64) -> u64 {
    x + 1
}

#[cache(refresh = 10, expire = 60)]
fn no_arguments() -> Vec<String> {
    Vec::new()
}

#[cache(refresh = 10, expire = 60)]
async fn no_arguments_async() -> u32 {
    7
}

#[cache(refresh = 10, expire = 10)]
fn refresh_equals_expire(x: u8) -> u8 {
    x
}

#[allow(dead_code)]
async fn use_them() {
    let _: u64 = plain_sync(1);
    let _: u64 = plain_async(1).await;
    let _: Vec<String> = no_arguments();
    let _: u32 = no_arguments_async().await;
    let _: u8 = refresh_equals_expire(1);
}

fn main() {}
