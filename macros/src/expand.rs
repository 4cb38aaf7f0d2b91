//! Writes the code: `NAME_uncached` (the user's body, unchanged), `NAME` (one call into the
//! runtime) and `NAME_invalidate`. Generated code names only rooted paths.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Type};

use crate::args::Args;
use crate::signature::{self, Signature};
use crate::validate::{self, Checked};

/// Entry point: parse, read, check, expand. On error, the user's function is still emitted so
/// the compiler reports only our error, not a cascade of missing items.
pub(crate) fn cache(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[cache]` goes on a function (`fn` or `async fn`)",
            );
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    let checked = syn::parse2::<Args>(attr).and_then(|args| {
        let sig = signature::read(&item)?;
        let checked = validate::check(args, &sig)?;
        Ok((sig, checked))
    });
    match checked {
        Ok((sig, checked)) => expand(&item, &sig, &checked),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#e #item)
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn expand(item: &ItemFn, sig: &Signature, opts: &Checked) -> TokenStream {
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let uncached = format_ident!("{}_uncached", ident);
    let invalidate = format_ident!("{}_invalidate", ident);
    let generics = &item.sig.generics;
    let where_clause = &item.sig.generics.where_clause;
    let asyncness = &item.sig.asyncness;
    let output = &item.sig.output;
    let ret = &sig.output;
    let attrs = &item.attrs;
    let body = &item.block;
    let user_inputs = &item.sig.inputs;

    let idents: Vec<_> = sig.params.iter().map(|p| &p.ident).collect();
    let types: Vec<_> = sig.params.iter().map(|p| &p.ty).collect();
    let skipped: Vec<_> = sig
        .params
        .iter()
        .zip(&opts.in_key)
        .filter(|(_, k)| !**k)
        .map(|(p, _)| &p.ident)
        .collect();
    let key_parts: Vec<_> = sig
        .params
        .iter()
        .zip(&opts.in_key)
        .filter(|(_, k)| **k)
        .map(|(p, _)| {
            let span = p.ty.span();
            let id = syn::Ident::new(&p.ident.to_string(), span);
            quote_spanned!(span=> .arg(&#id))
        })
        .collect();
    let owns = sig.params.iter().filter(|p| p.by_ref).map(|p| {
        let id = &p.ident;
        let span = p.ty.span();
        let arg = syn::Ident::new(&id.to_string(), span);
        quote_spanned!(span=> let #id = ::rediscache::__private::own(#arg);)
    });
    let passes: Vec<_> = sig
        .params
        .iter()
        .map(|p| {
            let id = &p.ident;
            if p.by_ref {
                quote!(::core::borrow::Borrow::borrow(&#id))
            } else {
                quote!(#id)
            }
        })
        .collect();

    let name = match &opts.name {
        Some(lit) => quote!(#lit),
        None => {
            let s = ident.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #s))
        }
    };
    let cache = match &opts.cache {
        Some(expr) => quote_spanned!(expr.span()=> &*(#expr)),
        None => quote!(::rediscache::__private::default_cache()),
    };
    let (refresh, expire, retry, wait) = (
        millis(opts.refresh),
        millis(opts.expire),
        millis(opts.retry),
        opts.wait,
    );

    let value_ty: &Type = sig.ok_type.as_ref().unwrap_or(ret);
    let shape = if sig.ok_type.is_some() {
        quote!(Fallible)
    } else {
        quote!(Plain)
    };
    let value_check = quote_spanned!(value_ty.span()=> let _ = ::rediscache::__private::assert_value::<#value_ty>;);
    let default = match (&opts.default, opts.wait) {
        (Some(expr), _) => {
            quote_spanned!(expr.span()=> ::core::option::Option::Some(|| -> #ret { #expr }))
        }
        (None, false) => quote_spanned!(ret.span()=>
            ::core::option::Option::Some(|| -> #ret { <#ret as ::rediscache::__private::DefaultValue>::default_value() })),
        (None, true) => quote!(::core::option::Option::None::<fn() -> #ret>),
    };
    let (runner, job, await_, invalidator) = if sig.is_async {
        (
            quote!(call_async),
            quote!(::rediscache::__private::AsyncJob(move || async move { #uncached(#(#passes),*).await })),
            quote!(.await),
            quote!(invalidate_async),
        )
    } else {
        (
            quote!(call_sync),
            quote!(::rediscache::__private::SyncJob(move || #uncached(#(#passes),*))),
            quote!(),
            quote!(invalidate_sync),
        )
    };
    let uncached_doc = format!("Calls [`{ident}`] itself, without the cache.");
    let invalidate_doc = format!(
        "Removes the cached result of [`{ident}`] for these arguments.\n\n# Errors\nWhen Redis fails or the arguments give no key."
    );
    let make = quote!(move || {
        #(#owns)*
        #job
    });
    let shape = syn::Ident::new(&shape.to_string(), value_ty.span());
    let shape_arg = quote_spanned!(value_ty.span()=> ::rediscache::__private::#shape);
    let call_args = quote!(#cache, &OPTIONS, key_args, #make, #default, #shape_arg);
    // For async functions the whole call, `.await` included, carries the value type's span, so
    // an unmet bound on it is reported once, there.
    let call_and_await = if sig.is_async {
        quote_spanned!(value_ty.span()=> ::rediscache::__private::#runner(#call_args).await)
    } else {
        quote!(::rediscache::__private::#runner(#call_args))
    };
    let skipped_use = quote!(#(let _ = &#skipped;)*);

    quote! {
        #[doc = #uncached_doc]
        #[allow(clippy::too_many_arguments)]
        #vis #asyncness fn #uncached #generics (#user_inputs) #output #where_clause #body

        #(#attrs)*
        #[allow(clippy::too_many_arguments, clippy::needless_borrow, clippy::redundant_closure)]
        #vis #asyncness fn #ident #generics (#(#idents: #types),*) #output #where_clause {
            static OPTIONS: ::rediscache::__private::Options = ::rediscache::__private::Options {
                name: #name,
                refresh: ::rediscache::__private::Options::ms(#refresh),
                expire: ::rediscache::__private::Options::ms(#expire),
                retry: ::rediscache::__private::Options::ms(#retry),
                wait: #wait,
                stats: ::rediscache::__private::FunctionStats::new(),
            };
            #value_check
            let key_args = ::rediscache::__private::KeyArgs::new() #(#key_parts)* .finish();
            #call_and_await
        }

        #[doc = #invalidate_doc]
        #[allow(clippy::too_many_arguments, clippy::needless_borrow)]
        #vis #asyncness fn #invalidate #generics (#(#idents: #types),*) -> ::core::result::Result<(), ::rediscache::Error> #where_clause {
            #skipped_use
            ::rediscache::__private::#invalidator(#cache, #name, ::rediscache::__private::KeyArgs::new() #(#key_parts)* .finish())
            #await_
        }
    }
}
