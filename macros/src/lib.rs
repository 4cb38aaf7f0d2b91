//! The `#[cache]` and `#[methods]` attributes of the [`rediscache`](https://docs.rs/rediscache)
//! crate. Use them through `rediscache::cache` and `rediscache::methods`; this crate only emits
//! glue that calls `rediscache`'s runtime.
//!
//! The pipeline is split one step per file: `args.rs` parses the options, `duration.rs` reads
//! durations, `signature.rs` reads the function, `place.rs` knows where it lives (a module, an
//! inherent or a trait impl), `validate.rs` checks them together, `expand.rs` writes the
//! function (`job.rs` what its call computes with) and `companions.rs` the items beside it, `methods.rs` walks an impl block, and
//! `fallback.rs` writes what stands in for them when they fail.

use proc_macro::TokenStream;

mod args;
mod companions;
mod duration;
mod expand;
mod fallback;
mod job;
mod methods;
mod place;
mod signature;
mod validate;

/// Caches a function's results in Redis. Documented in the `rediscache` crate.
#[proc_macro_attribute]
pub fn cache(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::cache(attr.into(), item.into()).into()
}

/// Caches the `#[cache]` methods of an impl block, each named `module::Type::method`.
/// Documented in the `rediscache` crate.
#[proc_macro_attribute]
pub fn methods(attr: TokenStream, item: TokenStream) -> TokenStream {
    methods::methods(attr.into(), item.into()).into()
}
