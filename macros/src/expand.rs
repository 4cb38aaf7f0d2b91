//! Writes the code of a checked function, one function per generated item: `NAME_uncached`
//! (the user's body, unchanged), `NAME` (one call into the runtime) and the function's one
//! `static Function`, behind a hidden accessor every generated item calls. The companions are in
//! `companions.rs`, what the call computes with in `job.rs`. Generated code names only rooted
//! paths.
//!
//! Hygiene: the locals the expansion binds are `__rediscache_*` names at `Span::mixed_site()`,
//! which user tokens (parameters, `cache = ..`, `default = ..`) cannot see or shadow; the
//! `static` lives inside the accessor, which holds no user tokens; and a free `NAME` calls
//! `NAME_uncached` through a mixed-site name, so a parameter called `NAME_uncached` does not
//! hide it (methods call `Self::NAME_uncached`, which no local hides).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, Type};

use crate::args::Args;
use crate::companions::Companion;
use crate::fallback;
use crate::place::Place;
use crate::signature::{self, Param, Signature};
use crate::validate::{self, Checked};

/// What one cached function expands to: the items that replace it, and those that go in an
/// inherent impl of their own (a trait impl's companions; empty elsewhere).
pub(crate) struct Items {
    pub(crate) in_place: TokenStream,
    pub(crate) beside: TokenStream,
}

/// Entry point of `#[cache]` on its own: a free function, or a method (found by its receiver)
/// in an impl without `#[methods]`.
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
    let place = if item.sig.receiver().is_some() {
        Place::lone_method()
    } else {
        Place::Module
    };
    let Items { in_place, beside } = expand(attr, &item, &place);
    quote!(#in_place #beside)
}

/// Parse, read, check, expand one function in `place`. On error, the user's function and stubs
/// of its companions are still emitted (see `fallback.rs`), so the compiler reports only our
/// error, not a cascade of missing items.
pub(crate) fn expand(attr: TokenStream, item: &ItemFn, place: &Place) -> Items {
    match check(attr, item, place) {
        Ok((sig, opts)) => Expansion {
            item,
            sig: &sig,
            opts: &opts,
            place,
        }
        .items(),
        Err(e) => fallback::expand(item, &e, place),
    }
}

/// Parses the options, reads the function and checks them together.
fn check(attr: TokenStream, item: &ItemFn, place: &Place) -> syn::Result<(Signature, Checked)> {
    let args = syn::parse2::<Args>(attr)?;
    let sig = signature::read(item)?;
    let checked = validate::check(args, &sig, place, &item.sig.ident)?;
    Ok((sig, checked))
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The expansion's locals: the function, the rendered key arguments, the receiver.
pub(crate) const FUNCTION_LOCAL: &str = "__rediscache_function";
pub(crate) const KEY_ARGS_LOCAL: &str = "__rediscache_key_args";
pub(crate) const SELF_LOCAL: &str = "__rediscache_self";

/// A local of the expansion: invisible to the user's tokens, and they to it.
pub(crate) fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The hidden accessor of the function's `static Function`.
pub(crate) fn function_ident(ident: &Ident) -> Ident {
    local(&format!("__rediscache_{ident}"))
}

/// The parameter's name, resolving as the user wrote it but located at its type, so that an
/// unmet bound on the argument is reported at the type. (Rebuilding the ident at the type's span
/// would also take the type's hygiene, which differs when a `macro_rules!` writes the function.)
pub(crate) fn at_type(param: &Param) -> Ident {
    let mut ident = param.ident.clone();
    ident.set_span(param.ident.span().located_at(param.ty.span()));
    ident
}

/// A checked `#[cache]` function, ready to expand.
pub(crate) struct Expansion<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) sig: &'a Signature,
    pub(crate) opts: &'a Checked,
    pub(crate) place: &'a Place,
}

impl Expansion<'_> {
    /// Everything the attribute emits; in a trait impl only `NAME` stays there.
    fn items(&self) -> Items {
        let cached = self.cached_fn();
        let uncached = self.uncached_fn();
        let function = self.function_fn();
        let companions = self.companions();
        let rest = quote!(#uncached #function #companions);
        if self.place.trait_path().is_some() {
            Items {
                in_place: cached,
                beside: rest,
            }
        } else {
            Items {
                in_place: quote!(#cached #rest),
                beside: TokenStream::new(),
            }
        }
    }

    /// The visibility of the generated items: the function's, or `pub` beside a trait impl,
    /// whose methods are as visible as the trait and the type.
    pub(crate) fn vis(&self) -> TokenStream {
        if self.place.trait_path().is_some() {
            quote!(pub)
        } else {
            let vis = &self.item.vis;
            quote!(#vis)
        }
    }

    /// `NAME_uncached`: the user's signature and body, unchanged.
    fn uncached_fn(&self) -> TokenStream {
        let ItemFn { sig, block, .. } = self.item;
        let (asyncness, generics, inputs, output, where_clause) = (
            &sig.asyncness,
            &sig.generics,
            &sig.inputs,
            &sig.output,
            &sig.generics.where_clause,
        );
        let ident = Companion::Uncached.ident(&sig.ident);
        let doc = Companion::Uncached.doc(&sig.ident, self.place);
        let vis = self.vis();
        // Beside a trait impl, the trait's methods stay callable as in the impl.
        let trait_in_scope = self.place.trait_path().map(|path| {
            let mut path = path.clone();
            for segment in &mut path.segments {
                segment.arguments = syn::PathArguments::None;
            }
            quote!(#[allow(unused_imports)] use #path as _;)
        });
        let stmts = &block.stmts;
        quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments)]
            #vis #asyncness fn #ident #generics (#inputs) #output #where_clause {
                #trait_in_scope
                #(#stmts)*
            }
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
        let params = self.params(TokenStream::new());
        let prelude = self.prelude();
        let call = self.call();
        quote! {
            #(#attrs)*
            #[allow(clippy::too_many_arguments, clippy::needless_borrow, clippy::redundant_closure)]
            #vis #asyncness fn #ident #generics (#params) #output #where_clause {
                #prelude
                #call
            }
        }
    }

    /// What `NAME` and the companions that run the function start with: the function, the
    /// value type's check, the rendered key, and the receiver the job clones.
    pub(crate) fn prelude(&self) -> TokenStream {
        let function = self.function();
        let value_check = self.value_check();
        let key_args = self.key_args();
        let receiver = self.receiver_binding();
        let (function_local, key_args_local) = (local(FUNCTION_LOCAL), local(KEY_ARGS_LOCAL));
        quote! {
            let #function_local = #function;
            #value_check
            let #key_args_local = #key_args;
            #receiver
        }
    }

    /// The hidden accessor of the one `static Function` that `NAME` and every companion use:
    /// one set of stats and one generation cell per function.
    fn function_fn(&self) -> TokenStream {
        let name = self.name();
        let opts = self.opts;
        let (refresh, expire, retry, wait, in_memory) = (
            millis(opts.refresh),
            millis(opts.expire),
            millis(opts.retry),
            opts.wait,
            opts.local,
        );
        let ident = function_ident(&self.item.sig.ident);
        let stat = local("FUNCTION");
        quote! {
            #[doc(hidden)]
            fn #ident() -> &'static ::rediscache::Function {
                static #stat: ::rediscache::Function = ::rediscache::Function::new(#name)
                    .refresh(::core::time::Duration::from_millis(#refresh))
                    .expire(::core::time::Duration::from_millis(#expire))
                    .retry(::core::time::Duration::from_millis(#retry))
                    .wait(#wait)
                    .local(#in_memory);
                &#stat
            }
        }
    }

    /// The `&'static Function`, through its accessor.
    pub(crate) fn function(&self) -> TokenStream {
        let accessor = self.place.sibling(&function_ident(&self.item.sig.ident));
        quote!(#accessor())
    }

    /// The parameters of `NAME` and its companions: the receiver as written, `extra` (such as
    /// `NAME_set`'s value), then the user's parameters as plain `name: Type`.
    pub(crate) fn params(&self, extra: TokenStream) -> TokenStream {
        let receiver = self.sig.receiver_tokens.as_ref().map(|r| quote!(#r,));
        let idents = self.sig.params.iter().map(|p| &p.ident);
        let types = self.sig.params.iter().map(|p| &p.ty);
        quote!(#receiver #extra #(#idents: #types),*)
    }

    /// The key arguments rendered: `key_self` first, then the parameters in the key; each
    /// `.arg` carries its expression's or type's span, so an argument that cannot be
    /// serialized is reported there.
    pub(crate) fn key_args(&self) -> TokenStream {
        let key_self = self
            .opts
            .key_self
            .as_ref()
            .map(|expr| quote_spanned!(expr.span()=> .arg(&(#expr))));
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
        quote!(::rediscache::__private::KeyArgs::new() #key_self #(#parts)* .finish())
    }

    /// The parameters left out of the key, for companions that do not otherwise use them.
    pub(crate) fn skipped(&self) -> TokenStream {
        let skipped = self
            .sig
            .params
            .iter()
            .zip(&self.opts.in_key)
            .filter(|(_, in_key)| !**in_key)
            .map(|(p, _)| &p.ident);
        quote!(#(let _ = &#skipped;)*)
    }

    /// The `&RedisCache` the calls use. Typed through one function, so that a `cache = ..` of
    /// the wrong type is one error, the same in `NAME` and in every companion (rustc shows it
    /// once), rather than one per runtime entry point.
    pub(crate) fn cache(&self) -> TokenStream {
        match &self.opts.cache {
            Some(expr) => quote_spanned!(expr.span()=>
                ::core::convert::identity::<&::rediscache::RedisCache>(&*(#expr))),
            None => quote!(::rediscache::__private::default_cache()),
        }
    }

    /// The function's name in keys and logs: `name`, else `module::fn` or
    /// `module::Type::method`.
    fn name(&self) -> TokenStream {
        let fn_name = self.item.sig.ident.to_string();
        match (&self.opts.name, self.place) {
            (Some(lit), _) => quote!(#lit),
            (None, Place::Impl(imp)) => {
                let type_name = imp.type_name.as_deref().unwrap_or("_");
                quote!(::core::concat!(::core::module_path!(), "::", #type_name, "::", #fn_name))
            }
            (None, Place::Module) => {
                quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
            }
        }
    }

    /// The cached type: `T` of `Result<T, E>`, else the return type.
    pub(crate) fn value_type(&self) -> &Type {
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
        let shape = self.shape_and_copier();
        let (function, key_args) = (local(FUNCTION_LOCAL), local(KEY_ARGS_LOCAL));
        let args = quote!(#cache, #function, #key_args, #make, #default, #shape);
        if self.sig.is_async {
            quote_spanned!(value_ty.span()=> ::rediscache::__private::call_async(#args).await)
        } else {
            quote_spanned!(value_ty.span()=> ::rediscache::__private::call_sync(#args))
        }
    }

    /// The arguments of a runtime call that runs the function: the cache, the function and the
    /// key, bound by [`prelude`](Self::prelude).
    pub(crate) fn target(&self) -> TokenStream {
        let cache = self.cache();
        let (function, key_args) = (local(FUNCTION_LOCAL), local(KEY_ARGS_LOCAL));
        quote!(#cache, #function, #key_args)
    }
}

/// `NAME_suffix`, a companion's name, at the span of `NAME`.
pub(crate) fn suffixed(ident: &Ident, suffix: &str) -> Ident {
    format_ident!("{}_{}", ident, suffix)
}
