//! Where a cache's counts go: a hash in Redis that every process adds to in batches, and from
//! which stats reads sum.

use std::collections::HashMap;

use crate::Error;
use crate::backend::Backend;
use crate::stats::Counter;
use crate::stats::observe;
use crate::stats::pending::{Function, Pending};

/// How many hashes hold the counts on a cluster.
const SHARDS: u64 = 16;

/// One cache's counts: those not yet in Redis, and where in Redis they go.
#[derive(Debug)]
pub(crate) struct Tally {
    pending: Pending,
    prefix: String,
    /// This process's hash on a cluster (`None`: the one hash of a single server).
    shard: Option<u64>,
    /// Held while pending counts travel to Redis, so a stats read sees them.
    flushing: tokio::sync::Mutex<()>,
}

impl Tally {
    /// Counts for a cache with this key prefix; `cluster` spreads them over [`SHARDS`] hashes.
    pub(crate) fn new(prefix: &str, cluster: bool) -> Tally {
        use std::hash::BuildHasher;
        let shard = cluster.then(|| {
            std::collections::hash_map::RandomState::new().hash_one(std::process::id()) % SHARDS
        });
        Tally {
            pending: Pending::default(),
            prefix: prefix.to_owned(),
            shard,
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts `c` for `function`: one atomic add on the common path.
    pub(crate) fn count(&self, function: Function, c: Counter) {
        self.pending.count(function, c);
        observe::event(function, c);
    }

    /// Whether anything waits to be flushed.
    pub(crate) fn any(&self) -> bool {
        self.pending.any()
    }

    /// Where this process adds its counts. On a cluster, processes spread their counts over
    /// [`SHARDS`] hashes in different slots, so no one node takes all counter traffic.
    fn key(&self) -> String {
        match self.shard {
            None => format!("{}:stats", self.prefix),
            Some(shard) => format!("{}:stats:{{{shard}}}", self.prefix),
        }
    }

    /// Every key holding counts.
    fn keys(&self) -> Vec<String> {
        match self.shard {
            None => vec![format!("{}:stats", self.prefix)],
            Some(_) => (0..SHARDS)
                .map(|shard| format!("{}:stats:{{{shard}}}", self.prefix))
                .collect(),
        }
    }

    /// Adds the pending counts to Redis, each counter's total and per function under
    /// `COUNTER@FUNCTION`; on failure they are put back, so none are lost.
    pub(crate) async fn flush(&self, backend: Result<&Backend, Error>) -> Result<(), Error> {
        let _flushing = self.flushing.lock().await;
        let taken = self.pending.take();
        if taken.is_empty() {
            return Ok(());
        }
        let mut totals = [0u64; Counter::ALL.len()];
        let mut fields = Vec::new();
        for t in &taken {
            for &(c, n) in &t.counts {
                totals[c as usize] += n;
                // The local tier's own counts belong to no function.
                if t.function != crate::local::TIER_NAME {
                    fields.push((format!("{}@{}", c.field(), t.function), n));
                }
            }
        }
        for c in Counter::ALL {
            if totals[c as usize] > 0 {
                fields.push((c.field().to_owned(), totals[c as usize]));
            }
        }
        let result = match backend {
            Ok(b) => b.add_to_hash(&self.key(), &fields).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            Pending::restore(&taken);
        }
        result
    }

    /// Every field of the stats hashes, summed over the shards, after this process's pending
    /// counts; with `reset`, deleted in the same step.
    pub(crate) async fn read(
        &self,
        backend: &Backend,
        reset: bool,
    ) -> Result<HashMap<String, i64>, Error> {
        self.flush(Ok(backend)).await?;
        let mut total = HashMap::new();
        for key in self.keys() {
            for (field, n) in backend.read_stats(&key, reset).await? {
                *total.entry(field).or_insert(0) += n;
            }
        }
        Ok(total)
    }
}
