//! Reads the cached function: its receiver, its parameters and what it returns.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, ItemFn, Pat, PathArguments, ReturnType, Type,
};

/// One parameter of the cached function.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// Taken by reference: a background recompute owns a `ToOwned` copy.
    pub(crate) by_ref: bool,
}

/// How a cached method takes `self`; a background refresh owns a copy of it.
#[derive(Clone, Copy)]
pub(crate) enum Receiver {
    /// A free or associated function: no `self`.
    None,
    /// `&self`: the refresh owns a clone of `Self`. (The span is the `self` token's.)
    Ref(Span),
    /// `self: Arc<Self>`: the refresh owns a clone of the `Arc`.
    Arc(Span),
}

/// What the expansion needs to know about the function.
pub(crate) struct Signature {
    pub(crate) receiver: Receiver,
    /// The receiver as written (`&self`, `&'a self`, `self: Arc<Self>`), for the signatures.
    pub(crate) receiver_tokens: Option<syn::Receiver>,
    pub(crate) params: Vec<Param>,
    /// A type or const parameter, or an `impl Trait` argument: its instantiations would share
    /// one name, so it needs `name`.
    pub(crate) generic: Option<Span>,
    pub(crate) is_async: bool,
    /// The declared return type (`()` when none).
    pub(crate) output: Type,
    /// For `Result<T, E>`: `T`, and only `Ok` values are cached.
    pub(crate) ok_type: Option<Type>,
}

/// Reads `item`'s signature, or explains what `#[cache]` cannot handle.
pub(crate) fn read(item: &ItemFn) -> syn::Result<Signature> {
    let sig = &item.sig;
    let mut errors: Option<syn::Error> = None;
    let mut fail = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    if let Some(c) = &sig.constness {
        fail(syn::Error::new(
            c.span,
            "`#[cache]` cannot be used on a `const fn`",
        ));
    }
    if let Some(u) = &sig.unsafety {
        fail(syn::Error::new(
            u.span,
            "`#[cache]` cannot be used on an `unsafe fn`",
        ));
    }
    if let Some(v) = &sig.variadic {
        fail(syn::Error::new(
            v.span(),
            "`#[cache]` cannot be used on a variadic function",
        ));
    }
    if let Some(ty) = boxed_future(&sig.output) {
        return Err(syn::Error::new_spanned(
            ty,
            "this method returns `Pin<Box<dyn Future>>`: `#[async_trait]` rewrote it before `#[rediscache::methods]` saw its `async fn`; put `#[rediscache::methods]` above `#[async_trait]`",
        ));
    }
    let mut receiver = Receiver::None;
    let mut receiver_tokens = None;
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => match read_receiver(r) {
                Ok(kind) => {
                    receiver = kind;
                    receiver_tokens = Some(r.clone());
                }
                Err(e) => fail(e),
            },
            FnArg::Typed(t) => {
                let Pat::Ident(pat) = &*t.pat else {
                    fail(syn::Error::new(
                        t.pat.span(),
                        "`#[cache]` needs each parameter to be a plain name, like `user: u64`",
                    ));
                    continue;
                };
                if pat.by_ref.is_some() || pat.subpat.is_some() {
                    fail(syn::Error::new(
                        t.pat.span(),
                        "`#[cache]` needs each parameter to be a plain name, like `user: u64`",
                    ));
                    continue;
                }
                let by_ref = match &*t.ty {
                    Type::Reference(r) if r.mutability.is_some() => {
                        fail(syn::Error::new_spanned(
                            &t.ty,
                            "a cached function cannot take `&mut` arguments: a cached call may not run the function at all",
                        ));
                        continue;
                    }
                    Type::Reference(_) => true,
                    _ => false,
                };
                params.push(Param {
                    ident: pat.ident.clone(),
                    ty: (*t.ty).clone(),
                    by_ref,
                });
            }
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let output: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    Ok(Signature {
        receiver,
        receiver_tokens,
        generic: generic(sig),
        params,
        is_async: sig.asyncness.is_some(),
        ok_type: ok_type(&output),
        output,
    })
}

/// `&self` or `self: Arc<Self>` (also `self: &Self`); any other receiver is an error that says
/// which ones work.
fn read_receiver(r: &syn::Receiver) -> syn::Result<Receiver> {
    let span = r.self_token.span;
    let mutable = || {
        syn::Error::new_spanned(
            r,
            "a cached method cannot take `&mut self`: a cached call may not run the method at all, and a background refresh runs it on a clone; take `&self` (state that changes belongs behind a `Mutex` or an atomic)",
        )
    };
    let other = || {
        syn::Error::new_spanned(
            r,
            "a cached method takes `&self` or `self: Arc<Self>`: a background refresh owns a clone of it",
        )
    };
    match &*r.ty {
        Type::Reference(reference) if is_self(&reference.elem) => {
            if reference.mutability.is_some() {
                Err(mutable())
            } else {
                Ok(Receiver::Ref(span))
            }
        }
        Type::Path(path) if r.colon_token.is_some() => match single_arg(path, "Arc") {
            Some(inner) if is_self(inner) => Ok(Receiver::Arc(span)),
            _ => Err(other()),
        },
        _ => Err(other()),
    }
}

/// Whether `ty` is `Self`.
fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

/// `T` when `path` is written `...Last<T>`.
fn single_arg<'a>(path: &'a syn::TypePath, last: &str) -> Option<&'a Type> {
    let segment = path.path.segments.last()?;
    if segment.ident != last {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
        _ => None,
    }
}

/// The return type when it is `Pin<Box<dyn Future ..>>`: what `#[async_trait]` makes of an
/// `async fn`.
fn boxed_future(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(pin) = &**ty else { return None };
    let Some(Type::Path(boxed)) = single_arg(pin, "Pin") else {
        return None;
    };
    let Some(Type::TraitObject(object)) = single_arg(boxed, "Box") else {
        return None;
    };
    let future = object.bounds.iter().any(|b| {
        matches!(b, syn::TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Future"))
    });
    future.then_some(&**ty)
}

/// The first type or const parameter, or `impl Trait` argument, of `sig`.
fn generic(sig: &syn::Signature) -> Option<Span> {
    let param = sig.generics.params.iter().find_map(|p| match p {
        GenericParam::Type(t) => Some(t.span()),
        GenericParam::Const(c) => Some(c.span()),
        GenericParam::Lifetime(_) => None,
    });
    param.or_else(|| {
        sig.inputs.iter().find_map(|input| match input {
            FnArg::Typed(t) => impl_trait(&t.ty),
            FnArg::Receiver(_) => None,
        })
    })
}

/// An `impl Trait` anywhere in `ty`.
fn impl_trait(ty: &Type) -> Option<Span> {
    struct Find(Option<Span>);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.0.get_or_insert(t.span());
        }
    }
    let mut find = Find(None);
    syn::visit::Visit::visit_type(&mut find, ty);
    find.0
}

/// `T` when `ty` is written `...Result<T, ..>` (also aliases such as `io::Result<T>`).
pub(crate) fn ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(src: &str) -> syn::Result<Signature> {
        read(&syn::parse_str::<ItemFn>(src).expect("parses"))
    }

    #[test]
    fn reads_params_references_and_result() {
        let s = sig("async fn f(a: u64, b: &str) -> std::io::Result<Vec<u8>> { todo!() }")
            .expect("valid");
        assert!(s.is_async);
        assert_eq!(s.params.len(), 2);
        assert!(!s.params[0].by_ref && s.params[1].by_ref);
        assert!(s.ok_type.is_some());
    }

    #[test]
    fn option_is_a_plain_value() {
        let s = sig("fn f() -> Option<u8> { None }").expect("valid");
        assert!(s.ok_type.is_none());
    }

    #[test]
    fn reads_shared_and_arc_receivers() {
        let s = sig("fn f(&self, a: u8) -> u8 { a }").expect("valid");
        assert!(matches!(s.receiver, Receiver::Ref(_)));
        assert_eq!(s.params.len(), 1, "the receiver is not a parameter");
        let s = sig("fn f(self: std::sync::Arc<Self>) -> u8 { 1 }").expect("valid");
        assert!(matches!(s.receiver, Receiver::Arc(_)));
        let s = sig("fn f(self: &Self) -> u8 { 1 }").expect("valid");
        assert!(matches!(s.receiver, Receiver::Ref(_)));
        let s = sig("fn f(a: u8) -> u8 { a }").expect("valid");
        assert!(matches!(s.receiver, Receiver::None));
    }

    #[test]
    fn rejects_other_receivers() {
        for src in [
            "fn f(&mut self) -> u8 { 1 }",
            "fn f(self: &mut Self) -> u8 { 1 }",
            "fn f(self) -> u8 { 1 }",
            "fn f(self: Box<Self>) -> u8 { 1 }",
            "fn f(self: std::rc::Rc<Self>) -> u8 { 1 }",
        ] {
            assert!(sig(src).is_err(), "{src}");
        }
    }

    #[test]
    fn finds_generics_but_not_lifetimes() {
        let generic = |src: &str| sig(src).expect("valid").generic.is_some();
        assert!(generic("fn f<T: Clone>(a: T) -> u8 { 1 }"));
        assert!(generic("fn f<const N: usize>() -> u8 { 1 }"));
        assert!(generic("fn f(a: impl serde::Serialize) -> u8 { 1 }"));
        assert!(generic("fn f(a: Vec<impl Clone>) -> u8 { 1 }"));
        assert!(!generic("fn f<'a>(a: &'a str) -> u8 { 1 }"));
    }

    #[test]
    fn explains_a_method_async_trait_rewrote() {
        let e = sig("fn f<'life0, 'async_trait>(&'life0 self) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = u8> + ::core::marker::Send + 'async_trait>> { todo!() }")
            .err()
            .expect("an error");
        assert!(e.to_string().contains("above `#[async_trait]`"), "{e}");
    }

    #[test]
    fn rejects_mut_refs_and_patterns() {
        assert!(sig("fn f(a: &mut u8) -> u8 { 1 }").is_err());
        assert!(sig("fn f((a, b): (u8, u8)) -> u8 { a }").is_err());
    }
}
