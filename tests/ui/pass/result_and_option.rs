use rediscache::cache;

#[derive(serde::Serialize, serde::Deserialize)]
struct Report {
    lines: u64,
}

#[derive(Debug)]
struct Failure;

// `Report` has no `Default` and `Failure` no serde: neither is needed with `wait = true`.
#[cache(refresh = 10, expire = 60, wait = true)]
fn fallible(x: u64) -> Result<Report, Failure> {
    if x == 0 { Err(Failure) } else { Ok(Report { lines: x }) }
}

#[cache(refresh = 10, expire = 60, wait = true)]
async fn fallible_async(x: u64) -> Result<Report, std::io::Error> {
    Ok(Report { lines: x })
}

#[cache(refresh = 10, expire = 60, default = Err(Failure))]
fn fallible_with_default(x: u64) -> Result<Report, Failure> {
    Ok(Report { lines: x })
}

#[cache(refresh = 10, expire = 60)]
fn maybe(x: u64) -> Option<u64> {
    x.checked_sub(1)
}

#[cache(refresh = 10, expire = 60)]
async fn maybe_async(x: u64) -> Option<String> {
    (x > 0).then(|| x.to_string())
}

#[allow(dead_code)]
async fn use_them() {
    let _: Result<Report, Failure> = fallible(1);
    let _: Result<Report, std::io::Error> = fallible_async(1).await;
    let _: Result<Report, Failure> = fallible_with_default(1);
    let _: Option<u64> = maybe(1);
    let _: Option<String> = maybe_async(1).await;
}

fn main() {}
