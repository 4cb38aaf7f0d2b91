//! Checks the options against each other and against the function.

use std::time::Duration;

use proc_macro2::Span;
use syn::{Expr, Ident};

use crate::args::Args;
use crate::place::Place;
use crate::signature::{Receiver, Signature};

/// The options, checked, ready to expand.
pub(crate) struct Checked {
    pub(crate) cache: Option<Expr>,
    pub(crate) refresh: Duration,
    pub(crate) expire: Duration,
    pub(crate) retry: Duration,
    pub(crate) default: Option<Expr>,
    pub(crate) wait: bool,
    /// Whether hits may come from the cache's local tier (default: yes, if it has one).
    pub(crate) local: bool,
    /// Per parameter of the function: whether it is part of the key.
    pub(crate) in_key: Vec<bool>,
    pub(crate) name: Option<syn::LitStr>,
    /// The expression over `self` that comes first in a method's key.
    pub(crate) key_self: Option<Expr>,
}

/// Checks `args` for `sig`, the function `ident` in `place`; all problems at once, each at its
/// token.
pub(crate) fn check(
    args: Args,
    sig: &Signature,
    place: &Place,
    ident: &Ident,
) -> syn::Result<Checked> {
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
    if let (Some(expr), Receiver::None) = (&args.key_self, sig.receiver) {
        fail(
            syn::spanned::Spanned::span(expr),
            "`key_self` is an expression over `self`: it needs a method that takes `&self` or `self: Arc<Self>`".to_owned(),
        );
    }
    let unnamed = args
        .name
        .is_none()
        .then(|| needs_name(sig, place, ident))
        .flatten();
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
    if let Some(e) = unnamed {
        match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
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
        local: args.local.is_none_or(|b| b.value),
        in_key,
        name: args.name,
        key_self: args.key_self,
    })
}

/// Why the function cannot be named without `name`, said where it shows.
fn needs_name(sig: &Signature, place: &Place, ident: &Ident) -> Option<syn::Error> {
    let shared = "so entries of different types would be read as each other; give `name = \"..\"` to share one name (and entries) knowingly, or cache a function of concrete types";
    if let Some(span) = sig.generic {
        return Some(syn::Error::new(
            span,
            format!("every instantiation of a generic function shares one name, {shared}"),
        ));
    }
    let Place::Impl(imp) = place else {
        return None;
    };
    if !imp.methods {
        let msg = "`#[cache]` on a method cannot see its type's name: add `#[rediscache::methods]` on the impl, or give `name = \"..\"`";
        return Some(match &sig.receiver_tokens {
            Some(receiver) => syn::Error::new_spanned(receiver, msg),
            None => syn::Error::new(ident.span(), msg),
        });
    }
    if imp.generic.is_some() {
        return Some(syn::Error::new(
            ident.span(),
            format!(
                "`{ident}` is in a generic impl: every instantiation shares one name, {shared}"
            ),
        ));
    }
    if imp.type_name.is_none() {
        return Some(syn::Error::new(
            ident.span(),
            format!(
                "`{ident}`: this impl's type cannot be written in a key name; give `name = \"..\"`"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature;

    fn check_in(attr: &str, item: &str, place: &Place) -> syn::Result<Checked> {
        let item = syn::parse_str::<syn::ItemFn>(item).expect("parses");
        let args = syn::parse_str::<Args>(attr).expect("options parse");
        let sig = signature::read(&item).expect("a signature we take");
        check(args, &sig, place, &item.sig.ident)
    }

    fn error(attr: &str, item: &str, place: &Place) -> String {
        match check_in(attr, item, place) {
            Ok(_) => panic!("{item} should not pass"),
            Err(e) => e.to_string(),
        }
    }

    const OPTIONS: &str = "refresh = 1, expire = 2";

    #[test]
    fn a_lone_method_or_a_generic_function_needs_a_name() {
        let method = "fn f(&self) -> u8 { 1 }";
        let e = error(OPTIONS, method, &Place::lone_method());
        assert!(e.contains("add `#[rediscache::methods]`"), "{e}");
        let named = format!("{OPTIONS}, name = \"app::f\"");
        assert!(check_in(&named, method, &Place::lone_method()).is_ok());
        let generic = "fn f<T: Default>() -> T { T::default() }";
        let e = error(OPTIONS, generic, &Place::Module);
        assert!(e.contains("generic function"), "{e}");
        assert!(check_in(&named, generic, &Place::Module).is_ok());
    }

    #[test]
    fn a_method_of_a_generic_impl_needs_a_name() {
        let imp: syn::ItemImpl = syn::parse_quote!(
            impl<T> Repo<T> {}
        );
        let e = error(OPTIONS, "fn f(&self) -> u8 { 1 }", &Place::of(&imp));
        assert!(e.contains("generic impl"), "{e}");
        let imp: syn::ItemImpl = syn::parse_quote!(impl Repo {});
        assert!(check_in(OPTIONS, "fn f(&self) -> u8 { 1 }", &Place::of(&imp)).is_ok());
    }

    #[test]
    fn key_self_needs_a_receiver() {
        let imp: syn::ItemImpl = syn::parse_quote!(impl Repo {});
        let attr = format!("{OPTIONS}, key_self = self.tenant");
        let e = error(&attr, "fn f(x: u8) -> u8 { x }", &Place::of(&imp));
        assert!(e.contains("`key_self`"), "{e}");
        let ok = check_in(&attr, "fn f(&self, x: u8) -> u8 { x }", &Place::of(&imp));
        assert!(ok.is_ok_and(|c| c.key_self.is_some()));
    }
}
