//! Durations in options: an integer number of seconds, or a string such as `"250ms"`, `"1m30s"`.

use std::time::Duration;

use syn::Lit;

/// Reads a duration literal.
pub(crate) fn from_lit(lit: &Lit) -> syn::Result<Duration> {
    match lit {
        Lit::Int(int) => int
            .base10_parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| {
                syn::Error::new(int.span(), "expected a whole number of seconds, like `10`")
            }),
        Lit::Str(s) => parse(&s.value()).map_err(|msg| syn::Error::new(s.span(), msg)),
        other => Err(syn::Error::new(
            other.span(),
            "expected a duration: seconds as an integer (`10`) or a string like \"250ms\", \"1m30s\"",
        )),
    }
}

/// Parses `"250ms"`, `"1m30s"`, `"2h"`, `"1d"`, `"10"` (seconds).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "cannot read {text:?} as a duration: use numbers with units ms, s, m, h, d, like \"1m30s\""
        )
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per_unit: u64 = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit..];
        let part = n.checked_mul(ms_per_unit).ok_or_else(bad)?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_and_combinations() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for bad in ["", "ms", "10x", "1.5s", "-1s", "s10"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
