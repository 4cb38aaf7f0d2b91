use rediscache::cache;

struct Report {
    lines: u64,
}

#[cache(refresh = 10, expire = 60, wait = true)]
async fn f(x: u64) -> Result<Report, String> {
    Ok(Report { lines: x })
}

fn main() {}
