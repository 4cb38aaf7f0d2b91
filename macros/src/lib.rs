//! The `#[cache]` attribute of the [`rediscache`](https://docs.rs/rediscache) crate. Use it
//! through `rediscache::cache`; this crate only emits glue that calls `rediscache`'s runtime.
//!
//! The pipeline is split one step per file: `args.rs` parses the options, `duration.rs` reads
//! durations, `signature.rs` reads the function, `validate.rs` checks them together, `expand.rs`
//! writes the code, and `fallback.rs` what stands in for it when they fail.

use proc_macro::TokenStream;

mod args;
mod duration;
mod expand;
mod fallback;
mod signature;
mod validate;

/// Caches a function's results in Redis. Documented in the `rediscache` crate.
#[proc_macro_attribute]
pub fn cache(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::cache(attr.into(), item.into()).into()
}
