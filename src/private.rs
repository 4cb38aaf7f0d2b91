//! What generated code names: `::rediscache::__private::...`. Not public API; may change in any
//! release. Re-exports only: everything here lives where its job is.

pub use crate::cache::default_cache;
pub use crate::call::asynchronous::{
    AsyncJob, call_async, invalidate_async, peek_async, prime_async, refresh_async,
};
pub use crate::call::blocking::{
    SyncJob, call_sync, invalidate_sync, peek_sync, prime_sync, refresh_sync,
};
pub use crate::call::bounds::{
    CacheValue, DefaultValue, KeyArg, KeyArgs, OwnArg, assert_value, own,
};
pub use crate::call::bounds::{OwnSelf, ShareSelf, async_job, own_self, share_self, sync_job};
pub use crate::call::local::{Copier, Probe, ViaClone, ViaDecode};
pub use crate::call::returns::{Fallible, Plain};
#[cfg(feature = "local")]
pub use crate::local::test_hooks as local_test_hooks;
pub use crate::stats::FunctionStats;
