//! The companions generated beside a cached `NAME`, async iff `NAME` is: `NAME_uncached` (in
//! `expand.rs`, as the user's body), `NAME_invalidate`, `NAME_invalidate_all`,
//! `NAME_expire_all`, `NAME_refresh`, `NAME_set` and `NAME_get`. Each is one call into the
//! runtime with the function's one `static`; their names and docs are shared with the stubs of
//! `fallback.rs`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::expand::{Expansion, suffixed};
use crate::place::Place;

/// One generated item beside `NAME`.
#[derive(Clone, Copy)]
pub(crate) enum Companion {
    Uncached,
    Invalidate,
    InvalidateAll,
    ExpireAll,
    Refresh,
    Set,
    Get,
}

impl Companion {
    /// Every companion the stubs stand in for.
    pub(crate) const ALL: [Companion; 7] = [
        Companion::Uncached,
        Companion::Invalidate,
        Companion::InvalidateAll,
        Companion::ExpireAll,
        Companion::Refresh,
        Companion::Set,
        Companion::Get,
    ];

    /// The companion's name beside `NAME`.
    pub(crate) fn ident(self, name: &Ident) -> Ident {
        let suffix = match self {
            Companion::Uncached => "uncached",
            Companion::Invalidate => "invalidate",
            Companion::InvalidateAll => "invalidate_all",
            Companion::ExpireAll => "expire_all",
            Companion::Refresh => "refresh",
            Companion::Set => "set",
            Companion::Get => "get",
        };
        suffixed(name, suffix)
    }

    /// Whether it takes the function's receiver and parameters (the others take none, unless
    /// the `cache = ..` expression reads them).
    pub(crate) fn takes_args(self) -> bool {
        !matches!(self, Companion::InvalidateAll | Companion::ExpireAll)
    }

    /// The companion's doc comment.
    pub(crate) fn doc(self, name: &Ident, place: &Place) -> String {
        let f = match place {
            Place::Module => format!("[`{name}`]"),
            Place::Impl(_) => format!("[`{name}`](Self::{name})"),
        };
        let key_errors = "# Errors\nWhen Redis fails or the arguments give no key.";
        match self {
            Companion::Uncached => format!("Calls {f} itself, without the cache."),
            Companion::Invalidate => format!(
                "Removes the cached result of {f} for these arguments: the next call computes anew, and no computation that started before can store its value.\n\n{key_errors}"
            ),
            Companion::InvalidateAll => format!(
                "Makes every entry of {f} a miss, in every process: the next call of each computes anew.\n\n# Errors\nWhen Redis fails."
            ),
            Companion::ExpireAll => format!(
                "Makes every entry of {f} stale, in every process: each is still served, and refreshed once, fleet-wide, at its next call.\n\n# Errors\nWhen Redis fails."
            ),
            Companion::Refresh => format!(
                "Computes {f} for these arguments now, whatever the freshness of the cached value, stores the result (waking whoever waits for it) and returns it. The cache failing never fails the call."
            ),
            Companion::Set => format!(
                "Stores `value` as the cached result of {f} for these arguments (given after it), fresh, and wakes whoever waits for it.\n\n# Errors\nWhen Redis fails, the arguments give no key or the value cannot be stored."
            ),
            Companion::Get => format!(
                "The cached result of {f} for these arguments, with its age and freshness, as a call would serve it; `None` when there is none. Nothing is computed, counted or refreshed.\n\n{key_errors}"
            ),
        }
    }
}

/// The parameter of `NAME_set` that holds the value: hygienic, so a parameter of the user's
/// called `value` does not collide with it.
pub(crate) fn value_param() -> Ident {
    Ident::new("value", Span::mixed_site())
}

impl Expansion<'_> {
    /// Every companion but `NAME_uncached`.
    pub(crate) fn companions(&self) -> TokenStream {
        let items = [
            self.invalidate_fn(),
            self.invalidate_all_fn(Companion::InvalidateAll),
            self.invalidate_all_fn(Companion::ExpireAll),
            self.refresh_fn(),
            self.set_fn(),
            self.get_fn(),
        ];
        quote!(#(#items)*)
    }

    /// A companion's signature: `#vis [async] fn NAME_x` with `NAME`'s generics and, when it
    /// takes them, its receiver, the `extra` parameters, then `NAME`'s parameters.
    fn header(&self, which: Companion, extra: TokenStream, output: TokenStream) -> TokenStream {
        let sig = &self.item.sig;
        let ident = which.ident(&sig.ident);
        let doc = which.doc(&sig.ident, self.place);
        let vis = self.vis();
        let asyncness = &sig.asyncness;
        if !which.takes_args() && !self.cache_reads_args() {
            return quote! {
                #[doc = #doc]
                #vis #asyncness fn #ident() -> #output
            };
        }
        let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
        let params = self.params(extra);
        quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments, clippy::needless_borrow, clippy::redundant_closure)]
            #vis #asyncness fn #ident #generics (#params) -> #output #where_clause
        }
    }

    /// The `sync` or `async` twin of a runtime entry point, and the `.await` it needs.
    fn entry(&self, name: &str) -> (Ident, TokenStream) {
        let twin = if self.sig.is_async { "async" } else { "sync" };
        // At the value type: an unmet bound of the entry point is then the one error `NAME`'s
        // check of that type already reported (rustc drops what the same span implies).
        let ident = Ident::new(&format!("{name}_{twin}"), self.value_type().span());
        let await_ = if self.sig.is_async {
            quote_spanned!(self.value_type().span()=> .await)
        } else {
            TokenStream::new()
        };
        (ident, await_)
    }

    /// `NAME_invalidate`: the same key, removed.
    fn invalidate_fn(&self) -> TokenStream {
        let header = self.header(
            Companion::Invalidate,
            TokenStream::new(),
            quote!(::core::result::Result<(), ::rediscache::Error>),
        );
        let (prelude, skipped, target) = (self.prelude(), self.skipped(), self.target());
        let (entry, await_) = self.entry("invalidate");
        quote! {
            #header {
                #prelude
                #skipped
                ::rediscache::__private::#entry(#target) #await_
            }
        }
    }

    /// `NAME_invalidate_all` (`ExpireAll`: `NAME_expire_all`): every entry of the function a
    /// miss (stale), through the `Function`'s own method.
    fn invalidate_all_fn(&self, which: Companion) -> TokenStream {
        let header = self.header(
            which,
            TokenStream::new(),
            quote!(::core::result::Result<(), ::rediscache::Error>),
        );
        let method = match (which, self.sig.is_async) {
            (Companion::ExpireAll, true) => "expire_all",
            (Companion::ExpireAll, false) => "expire_all_blocking",
            (_, true) => "invalidate_all",
            (_, false) => "invalidate_all_blocking",
        };
        let method = Ident::new(method, Span::call_site());
        let await_ = self.entry("").1;
        let (function, cache) = (self.function(), self.cache());
        // The parameters are there only for a `cache = ..` that reads them.
        let unused = self.sig.params.iter().map(|p| &p.ident);
        let unused = self
            .cache_reads_args()
            .then(|| quote!(#(let _ = &#unused;)*));
        quote! {
            #header {
                #unused
                ::rediscache::Function::#method(#function, #cache) #await_
            }
        }
    }

    /// Whether the `cache = ..` expression names `self` or a parameter (a cache picked per
    /// call): then `NAME_invalidate_all` and `NAME_expire_all` take the arguments too, and act
    /// on the cache they pick.
    fn cache_reads_args(&self) -> bool {
        fn names(tokens: TokenStream, wanted: &dyn Fn(&Ident) -> bool) -> bool {
            tokens.into_iter().any(|tree| match tree {
                proc_macro2::TokenTree::Ident(ident) => wanted(&ident),
                proc_macro2::TokenTree::Group(group) => names(group.stream(), wanted),
                _ => false,
            })
        }
        let Some(expr) = &self.opts.cache else {
            return false;
        };
        let wanted =
            |ident: &Ident| ident == "self" || self.sig.params.iter().any(|p| p.ident == *ident);
        names(quote!(#expr), &wanted)
    }

    /// `NAME_refresh`: runs the function now and stores what it returns, whatever the entry's
    /// freshness.
    fn refresh_fn(&self) -> TokenStream {
        let output = &self.sig.output;
        let header = self.header(Companion::Refresh, TokenStream::new(), quote!(#output));
        let (prelude, target, make, shape) =
            (self.prelude(), self.target(), self.make(), self.shape());
        let (entry, await_) = self.entry("refresh");
        let args = quote!(#target, #make, #shape);
        // As `NAME`'s call: for async functions at the value type, for its one error.
        let call = if self.sig.is_async {
            let value_ty = self.value_type();
            quote_spanned!(value_ty.span()=> ::rediscache::__private::#entry(#args) #await_)
        } else {
            quote!(::rediscache::__private::#entry(#args))
        };
        quote! {
            #header {
                #prelude
                #call
            }
        }
    }

    /// `NAME_set(value, ..)`: stores `value` for these arguments. The value comes first: the
    /// arguments are as many as the function has.
    fn set_fn(&self) -> TokenStream {
        let value_ty = self.value_type();
        let value = value_param();
        let header = self.header(
            Companion::Set,
            quote!(#value: &#value_ty,),
            quote!(::core::result::Result<(), ::rediscache::Error>),
        );
        let (prelude, skipped, target) = (self.prelude(), self.skipped(), self.target());
        let (entry, await_) = self.entry("prime");
        // At the value type, as `NAME`'s check of it: an unmet serde bound is that one error.
        let call = quote_spanned!(value_ty.span()=>
            ::rediscache::__private::#entry::<#value_ty>(#target, #value) #await_);
        quote! {
            #header {
                #prelude
                #skipped
                #call
            }
        }
    }

    /// `NAME_get`: the entry for these arguments, with its age and freshness.
    fn get_fn(&self) -> TokenStream {
        let value_ty = self.value_type();
        let header = self.header(
            Companion::Get,
            TokenStream::new(),
            quote!(::core::result::Result<::core::option::Option<::rediscache::Cached<#value_ty>>, ::rediscache::Error>),
        );
        let (prelude, skipped, target) = (self.prelude(), self.skipped(), self.target());
        let (entry, await_) = self.entry("peek");
        let call = quote_spanned!(value_ty.span()=>
            ::rediscache::__private::#entry::<#value_ty>(#target) #await_);
        quote! {
            #header {
                #prelude
                #skipped
                #call
            }
        }
    }
}
