//! Cross-process wake-ups: waiters subscribe to an entry's channel and wake the moment the
//! computing process publishes, instead of polling.
//!
//! One RESP3 connection per cache carries every subscription of the process; a listener task
//! hands each message to the waiters of its channel. Subscriptions are reference-counted: the
//! first waiter of a channel subscribes, the last one leaving unsubscribes. Both happen under one
//! async lock, so an unsubscribe never overtakes a newer subscribe of the same channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::Error;
use crate::backend::breaker;
use crate::backend::subscriber::Subscriber;
use crate::runtime;

/// The subscriptions of one cache.
pub(crate) struct Wakeups {
    subscriber: Subscriber,
    timeout: Duration,
    /// Serialises SUBSCRIBE and UNSUBSCRIBE.
    ops: tokio::sync::Mutex<()>,
    /// Channel -> (number of waiters, their wake-up).
    waiters: Mutex<HashMap<String, (usize, Arc<Notify>)>>,
}

impl Wakeups {
    /// Starts the listener on the background runtime.
    pub(crate) fn start(
        subscriber: Subscriber,
        mut pushes: UnboundedReceiver<PushInfo>,
        timeout: Duration,
    ) -> Arc<Wakeups> {
        let wakeups = Arc::new(Wakeups {
            subscriber,
            timeout,
            ops: tokio::sync::Mutex::new(()),
            waiters: Mutex::default(),
        });
        let weak = Arc::downgrade(&wakeups);
        runtime::spawn(async move {
            while let Some(push) = pushes.recv().await {
                let Some(wakeups) = weak.upgrade() else { break };
                if let (PushKind::Message, Some(Value::BulkString(channel))) =
                    (&push.kind, push.data.first())
                {
                    if let Ok(channel) = std::str::from_utf8(channel) {
                        if let Some((_, notify)) = wakeups.lock().get(channel) {
                            notify.notify_waiters();
                        }
                    }
                }
            }
        });
        wakeups
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (usize, Arc<Notify>)>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a waiter of `channel`, subscribing if it is the first.
    pub(crate) async fn subscribe(self: &Arc<Self>, channel: &str) -> Result<Subscription, Error> {
        let _op = self.ops.lock().await;
        let (first, notify) = {
            let mut waiters = self.lock();
            let entry = waiters
                .entry(channel.to_owned())
                .or_insert_with(|| (0, Arc::new(Notify::new())));
            entry.0 += 1;
            (entry.0 == 1, entry.1.clone())
        };
        let sub = Subscription {
            wakeups: self.clone(),
            channel: channel.to_owned(),
            notify,
        };
        if first {
            // Subscribe from the background runtime, so the connection's driver lives there
            // and not on a caller's runtime that may shut down.
            let wakeups = self.clone();
            let channel = channel.to_owned();
            let handle = runtime::handle().ok_or(Error::NoRuntime)?;
            // A connection that broke since its last use (Redis restarted) fails the first
            // command and reconnects: the second attempt goes out on the new connection.
            let subscribe = handle.spawn(async move {
                match wakeups.subscriber.subscribe(&channel).await {
                    Err(e) if breaker::is_outage(&e) => {
                        wakeups.subscriber.subscribe(&channel).await
                    }
                    done => done,
                }
            });
            match tokio::time::timeout(self.timeout, subscribe).await {
                Ok(Ok(Ok(()))) => {}
                // Dropping `sub` unregisters the waiter.
                Ok(Ok(Err(e))) => return Err(e),
                Ok(Err(_)) => return Err(Error::Interrupted),
                Err(_) => return Err(Error::Timeout(self.timeout)),
            }
        }
        Ok(sub)
    }

    async fn release(self: Arc<Self>, channel: String) {
        let _op = self.ops.lock().await;
        let last = {
            let mut waiters = self.lock();
            match waiters.get_mut(&channel) {
                Some(entry) if entry.0 > 1 => {
                    entry.0 -= 1;
                    false
                }
                Some(_) => {
                    waiters.remove(&channel);
                    true
                }
                None => false,
            }
        };
        if last {
            let _ = tokio::time::timeout(self.timeout, self.subscriber.unsubscribe(&channel)).await;
        }
    }
}

/// One waiter's registration; unregisters on drop.
pub(crate) struct Subscription {
    wakeups: Arc<Wakeups>,
    channel: String,
    notify: Arc<Notify>,
}

impl Subscription {
    /// Resolves at the next message on the channel (enable it before checking the value).
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let wakeups = self.wakeups.clone();
        let channel = std::mem::take(&mut self.channel);
        runtime::spawn(wakeups.release(channel));
    }
}
