//! What a call of the function computes with: the job (`NAME_uncached` called with owned
//! copies of the receiver and the reference arguments), what a miss returns at once, and which
//! part of the return value is stored. Used by `NAME` and `NAME_refresh`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::companions::Companion;
use crate::expand::{Expansion, SELF_LOCAL, at_type, local};
use crate::place::Place;
use crate::signature::Receiver;

impl Expansion<'_> {
    /// The receiver, bound before the call for the job to copy: `&Self`, or `&Arc<Self>`.
    pub(crate) fn receiver_binding(&self) -> TokenStream {
        let Some(receiver) = &self.sig.receiver_tokens else {
            return TokenStream::new();
        };
        let (this, self_token) = (local(SELF_LOCAL), &receiver.self_token);
        match self.sig.receiver {
            Receiver::Arc(_) => quote!(let #this = &#self_token;),
            _ => quote!(let #this = #self_token;),
        }
    }

    /// The closure that builds the job: the receiver and the reference arguments owned (through
    /// bounds spanned at the receiver and the types, for their messages), then `NAME_uncached`
    /// called with them, through `async_job` / `sync_job`, whose bounds make an argument that
    /// is not `Send` one error for `NAME` and `NAME_refresh`.
    pub(crate) fn make(&self) -> TokenStream {
        let owns = self.sig.params.iter().filter(|p| p.by_ref).map(|p| {
            let (id, arg) = (&p.ident, at_type(p));
            quote_spanned!(p.ty.span()=> let #id = ::rediscache::__private::own(#arg);)
        });
        let this = local(SELF_LOCAL);
        // Spanned at `self`, with `Self` named: an unmet bound is reported at the receiver.
        let (own_self, pass_self) = match self.sig.receiver {
            Receiver::None => (TokenStream::new(), TokenStream::new()),
            Receiver::Ref(span) => (
                quote_spanned!(span=> let #this = ::rediscache::__private::own_self::<Self>(#this);),
                quote!(&#this,),
            ),
            Receiver::Arc(span) => (
                quote_spanned!(span=> let #this = ::rediscache::__private::share_self::<Self>(#this);),
                quote!(#this,),
            ),
        };
        let ident = Companion::Uncached.ident(&self.item.sig.ident);
        let uncached = match self.place {
            Place::Module => {
                let ident = local(&ident.to_string());
                quote!(#ident)
            }
            Place::Impl(_) => quote!(Self::#ident),
        };
        let passes = self.sig.params.iter().map(|p| {
            let id = &p.ident;
            if p.by_ref {
                quote!(::core::borrow::Borrow::borrow(&#id))
            } else {
                quote!(#id)
            }
        });
        let job = if self.sig.is_async {
            quote!(::rediscache::__private::async_job(move || async move { #uncached(#pass_self #(#passes),*).await }))
        } else {
            quote!(::rediscache::__private::sync_job(move || #uncached(#pass_self #(#passes),*)))
        };
        quote!(move || {
            #(#owns)*
            #own_self
            #job
        })
    }

    /// What a miss returns at once: the `default` option, else `Default`, else (with `wait`)
    /// nothing.
    pub(crate) fn default(&self) -> TokenStream {
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
    pub(crate) fn shape(&self) -> TokenStream {
        let span = self.value_type().span();
        let shape = if self.sig.ok_type.is_some() {
            "Fallible"
        } else {
            "Plain"
        };
        let shape = Ident::new(shape, span);
        quote_spanned!(span=> ::rediscache::__private::#shape)
    }

    /// The shape and how a hit from the local tier copies the value: a clone when the value
    /// type is `Clone + Sync`, else a decode (the runtime's `Probe`, by method resolution).
    pub(crate) fn shape_and_copier(&self) -> TokenStream {
        let shape = self.shape();
        let value_ty = self.value_type();
        // At the value type's span, as the shape, so an unmet bound on it is reported once.
        quote_spanned!(value_ty.span()=> (#shape, {
            #[allow(unused_imports)]
            use ::rediscache::__private::{ViaClone as _, ViaDecode as _};
            (&::rediscache::__private::Probe::<#value_ty>::new()).copier()
        }))
    }
}
