//! Where a cached function lives: a module, an inherent impl or a trait impl. That decides its
//! default name (`module::fn` or `module::Type::method`), how the generated items reach each
//! other (by name, or through `Self::`), and where the companions go (beside the function, or,
//! for a trait impl, in an inherent impl of their own).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{GenericArgument, GenericParam, ItemImpl, Path, PathArguments, Type};

/// Where the cached function is.
pub(crate) enum Place {
    /// A free function (or an associated function without a receiver, which `#[cache]` alone
    /// cannot tell from one).
    Module,
    /// An associated function or method in an `impl` block.
    Impl(Impl),
}

/// The `impl` block around a cached method.
pub(crate) struct Impl {
    /// The self type as it appears in names (`UserRepo`), when `#[methods]` could read it.
    pub(crate) type_name: Option<String>,
    /// A type or const parameter of the impl: its instantiations would share a name.
    pub(crate) generic: Option<Span>,
    /// The trait of a trait impl, whose companions go in an inherent impl of their own.
    pub(crate) trait_path: Option<Path>,
    /// Whether `#[rediscache::methods]` is on the impl (else `#[cache]` found a receiver).
    pub(crate) methods: bool,
}

impl Place {
    /// A method `#[cache]` found on its own: it knows neither the impl nor the type.
    pub(crate) fn lone_method() -> Place {
        Place::Impl(Impl {
            type_name: None,
            generic: None,
            trait_path: None,
            methods: false,
        })
    }

    /// An item of `imp`, which carries `#[methods]`.
    pub(crate) fn of(imp: &ItemImpl) -> Place {
        let generic = imp.generics.params.iter().find_map(|p| match p {
            GenericParam::Type(t) => Some(t.span()),
            GenericParam::Const(c) => Some(c.span()),
            GenericParam::Lifetime(_) => None,
        });
        Place::Impl(Impl {
            type_name: type_name(&imp.self_ty).filter(|n| !n.contains(['{', '}'])),
            generic,
            trait_path: imp.trait_.as_ref().map(|(_, path, _)| path.clone()),
            methods: true,
        })
    }

    /// The trait of a trait impl.
    pub(crate) fn trait_path(&self) -> Option<&Path> {
        match self {
            Place::Impl(imp) => imp.trait_path.as_ref(),
            Place::Module => None,
        }
    }

    /// How generated code names a sibling item: `name` or `Self::name`.
    pub(crate) fn sibling(&self, ident: &syn::Ident) -> TokenStream {
        match self {
            Place::Module => quote!(#ident),
            Place::Impl(_) => quote!(Self::#ident),
        }
    }
}

/// The self type as it appears in a name: the last segment of a path with its type arguments
/// (`Repo<Pg>`, lifetimes left out), else the type as written without spaces.
pub(crate) fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            let mut name = last.ident.to_string();
            if let PathArguments::AngleBracketed(args) = &last.arguments {
                let args: Vec<String> = args
                    .args
                    .iter()
                    .filter_map(|arg| match arg {
                        GenericArgument::Lifetime(_) => None,
                        GenericArgument::Type(t) => type_name(t),
                        other => Some(compact(other.to_token_stream())),
                    })
                    .collect();
                if !args.is_empty() {
                    name = format!("{name}<{}>", args.join(","));
                }
            }
            Some(name)
        }
        Type::Group(group) => type_name(&group.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        other => Some(compact(other.to_token_stream())),
    }
}

/// Tokens as text, with a space only between two words (`dyn Trait`, `&'a T`).
fn compact(tokens: TokenStream) -> String {
    let text = tokens.to_string();
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
            if word(out.chars().last().as_ref()) && word(chars.get(i + 1)) {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(src: &str) -> Option<String> {
        type_name(&syn::parse_str::<Type>(src).expect("parses"))
    }

    #[test]
    fn names_a_type_by_its_last_segment_and_type_arguments() {
        assert_eq!(name("UserRepo").as_deref(), Some("UserRepo"));
        assert_eq!(name("crate::db::UserRepo").as_deref(), Some("UserRepo"));
        assert_eq!(name("Repo<'a, Pg>").as_deref(), Some("Repo<Pg>"));
        assert_eq!(name("Repo<'a>").as_deref(), Some("Repo"));
        assert_eq!(
            name("Repo<db::Pg, Vec<u8>>").as_deref(),
            Some("Repo<Pg,Vec<u8>>")
        );
        assert_eq!(
            name("&'static dyn Store").as_deref(),
            Some("&'static dyn Store")
        );
        assert_eq!(name("[u8]").as_deref(), Some("[u8]"));
    }

    #[test]
    fn an_impl_with_type_parameters_is_generic() {
        let imp: ItemImpl = syn::parse_quote!(
            impl<'a, T> Repo<'a, T> {}
        );
        let Place::Impl(i) = Place::of(&imp) else {
            panic!("an impl")
        };
        assert!(i.generic.is_some() && i.trait_path.is_none());
        let imp: ItemImpl = syn::parse_quote!(
            impl<'a> store::Store for Repo<'a> {}
        );
        let Place::Impl(i) = Place::of(&imp) else {
            panic!("an impl")
        };
        assert!(i.generic.is_none() && i.trait_path.is_some());
        assert_eq!(i.type_name.as_deref(), Some("Repo"));
    }
}
