//! Parses the attribute's options into [`Args`], one `syn::Error` per mistake.

use std::time::Duration;

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitBool, LitStr, Token, parenthesized};

use crate::duration;

mod kw {
    syn::custom_keyword!(cache);
    syn::custom_keyword!(refresh);
    syn::custom_keyword!(expire);
    syn::custom_keyword!(retry);
    syn::custom_keyword!(default);
    syn::custom_keyword!(wait);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(name);
    syn::custom_keyword!(key_self);
    syn::custom_keyword!(local);
}

/// The options every `#[cache]` understands, for the "unknown option" message.
pub(crate) const OPTIONS: &str = "`cache`, `refresh`, `expire`, `retry`, `default`, `wait`, `local`, `skip(..)`, `name`, `key_self`";

/// A duration option and where it was written.
#[derive(Clone, Copy)]
pub(crate) struct Dur {
    pub(crate) value: Duration,
    pub(crate) span: Span,
}

/// The parsed options.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) cache: Option<Expr>,
    pub(crate) refresh: Option<Dur>,
    pub(crate) expire: Option<Dur>,
    pub(crate) retry: Option<Dur>,
    pub(crate) default: Option<Expr>,
    pub(crate) wait: Option<LitBool>,
    /// `local = false`: this function skips the cache's local tier.
    pub(crate) local: Option<LitBool>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) name: Option<LitStr>,
    /// An expression over `self`, the first element of a method's key.
    pub(crate) key_self: Option<Expr>,
}

enum Opt {
    Cache(Expr),
    Refresh(Dur),
    Expire(Dur),
    Retry(Dur),
    Default(Expr),
    Wait(LitBool),
    Local(LitBool),
    Skip(Vec<Ident>),
    Name(LitStr),
    KeySelf(Expr),
}

fn dur(input: ParseStream<'_>) -> syn::Result<Dur> {
    input.parse::<Token![=]>()?;
    let lit: Lit = input.parse()?;
    Ok(Dur {
        value: duration::from_lit(&lit)?,
        span: lit.span(),
    })
}

impl Parse for Opt {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let look = input.lookahead1();
        if look.peek(kw::cache) {
            input.parse::<kw::cache>()?;
            input.parse::<Token![=]>()?;
            Ok(Opt::Cache(input.parse()?))
        } else if look.peek(kw::refresh) {
            input.parse::<kw::refresh>()?;
            Ok(Opt::Refresh(dur(input)?))
        } else if look.peek(kw::expire) {
            input.parse::<kw::expire>()?;
            Ok(Opt::Expire(dur(input)?))
        } else if look.peek(kw::retry) {
            input.parse::<kw::retry>()?;
            Ok(Opt::Retry(dur(input)?))
        } else if look.peek(kw::default) {
            input.parse::<kw::default>()?;
            input.parse::<Token![=]>()?;
            Ok(Opt::Default(input.parse()?))
        } else if look.peek(kw::wait) {
            input.parse::<kw::wait>()?;
            input.parse::<Token![=]>()?;
            Ok(Opt::Wait(input.parse()?))
        } else if look.peek(kw::local) {
            input.parse::<kw::local>()?;
            input.parse::<Token![=]>()?;
            Ok(Opt::Local(input.parse()?))
        } else if look.peek(kw::skip) {
            input.parse::<kw::skip>()?;
            let content;
            parenthesized!(content in input);
            let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
            Ok(Opt::Skip(names.into_iter().collect()))
        } else if look.peek(kw::name) {
            input.parse::<kw::name>()?;
            input.parse::<Token![=]>()?;
            Ok(Opt::Name(input.parse()?))
        } else if look.peek(kw::key_self) {
            input.parse::<kw::key_self>()?;
            input.parse::<Token![=]>()?;
            Ok(Opt::KeySelf(input.parse()?))
        } else if input.peek(Ident) {
            let unknown: Ident = input.parse()?;
            Err(syn::Error::new(
                unknown.span(),
                format!("unknown option `{unknown}`; expected one of {OPTIONS}"),
            ))
        } else {
            Err(look.error())
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("`{name}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut skip_seen = false;
        while !input.is_empty() {
            let span = input.span();
            match input.parse::<Opt>()? {
                Opt::Cache(e) => set(&mut args.cache, e, span, "cache")?,
                Opt::Refresh(d) => set(&mut args.refresh, d, span, "refresh")?,
                Opt::Expire(d) => set(&mut args.expire, d, span, "expire")?,
                Opt::Retry(d) => set(&mut args.retry, d, span, "retry")?,
                Opt::Default(e) => set(&mut args.default, e, span, "default")?,
                Opt::Wait(b) => set(&mut args.wait, b, span, "wait")?,
                Opt::Local(b) => set(&mut args.local, b, span, "local")?,
                Opt::Name(n) => set(&mut args.name, n, span, "name")?,
                Opt::KeySelf(e) => set(&mut args.key_self, e, span, "key_self")?,
                Opt::Skip(names) => {
                    if std::mem::replace(&mut skip_seen, true) {
                        return Err(syn::Error::new(
                            span,
                            "`skip` is given twice; list every argument in one `skip(..)`",
                        ));
                    }
                    args.skip = names;
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}
