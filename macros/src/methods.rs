//! `#[rediscache::methods]` on an impl block: each `#[cache(..)]` method (also
//! `#[rediscache::cache(..)]`) is expanded here, knowing its type, so it is named
//! `module::Type::method` and its companions are associated items. In a trait impl, which can
//! hold only the trait's items, the companions go in an inherent `impl Type { .. }` of their
//! own, where `Self::Assoc` types become `<Self as Trait>::Assoc`.
//!
//! It must be the outer attribute: above `#[async_trait]`, which would otherwise turn each
//! `async fn` into one returning `Pin<Box<dyn Future>>` first (`signature.rs` explains that).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::visit_mut::VisitMut;
use syn::{Attribute, ImplItem, ImplItemFn, ItemFn, ItemImpl, Meta, Path};

use crate::expand::{self, Items};
use crate::place::Place;

/// Entry point: rewrites the `#[cache]` methods of the impl, leaves every other item alone.
pub(crate) fn methods(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut imp: ItemImpl = match syn::parse2(item.clone()) {
        Ok(imp) => imp,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[rediscache::methods]` goes on an `impl` block; on a function, use `#[rediscache::cache]`",
            )
            .to_compile_error();
            return quote!(#e #item);
        }
    };
    let mut errors = TokenStream::new();
    if !attr.is_empty() {
        let e = syn::Error::new_spanned(
            &attr,
            "`#[rediscache::methods]` takes no options: give them to each method's `#[cache(..)]`",
        );
        errors.extend(e.to_compile_error());
    }
    let place = Place::of(&imp);
    let imports = imports(&imp);
    let mut beside = TokenStream::new();
    let mut items = Vec::with_capacity(imp.items.len());
    for item in std::mem::take(&mut imp.items) {
        match item {
            ImplItem::Fn(f) if f.attrs.iter().any(is_cache) => {
                let Items {
                    in_place,
                    beside: more,
                } = method(f, &place);
                items.push(ImplItem::Verbatim(in_place));
                beside.extend(more);
            }
            other => items.push(other),
        }
    }
    imp.items = items;
    let companions = (!beside.is_empty()).then(|| {
        let (impl_generics, _, where_clause) = imp.generics.split_for_impl();
        let self_ty = &imp.self_ty;
        let attrs = imp.attrs.iter().filter(|a| carried(a));
        quote! {
            #(#attrs)*
            impl #impl_generics #self_ty #where_clause {
                #beside
            }
        }
    });
    quote!(#errors #imports #imp #companions)
}

/// `use cache as _;` for each path the `#[cache]` attributes of `imp` are written with: the
/// expansion consumes them, and the user's `use rediscache::cache` must not look unused.
fn imports(imp: &ItemImpl) -> TokenStream {
    let mut seen = Vec::new();
    let mut uses = TokenStream::new();
    for item in &imp.items {
        let ImplItem::Fn(f) = item else { continue };
        for path in f.attrs.iter().filter(|a| is_cache(a)).map(Attribute::path) {
            let text = quote!(#path).to_string();
            if !seen.contains(&text) {
                uses.extend(quote!(#[allow(unused_imports)] use #path as _;));
                seen.push(text);
            }
        }
    }
    uses
}

/// Expands one `#[cache]` method of the impl.
fn method(mut f: ImplItemFn, place: &Place) -> Items {
    let Some(first) = f.attrs.iter().position(is_cache) else {
        return Items {
            in_place: quote!(#f),
            beside: TokenStream::new(),
        };
    };
    let attr = f.attrs.remove(first);
    let twice = f
        .attrs
        .iter()
        .find(|a| is_cache(a))
        .map(|again| syn::Error::new_spanned(again, "`#[cache]` is given twice"));
    let args = match attr.meta {
        Meta::Path(_) => Ok(TokenStream::new()),
        Meta::List(list) => Ok(list.tokens),
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "write the options as `#[cache(refresh = \"10s\", expire = \"1m\")]`",
        )),
    };
    let default = f
        .defaultness
        .map(|d| syn::Error::new_spanned(d, "`#[cache]` cannot be used on a `default fn`"));
    let mut item = ItemFn {
        attrs: f.attrs,
        vis: f.vis,
        sig: f.sig,
        block: Box::new(f.block),
    };
    if let Some(trait_path) = place.trait_path() {
        QualifySelf(trait_path).visit_item_fn_mut(&mut item);
    }
    match (args, twice.or(default)) {
        (Ok(args), None) => expand::expand(args, &item, place),
        (Err(e), _) | (Ok(_), Some(e)) => crate::fallback::expand(&item, &e, place),
    }
}

/// `#[cache]`, `#[rediscache::cache]` or `#[::rediscache::cache]`.
fn is_cache(attr: &Attribute) -> bool {
    let segments = &attr.path().segments;
    match segments.len() {
        1 => segments[0].ident == "cache",
        2 => segments[0].ident == "rediscache" && segments[1].ident == "cache",
        _ => false,
    }
}

/// The impl's attributes that its companions' impl shares: `cfg`s and lint levels (not, say,
/// `#[async_trait]`).
fn carried(attr: &Attribute) -> bool {
    ["cfg", "allow", "expect", "warn", "deny", "forbid"]
        .iter()
        .any(|name| attr.path().is_ident(name))
}

/// Rewrites the types `Self::Assoc..` as `<Self as Trait>::Assoc..`: out of the trait impl, an
/// associated type of the trait is ambiguous otherwise.
struct QualifySelf<'a>(&'a Path);

impl VisitMut for QualifySelf<'_> {
    fn visit_type_path_mut(&mut self, ty: &mut syn::TypePath) {
        let segments = &ty.path.segments;
        let from_self = ty.qself.is_none()
            && ty.path.leading_colon.is_none()
            && segments.len() >= 2
            && segments[0].ident == "Self"
            && segments[0].arguments.is_none();
        if from_self {
            let trait_path = self.0;
            let rest = segments.iter().skip(1);
            *ty = syn::parse_quote!(<Self as #trait_path>::#(#rest)::*);
        }
        syn::visit_mut::visit_type_path_mut(self, ty);
    }

    // Items inside the body have no `Self` of ours.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(src: &str) -> String {
        let imp: TokenStream = src.parse().expect("tokens");
        methods(TokenStream::new(), imp).to_string()
    }

    #[test]
    fn names_each_method_after_its_type_and_leaves_other_items() {
        let out = expand(
            "impl Repo { #[cache(refresh = 1, expire = 2)] fn user(&self, id: u64) -> u64 { id } fn plain(&self) {} }",
        );
        assert!(
            out.contains(r#"module_path ! () , "::" , "Repo" , "::" , "user""#),
            "{out}"
        );
        assert!(
            out.contains("fn user_uncached (& self , id : u64)"),
            "{out}"
        );
        assert!(out.contains("fn user_invalidate_all ()"), "{out}");
        assert!(out.contains("fn plain (& self) { }"), "{out}");
        assert!(!out.contains("# [cache"), "{out}");
    }

    #[test]
    fn a_trait_impl_gets_an_inherent_impl_for_the_companions() {
        let out = expand(
            "impl store::Store for Pg { type Error = String; #[rediscache::cache(refresh = 1, expire = 2)] async fn user(&self, id: u64) -> Result<u64, Self::Error> { Ok(id) } }",
        );
        let (trait_impl, inherent) = out.split_once("impl Pg").expect("two impls");
        assert!(trait_impl.contains("async fn user (& self"), "{out}");
        assert!(!trait_impl.contains("fn user_uncached"), "{out}");
        assert!(
            inherent.contains("pub async fn user_uncached (& self , id : u64) -> Result < u64 , < Self as store :: Store > :: Error >"),
            "{out}"
        );
        assert!(inherent.contains("use store :: Store as _"), "{out}");
    }

    fn attr(src: &str) -> Attribute {
        let tokens: TokenStream = src.parse().expect("tokens");
        let item: syn::ItemStruct = syn::parse2(quote!(#tokens struct S;)).expect("an attribute");
        item.attrs[0].clone()
    }

    #[test]
    fn recognises_the_attribute_by_its_paths() {
        assert!(is_cache(&attr("#[cache(refresh = 1)]")));
        assert!(is_cache(&attr("#[rediscache::cache]")));
        assert!(is_cache(&attr("#[::rediscache::cache(x)]")));
        assert!(!is_cache(&attr("#[other::cache]")));
        assert!(!is_cache(&attr("#[cached]")));
    }
}
