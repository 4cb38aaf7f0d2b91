//! Applies what the tracking connections tell (`backend/tracking.rs`) to the tier: a changed
//! key is invalidated, a flush or a lost connection empties it, a heartbeat vouches for it.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::tier::Tier;
use crate::backend::tracking::Signal;
use crate::stats::Counter;
use crate::stats::observe::Throttle;

/// Listens until the tier is dropped or the server refuses tracking. `count` counts
/// invalidations and flushes in the cache's stats.
pub(crate) async fn listen(
    tier: Weak<Tier>,
    mut signals: UnboundedReceiver<Signal>,
    count: impl Fn(Counter) + Send + 'static,
) {
    // The newest generation confirmed, and the newest known lost.
    let (mut up, mut lost) = (0, 0);
    let lost_log = Throttle::default();
    while let Some(signal) = signals.recv().await {
        let Some(tier) = tier.upgrade() else { return };
        match signal {
            Signal::Changed(_) if super::tier::hooks::IGNORE_CHANGES.load(Ordering::Relaxed) => {}
            Signal::Changed(keys) => {
                for key in keys {
                    // Leases and invalidation counts share the prefix; only values are held.
                    if key.last() == Some(&b'}') && tier.invalidate(&key) {
                        count(Counter::LocalInvalidations);
                    }
                }
            }
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
