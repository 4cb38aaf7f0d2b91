//! Writes the code, one function per generated item: `NAME_uncached` (the user's body,
//! unchanged), `NAME` (one call into the runtime, with its options `static`) and
//! `NAME_invalidate`. Generated code names only rooted paths.
//!
//! Hygiene: the locals the expansion binds are `__rediscache_*` names at `Span::mixed_site()`,
//! which user tokens (parameters, `cache = ..`, `default = ..`) cannot see or shadow; the options
//! `static` lives in a block of its own that holds no user tokens; and `NAME` calls
//! `NAME_uncached` through a mixed-site name, so a parameter called `NAME_uncached` does not hide
//! it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, Type};

use crate::args::Args;
use crate::fallback;
use crate::signature::{self, Param, Signature};
use crate::validate::{self, Checked};

/// Entry point: parse, read, check, expand. On error, the user's function and stubs of its
/// companions are still emitted (see `fallback.rs`), so the compiler reports only our error, not
/// a cascade of missing items.
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
    match check(attr, &item) {
        Ok((sig, opts)) => Expansion {
            item: &item,
            sig: &sig,
            opts: &opts,
        }
        .items(),
        Err(e) => fallback::expand(&item, &e),
    }
}

/// Parses the options, reads the function and checks them together.
fn check(attr: TokenStream, item: &ItemFn) -> syn::Result<(Signature, Checked)> {
    let args = syn::parse2::<Args>(attr)?;
    let sig = signature::read(item)?;
    let checked = validate::check(args, &sig)?;
    Ok((sig, checked))
}

/// `NAME_uncached`, the user's function under its companion name.
pub(crate) fn uncached_ident(ident: &Ident) -> Ident {
    format_ident!("{}_uncached", ident)
}

/// `NAME_invalidate`.
pub(crate) fn invalidate_ident(ident: &Ident) -> Ident {
    format_ident!("{}_invalidate", ident)
}

/// The doc comment of `NAME_uncached`.
pub(crate) fn uncached_doc(ident: &Ident) -> String {
    format!("Calls [`{ident}`] itself, without the cache.")
}

/// The doc comment of `NAME_invalidate`.
pub(crate) fn invalidate_doc(ident: &Ident) -> String {
    format!(
        "Removes the cached result of [`{ident}`] for these arguments.\n\n# Errors\nWhen Redis fails or the arguments give no key."
    )
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The expansion's locals in `NAME`: the options and the rendered key arguments.
const OPTIONS_LOCAL: &str = "__rediscache_options";
const KEY_ARGS_LOCAL: &str = "__rediscache_key_args";

/// A local of the expansion: invisible to the user's tokens, and they to it.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The parameter's name, resolving as the user wrote it but located at its type, so that an
/// unmet bound on the argument is reported at the type. (Rebuilding the ident at the type's span
/// would also take the type's hygiene, which differs when a `macro_rules!` writes the function.)
fn at_type(param: &Param) -> Ident {
    let mut ident = param.ident.clone();
    ident.set_span(param.ident.span().located_at(param.ty.span()));
    ident
}

/// A checked `#[cache]` function, ready to expand.
struct Expansion<'a> {
    item: &'a ItemFn,
    sig: &'a Signature,
    opts: &'a Checked,
}

impl Expansion<'_> {
    /// Everything the attribute emits.
    fn items(&self) -> TokenStream {
        let uncached = self.uncached_fn();
        let cached = self.cached_fn();
        let invalidate = self.invalidate_fn();
        quote!(#uncached #cached #invalidate)
    }

    /// `NAME_uncached`: the user's signature and body, unchanged.
    fn uncached_fn(&self) -> TokenStream {
        let ItemFn {
            vis, sig, block, ..
        } = self.item;
        let (asyncness, generics, inputs, output, where_clause) = (
            &sig.asyncness,
            &sig.generics,
            &sig.inputs,
            &sig.output,
            &sig.generics.where_clause,
        );
        let ident = uncached_ident(&sig.ident);
        let doc = uncached_doc(&sig.ident);
        quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments)]
            #vis #asyncness fn #ident #generics (#inputs) #output #where_clause #block
        }
    }

    /// `NAME`: renders the key, then makes one call into the runtime.
    fn cached_fn(&self) -> TokenStream {
        let ItemFn {
            attrs, vis, sig, ..
        } = self.item;
        let (asyncness, ident, generics, output, where_clause) = (
            &sig.asyncness,
            &sig.ident,
            &sig.generics,
            &sig.output,
            &sig.generics.where_clause,
        );
        let params = self.params();
        let options = self.options_static();
        let value_check = self.value_check();
        let key_args = self.key_args();
        let call = self.call();
        let (options_local, key_args_local) = (local(OPTIONS_LOCAL), local(KEY_ARGS_LOCAL));
        quote! {
            #(#attrs)*
            #[allow(clippy::too_many_arguments, clippy::needless_borrow, clippy::redundant_closure)]
            #vis #asyncness fn #ident #generics (#params) #output #where_clause {
                let #options_local = #options;
                #value_check
                let #key_args_local = #key_args;
                #call
            }
        }
    }

    /// The `static` description of the options that the runtime reads and counts into, as a
    /// block giving `&'static Function`: the block scopes the `static` away from user tokens.
    fn options_static(&self) -> TokenStream {
        let name = self.name();
        let opts = self.opts;
        let (refresh, expire, retry, wait) = (
            millis(opts.refresh),
            millis(opts.expire),
            millis(opts.retry),
            opts.wait,
        );
        quote! {{
            static __REDISCACHE_OPTIONS: ::rediscache::Function = ::rediscache::Function::new(#name)
                .refresh(::core::time::Duration::from_millis(#refresh))
                .expire(::core::time::Duration::from_millis(#expire))
                .retry(::core::time::Duration::from_millis(#retry))
                .wait(#wait);
            &__REDISCACHE_OPTIONS
        }}
    }

    /// `NAME_invalidate`: the same key, removed.
    fn invalidate_fn(&self) -> TokenStream {
        let ItemFn { vis, sig, .. } = self.item;
        let (asyncness, generics, where_clause) =
            (&sig.asyncness, &sig.generics, &sig.generics.where_clause);
        let ident = invalidate_ident(&sig.ident);
        let doc = invalidate_doc(&sig.ident);
        let params = self.params();
        let cache = self.cache();
        let key_args = self.key_args();
        let skipped = self
            .sig
            .params
            .iter()
            .zip(&self.opts.in_key)
            .filter(|(_, in_key)| !**in_key)
            .map(|(p, _)| &p.ident);
        let options = self.options_static();
        let (invalidator, await_) = if self.sig.is_async {
            (quote!(invalidate_async), quote!(.await))
        } else {
            (quote!(invalidate_sync), quote!())
        };
        quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments, clippy::needless_borrow)]
            #vis #asyncness fn #ident #generics (#params) -> ::core::result::Result<(), ::rediscache::Error> #where_clause {
                #(let _ = &#skipped;)*
                ::rediscache::__private::#invalidator(#cache, #options, #key_args)
                #await_
            }
        }
    }

    /// The parameters of `NAME` and `NAME_invalidate`: the user's, as plain `name: Type`.
    fn params(&self) -> TokenStream {
        let idents = self.sig.params.iter().map(|p| &p.ident);
        let types = self.sig.params.iter().map(|p| &p.ty);
        quote!(#(#idents: #types),*)
    }

    /// The key arguments rendered; each `.arg` carries its type's span, so an argument that
    /// cannot be serialized is reported at its type.
    fn key_args(&self) -> TokenStream {
        let parts = self
            .sig
            .params
            .iter()
            .zip(&self.opts.in_key)
            .filter(|(_, in_key)| **in_key)
            .map(|(p, _)| {
                let id = at_type(p);
                quote_spanned!(p.ty.span()=> .arg(&#id))
            });
        quote!(::rediscache::__private::KeyArgs::new() #(#parts)* .finish())
    }

    /// The `&RedisCache` the calls use.
    fn cache(&self) -> TokenStream {
        match &self.opts.cache {
            Some(expr) => quote_spanned!(expr.span()=> &*(#expr)),
            None => quote!(::rediscache::__private::default_cache()),
        }
    }

    /// The function's name in keys and logs.
    fn name(&self) -> TokenStream {
        match &self.opts.name {
            Some(lit) => quote!(#lit),
            None => {
                let s = self.item.sig.ident.to_string();
                quote!(::core::concat!(::core::module_path!(), "::", #s))
            }
        }
    }

    /// The cached type: `T` of `Result<T, E>`, else the return type.
    fn value_type(&self) -> &Type {
        self.sig.ok_type.as_ref().unwrap_or(&self.sig.output)
    }

    /// Checks the cached type's serde bounds, reported at the user's type.
    fn value_check(&self) -> TokenStream {
        let value_ty = self.value_type();
        quote_spanned!(value_ty.span()=> let _ = ::rediscache::__private::assert_value::<#value_ty>;)
    }

    /// The one runtime call. For async functions the whole call, `.await` included, carries the
    /// value type's span, so an unmet bound on it is reported once, there.
    fn call(&self) -> TokenStream {
        let value_ty = self.value_type();
        let cache = self.cache();
        let make = self.make();
        let default = self.default();
        let shape = self.shape();
        let (options, key_args) = (local(OPTIONS_LOCAL), local(KEY_ARGS_LOCAL));
        let args = quote!(#cache, #options, #key_args, #make, #default, #shape);
        if self.sig.is_async {
            quote_spanned!(value_ty.span()=> ::rediscache::__private::call_async(#args).await)
        } else {
            quote!(::rediscache::__private::call_sync(#args))
        }
    }

    /// The closure that builds the job: reference arguments owned (`own`, spanned at their type
    /// for its `Clone` message), then `NAME_uncached` called with them.
    fn make(&self) -> TokenStream {
        let owns = self.sig.params.iter().filter(|p| p.by_ref).map(|p| {
            let (id, arg) = (&p.ident, at_type(p));
            quote_spanned!(p.ty.span()=> let #id = ::rediscache::__private::own(#arg);)
        });
        let uncached = local(&uncached_ident(&self.item.sig.ident).to_string());
        let passes = self.sig.params.iter().map(|p| {
            let id = &p.ident;
            if p.by_ref {
                quote!(::core::borrow::Borrow::borrow(&#id))
            } else {
                quote!(#id)
            }
        });
        let job = if self.sig.is_async {
            quote!(::rediscache::__private::AsyncJob(move || async move { #uncached(#(#passes),*).await }))
        } else {
            quote!(::rediscache::__private::SyncJob(move || #uncached(#(#passes),*)))
        };
        quote!(move || {
            #(#owns)*
            #job
        })
    }

    /// What a miss returns at once: the `default` option, else `Default`, else (with `wait`)
    /// nothing.
    fn default(&self) -> TokenStream {
        let ret = &self.sig.output;
        match (&self.opts.default, self.opts.wait) {
            (Some(expr), _) => {
                quote_spanned!(expr.span()=> ::core::option::Option::Some(|| -> #ret { #expr }))
            }
            (None, false) => quote_spanned!(ret.span()=>
                ::core::option::Option::Some(|| -> #ret { <#ret as ::rediscache::__private::DefaultValue>::default_value() })),
            (None, true) => quote!(::core::option::Option::None::<fn() -> #ret>),
        }
    }

    /// `Fallible` for `Result` (only `Ok` is cached), else `Plain`; at the value type's span.
    fn shape(&self) -> TokenStream {
        let span = self.value_type().span();
        let shape = if self.sig.ok_type.is_some() {
            "Fallible"
        } else {
            "Plain"
        };
        let shape = Ident::new(shape, span);
        quote_spanned!(span=> ::rediscache::__private::#shape)
    }
}
