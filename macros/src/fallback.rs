//! What the attribute emits when the options or the signature are invalid (thiserror's
//! `fallback.rs` is the model): the error, the user's function unchanged, and stubs of
//! `NAME_uncached` and `NAME_invalidate` with the signatures code calling them expects. The user
//! then sees our one error, not one "cannot find function" per call of a companion.
//!
//! The stubs never run: while the error stands the crate does not build. Their parameters are
//! `_` patterns, so a stub adds no warning and no error of its own, whatever the signature.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, Ident, ItemFn, ReturnType};

use crate::expand::{invalidate_doc, invalidate_ident, uncached_doc, uncached_ident};

/// `error`, the user's function, and its companions' stubs.
pub(crate) fn expand(item: &ItemFn, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    // A variadic signature is an error in any free function: a stub would repeat it.
    if item.sig.variadic.is_some() {
        return quote!(#error #item);
    }
    let ident = &item.sig.ident;
    let uncached = stub(
        item,
        uncached_ident(ident),
        &uncached_doc(ident),
        item.sig.output.clone(),
    );
    let invalidate = stub(
        item,
        invalidate_ident(ident),
        &invalidate_doc(ident),
        syn::parse_quote!(-> ::core::result::Result<(), ::rediscache::Error>),
    );
    quote!(#error #item #uncached #invalidate)
}

/// The user's signature under another name and return type, with an unreachable body.
fn stub(item: &ItemFn, ident: Ident, doc: &str, output: ReturnType) -> TokenStream {
    let mut sig = item.sig.clone();
    sig.ident = ident;
    sig.output = output;
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input {
            *typed.pat = syn::parse_quote!(_);
        }
    }
    let vis = &item.vis;
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
        expand(&item, &error).to_string()
    }

    #[test]
    fn emits_the_function_and_both_companions() {
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
