//! What the attribute emits when the options or the signature are invalid (thiserror's
//! `fallback.rs` is the model): the error, the user's function unchanged, and stubs of every
//! companion (`NAME_uncached`, `NAME_invalidate`, `NAME_invalidate_all`, `NAME_expire_all`,
//! `NAME_refresh`, `NAME_set`, `NAME_get`) with the signatures code calling them expects. The
//! user then sees our one error, not one "cannot find function" per call of a companion.
//!
//! The stubs never run: while the error stands the crate does not build. Their parameters are
//! `_` patterns, so a stub adds no warning and no error of its own, whatever the signature.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::companions::Companion;
use crate::expand::Items;
use crate::place::Place;
use crate::signature::ok_type;

/// `error`, the user's function, and its companions' stubs (beside a trait impl, in an inherent
/// impl of their own).
pub(crate) fn expand(item: &ItemFn, error: &syn::Error, place: &Place) -> Items {
    let error = error.to_compile_error();
    // A variadic signature is an error in any free function: a stub would repeat it.
    if item.sig.variadic.is_some() {
        return Items {
            in_place: quote!(#error #item),
            beside: TokenStream::new(),
        };
    }
    let stubs = Companion::ALL.map(|which| stub(item, which, place));
    let stubs = quote!(#(#stubs)*);
    if place.trait_path().is_some() {
        Items {
            in_place: quote!(#error #item),
            beside: stubs,
        }
    } else {
        Items {
            in_place: quote!(#error #item #stubs),
            beside: TokenStream::new(),
        }
    }
}

/// The stub of one companion: the user's signature (none for `NAME_invalidate_all` and
/// `NAME_expire_all`) under its name and return type, with an unreachable body.
fn stub(item: &ItemFn, which: Companion, place: &Place) -> TokenStream {
    let output: Type = match &item.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let value = ok_type(&output).unwrap_or_else(|| output.clone());
    let unit: ReturnType = syn::parse_quote!(-> ::core::result::Result<(), ::rediscache::Error>);
    let mut sig = item.sig.clone();
    sig.ident = which.ident(&item.sig.ident);
    sig.output = match which {
        Companion::Uncached | Companion::Refresh => item.sig.output.clone(),
        Companion::Invalidate
        | Companion::InvalidateAll
        | Companion::ExpireAll
        | Companion::Set => unit,
        Companion::Get => syn::parse_quote!(
            -> ::core::result::Result<::core::option::Option<::rediscache::Cached<#value>>, ::rediscache::Error>
        ),
    };
    if !which.takes_args() {
        sig.generics = syn::Generics::default();
        sig.inputs.clear();
    }
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input {
            *typed.pat = syn::parse_quote!(_);
        }
    }
    if let Companion::Set = which {
        let at = usize::from(sig.receiver().is_some());
        sig.inputs.insert(at, syn::parse_quote!(_: &#value));
    }
    let vis = &item.vis;
    let vis = if place.trait_path().is_some() {
        quote!(pub)
    } else {
        quote!(#vis)
    };
    let doc = which.doc(&item.sig.ident, place);
    quote! {
        #[doc = #doc]
        #vis #sig {
            ::core::unreachable!()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fallback(src: &str) -> String {
        let item = syn::parse_str::<ItemFn>(src).expect("parses");
        let error = syn::Error::new(proc_macro2::Span::call_site(), "bad");
        let Items { in_place, beside } = expand(&item, &error, &Place::Module);
        assert!(beside.is_empty());
        in_place.to_string()
    }

    #[test]
    fn emits_the_function_and_every_companion() {
        let out = fallback("pub async fn f<T: Clone>(x: T, mut y: &str) -> u8 where T: Send { 1 }");
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("pub async fn f <"), "{out}");
        assert!(
            out.contains(
                "pub async fn f_uncached < T : Clone > (_ : T , _ : & str) -> u8 where T : Send"
            ),
            "{out}"
        );
        assert!(
            out.contains("pub async fn f_invalidate < T : Clone > (_ : T , _ : & str) -> :: core :: result :: Result < () , :: rediscache :: Error > where T : Send"),
            "{out}"
        );
        assert!(
            out.contains("pub async fn f_invalidate_all () -> :: core :: result :: Result < () , :: rediscache :: Error > {"),
            "{out}"
        );
        assert!(
            out.contains("pub async fn f_expire_all () -> :: core :: result :: Result < () , :: rediscache :: Error > {"),
            "{out}"
        );
        assert!(
            out.contains(
                "pub async fn f_refresh < T : Clone > (_ : T , _ : & str) -> u8 where T : Send"
            ),
            "{out}"
        );
        assert!(
            out.contains("pub async fn f_set < T : Clone > (_ : & u8 , _ : T , _ : & str) -> :: core :: result :: Result < () , :: rediscache :: Error > where T : Send"),
            "{out}"
        );
        assert!(
            out.contains("pub async fn f_get < T : Clone > (_ : T , _ : & str) -> :: core :: result :: Result < :: core :: option :: Option < :: rediscache :: Cached < u8 > > , :: rediscache :: Error > where T : Send"),
            "{out}"
        );
    }

    #[test]
    fn set_takes_the_ok_value_after_the_receiver() {
        let out = fallback("fn f(&self, x: u8) -> Result<String, E> { todo!() }");
        assert!(
            out.contains("fn f_set (& self , _ : & String , _ : u8)"),
            "{out}"
        );
        assert!(out.contains("fn f_invalidate_all ()"), "{out}");
    }

    #[test]
    fn a_trait_impl_gets_its_stubs_beside_it() {
        let item = syn::parse_str::<ItemFn>("async fn f(&self) -> u8 { 1 }").expect("parses");
        let imp: syn::ItemImpl = syn::parse_quote!(impl Store for Pg {});
        let error = syn::Error::new(proc_macro2::Span::call_site(), "bad");
        let Items { in_place, beside } = expand(&item, &error, &Place::of(&imp));
        let (in_place, beside) = (in_place.to_string(), beside.to_string());
        assert!(!in_place.contains("f_uncached"), "{in_place}");
        assert!(
            beside.contains("pub async fn f_uncached (& self) -> u8"),
            "{beside}"
        );
    }

    #[test]
    fn keeps_receivers_and_skips_variadics() {
        let out = fallback("fn f(&self, (a, b): (u8, u8)) -> u8 { a }");
        assert!(
            out.contains("fn f_uncached (& self , _ : (u8 , u8)) -> u8"),
            "{out}"
        );
        let out = fallback("unsafe extern \"C\" fn f(x: u8, ...) {}");
        assert!(!out.contains("f_uncached"), "{out}");
    }
}
