//! Applies what the tracking connections tell (`backend/tracking.rs`) to the tier: a changed
//! key is invalidated (on the connection's driver, as it is read: [`changed`]), a flush or a
//! lost connection empties it, a heartbeat vouches for it (in a task: [`listen`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::tier::Tier;
use crate::backend::tracking::{OnChanged, Signal};
use crate::stats::Counter;
use crate::stats::observe::Throttle;

/// What to do with each key Redis reports changed: invalidate it, right away, on the tracking
/// connection's driver (see `backend/tracking.rs` for why that keeps the order with the
/// heartbeats). `count` counts the invalidations in the cache's stats.
pub(crate) fn changed(tier: Weak<Tier>, count: Arc<dyn Fn(Counter) + Send + Sync>) -> OnChanged {
    Arc::new(move |key: &[u8]| {
        if super::tier::hooks::IGNORE_CHANGES.load(Ordering::Relaxed) {
            return;
        }
        // Only values start with the tracked `PREFIX:{` (src/key.rs); during a rolling deploy
        // a process of a version before the lease and the count moved out of it may still
        // write `PREFIX:{..}:lease` and `..:inv`: skipped, so they do not bump the stripes of
        // held values.
        if key.last() == Some(&b'}') && tier.upgrade().is_some_and(|t| t.invalidate(key)) {
            count(Counter::LocalInvalidations);
        }
    })
}

/// Applies everything but changed keys until the tier is dropped or the server refuses
/// tracking. `count` counts flushes in the cache's stats.
pub(crate) async fn listen(
    tier: Weak<Tier>,
    mut signals: UnboundedReceiver<Signal>,
    count: Arc<dyn Fn(Counter) + Send + Sync>,
) {
    // The newest generation confirmed, and the newest known lost.
    let (mut up, mut lost) = (0, 0);
    let lost_log = Throttle::default();
    while let Some(signal) = signals.recv().await {
        let Some(tier) = tier.upgrade() else { return };
        match signal {
            Signal::Flushed => {
                tier.flush(false);
                count(Counter::LocalFlushes);
                tracing::debug!("rediscache: the database was flushed; local tier emptied");
            }
            Signal::Alive(generation, at) if generation > lost => {
                up = up.max(generation);
                if tier.confirm(at) {
                    tracing::info!("rediscache: local tier on (client tracking confirmed)");
                }
            }
            // A heartbeat of connections known lost.
            Signal::Alive(..) => {}
            Signal::Lost(generation, _) if generation < up => {}
            Signal::Lost(generation, why) => {
                lost = lost.max(generation);
                if tier.flush(true) {
                    count(Counter::LocalFlushes);
                }
                if let Some(held_back) = lost_log.ready(Duration::from_secs(5)) {
                    tracing::warn!(reason = %why, similar_since_last = held_back, "rediscache: local tier off until client tracking is confirmed again");
                }
            }
            Signal::Refused(why) => {
                tier.refuse();
                tracing::warn!(error = %why, "rediscache: the server refuses client tracking; the local tier stays off");
                return;
            }
        }
    }
}
