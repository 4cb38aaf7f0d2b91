//! Checks the options against each other and against the function.

use std::time::Duration;

use proc_macro2::Span;
use syn::Expr;

use crate::args::Args;
use crate::signature::Signature;

/// The options, checked, ready to expand.
pub(crate) struct Checked {
    pub(crate) cache: Option<Expr>,
    pub(crate) refresh: Duration,
    pub(crate) expire: Duration,
    pub(crate) retry: Duration,
    pub(crate) default: Option<Expr>,
    pub(crate) wait: bool,
    /// Per parameter of the function: whether it is part of the key.
    pub(crate) in_key: Vec<bool>,
    pub(crate) name: Option<syn::LitStr>,
}

/// Checks `args` for `sig`; all problems at once, each at its token.
pub(crate) fn check(args: Args, sig: &Signature) -> syn::Result<Checked> {
    let mut errors: Option<syn::Error> = None;
    let mut fail = |span: Span, msg: String| {
        let e = syn::Error::new(span, msg);
        match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        }
    };
    let example = "for example `#[cache(refresh = \"10s\", expire = \"1m\")]`";
    if args.refresh.is_none() {
        fail(
            Span::call_site(),
            format!(
                "missing `refresh`: how old a value may get before it is recomputed in the background; {example}"
            ),
        );
    }
    if args.expire.is_none() {
        fail(
            Span::call_site(),
            format!("missing `expire`: how long a value stays in Redis; {example}"),
        );
    }
    for (d, what) in [
        (&args.refresh, "refresh"),
        (&args.expire, "expire"),
        (&args.retry, "retry"),
    ] {
        if let Some(d) = d {
            if d.value.is_zero() {
                fail(d.span, format!("`{what}` must be longer than zero"));
            } else if d.value.as_millis() > u128::from(u64::MAX) {
                fail(d.span, format!("`{what}` is too long"));
            }
        }
    }
    if let (Some(r), Some(e)) = (&args.refresh, &args.expire) {
        if r.value > e.value {
            fail(
                r.span,
                format!(
                    "`refresh` ({:?}) is longer than `expire` ({:?}): a value would be gone before it is refreshed",
                    r.value, e.value
                ),
            );
        }
    }
    if let (Some(r), Some(e)) = (&args.retry, &args.expire) {
        if r.value > e.value {
            fail(
                r.span,
                format!(
                    "`retry` ({:?}) is longer than `expire` ({:?}): every key the cache writes lives at most `expire`",
                    r.value, e.value
                ),
            );
        }
    }
    if let Some(name) = &args.name {
        let n = name.value();
        if n.is_empty() || n.contains(['{', '}']) {
            fail(
                name.span(),
                "`name` must be non-empty and without braces (they are Redis Cluster hash tags)"
                    .to_owned(),
            );
        }
    }
    let mut in_key = vec![true; sig.params.len()];
    for skipped in &args.skip {
        match sig.params.iter().position(|p| p.ident == *skipped) {
            Some(i) if !in_key[i] => fail(skipped.span(), format!("`{skipped}` is skipped twice")),
            Some(i) => in_key[i] = false,
            None => fail(
                skipped.span(),
                format!("`skip`: the function has no parameter `{skipped}`"),
            ),
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let refresh = args.refresh.map_or(Duration::ZERO, |d| d.value);
    Ok(Checked {
        cache: args.cache,
        refresh,
        expire: args.expire.map_or(Duration::ZERO, |d| d.value),
        retry: args.retry.map_or(refresh, |d| d.value),
        default: args.default,
        wait: args.wait.is_some_and(|b| b.value),
        in_key,
        name: args.name,
    })
}
