//! Without the `local` feature: a tier that cannot exist, with the API the call path uses.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::Stamp;

/// A decoded value kept beside the bytes.
pub(crate) type Kept = Box<dyn Any + Send + Sync>;

/// Never built.
#[derive(Debug)]
pub(crate) enum Tier {}

/// Never built.
pub(crate) struct Held {
    pub(crate) entry: Box<[u8]>,
    pub(crate) stamp: Stamp,
    pub(crate) kept: Option<Kept>,
}

/// Never built.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ticket {}

/// What became of a fill, as with the feature (never: no tier fills without it).
#[derive(Debug, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "the call path matches the variants the feature builds"
)]
pub(crate) enum Filled {
    Kept,
    Discarded,
    Skipped,
}

impl Held {
    pub(crate) fn may_refresh(&self, _: u64, _: Duration) -> bool {
        false
    }
}

impl Tier {
    pub(crate) fn get(&self, _: &str, _: u64) -> Option<Arc<Held>> {
        match *self {}
    }

    pub(crate) fn ticket(&self, _: &str) -> Option<Ticket> {
        match *self {}
    }

    pub(crate) fn fill(
        &self,
        _: Ticket,
        _: &str,
        _: (Vec<u8>, Stamp, Option<Kept>),
        _: Duration,
    ) -> Filled {
        match *self {}
    }

    pub(crate) fn invalidate(&self, _: &[u8]) -> bool {
        match *self {}
    }
}
