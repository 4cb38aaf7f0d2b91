//! Reads the cached function: its parameters and what it returns.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

/// One parameter of the cached function.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// Taken by reference: a background recompute owns a `ToOwned` copy.
    pub(crate) by_ref: bool,
}

/// What the expansion needs to know about the function.
pub(crate) struct Signature {
    pub(crate) params: Vec<Param>,
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
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => fail(syn::Error::new_spanned(
                r,
                "`#[cache]` caches free functions, not methods: move the body into a function of its arguments",
            )),
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
        params,
        is_async: sig.asyncness.is_some(),
        ok_type: ok_type(&output),
        output,
    })
}

/// `T` when `ty` is written `...Result<T, ..>` (also aliases such as `io::Result<T>`).
fn ok_type(ty: &Type) -> Option<Type> {
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
    fn rejects_receivers_mut_refs_and_patterns() {
        assert!(sig("fn f(&self) -> u8 { 1 }").is_err());
        assert!(sig("fn f(a: &mut u8) -> u8 { 1 }").is_err());
        assert!(sig("fn f((a, b): (u8, u8)) -> u8 { a }").is_err());
    }
}
