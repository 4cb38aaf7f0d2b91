//! Generations of a function: how `NAME_invalidate_all` and `NAME_expire_all` hold without a
//! second command on a hit.
//!
//! Each function has two numbers in Redis, in the cache's hash `PREFIX:gens`: `hard` (entries
//! from an earlier generation are misses) and `soft` (they are stale). Bumping one sets it to
//! the larger of its old value plus one and the server's clock in ms, then publishes on
//! `PREFIX:gens`. Every entry carries the generation its computation started under
//! (`codec::Stamp`), so a computation that started before an invalidation stores an entry no
//! reader accepts, whenever it lands.
//!
//! Each process keeps the numbers in memory: read once, on a function's first call through a
//! cache, then again at every message on the channel and every second (pub/sub drops messages
//! while a connection is down: a process that missed one knows within a second). A hit
//! compares two integers. The numbers live in the function's `static` for the first cache that
//! reads them (the common case: two atomic loads), in this cache's table for the others.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::function::Function;
use crate::Error;
use crate::backend::Backend;

/// How often the generations are read again, besides at each message.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Caches are told apart by an id that is never reused.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One function's generations as one cache knows them.
#[derive(Debug, Default)]
pub(crate) struct Gens {
    hard: AtomicU64,
    soft: AtomicU64,
}

impl Gens {
    /// Raises the numbers to what Redis says (never lowers them: a flushed hash reads as 0).
    fn raise(&self, hard: u64, soft: u64) {
        self.hard.fetch_max(hard, Ordering::Relaxed);
        self.soft.fetch_max(soft, Ordering::Relaxed);
    }

    fn now(&self) -> Current {
        Current {
            hard: self.hard.load(Ordering::Relaxed),
            soft: self.soft.load(Ordering::Relaxed),
        }
    }
}

/// The generations of a function in its `static`, for the first cache that reads them.
#[derive(Debug)]
pub(crate) struct FunctionGens {
    /// The id of the cache whose numbers these are; 0 until one has read them.
    owner: AtomicU64,
    gens: Gens,
}

impl FunctionGens {
    pub(crate) const fn new() -> FunctionGens {
        FunctionGens {
            owner: AtomicU64::new(0),
            gens: Gens {
                hard: AtomicU64::new(0),
                soft: AtomicU64::new(0),
            },
        }
    }
}

/// A function's generations now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Current {
    pub(crate) hard: u64,
    pub(crate) soft: u64,
}

impl Current {
    /// The generation a computation starting now records in its entry.
    pub(crate) fn start(self) -> u64 {
        self.hard.max(self.soft)
    }
}

/// A function this cache has read the generations of: in its `static` (`None`), or here.
type Known = (&'static Function, Option<Arc<Gens>>);

/// One cache's view of the generations of every function called through it.
#[derive(Debug)]
pub(crate) struct Generations {
    id: u64,
    /// The hash in Redis, and the channel its changes are announced on.
    pub(crate) key: String,
    /// Functions whose numbers this cache has read: in their `static` (`None`) or here.
    known: Mutex<Vec<Known>>,
    watching: AtomicBool,
}

impl Generations {
    pub(crate) fn new(prefix: &str) -> Generations {
        Generations {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            key: format!("{prefix}:gens"),
            known: Mutex::default(),
            watching: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Known>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `f`'s generations, if this cache has read them: on the hit path, two atomic loads.
    pub(crate) fn current(&self, f: &'static Function) -> Option<Current> {
        if f.gens.owner.load(Ordering::Relaxed) == self.id {
            return Some(f.gens.gens.now());
        }
        self.foreign(f).map(|g| g.now())
    }

    #[cold]
    fn foreign(&self, f: &'static Function) -> Option<Arc<Gens>> {
        self.lock()
            .iter()
            .find(|(known, _)| std::ptr::eq(*known, f))
            .and_then(|(_, g)| g.clone())
    }

    /// Reads `f`'s generations from Redis for the first time and keeps them up to date from
    /// then on.
    pub(crate) async fn load(
        &self,
        f: &'static Function,
        backend: &Backend,
    ) -> Result<Current, Error> {
        let read = backend.generations(&self.key, &[f.name]).await?;
        let (hard, soft) = read.first().copied().unwrap_or((0, 0));
        let mut known = self.lock();
        // Another call may have loaded it meanwhile (checked under the lock, which
        // `current` would take again).
        if f.gens.owner.load(Ordering::Relaxed) == self.id {
            return Ok(f.gens.gens.now());
        }
        if let Some((_, Some(gens))) = known.iter().find(|(k, _)| std::ptr::eq(*k, f)) {
            return Ok(gens.now());
        }
        let owner = &f.gens.owner;
        let own = owner.load(Ordering::Relaxed) == 0
            && owner
                .compare_exchange(0, self.id, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if own {
            f.gens.gens.raise(hard, soft);
            known.push((f, None));
        } else {
            let gens = Arc::new(Gens::default());
            gens.raise(hard, soft);
            known.push((f, Some(gens)));
        }
        Ok(Current { hard, soft })
    }

    /// Raises `name`'s generations, if this cache knows the function.
    pub(crate) fn raise(&self, name: &str, hard: u64, soft: u64) {
        for (f, gens) in self.lock().iter() {
            if f.name == name {
                gens.as_deref().unwrap_or(&f.gens.gens).raise(hard, soft);
            }
        }
    }

    /// Reads every known function's generations again.
    pub(crate) async fn poll(&self, backend: &Backend) -> Result<(), Error> {
        let names: Vec<&'static str> = self.lock().iter().map(|(f, _)| f.name).collect();
        if names.is_empty() {
            return Ok(());
        }
        let read = backend.generations(&self.key, &names).await?;
        for (name, (hard, soft)) in names.iter().zip(read) {
            self.raise(name, hard, soft);
        }
        Ok(())
    }

    /// Whether the watcher still has to be started (true once).
    pub(crate) fn start_watching(&self) -> bool {
        !self.watching.load(Ordering::Relaxed) && !self.watching.swap(true, Ordering::Relaxed)
    }
}

/// Keeps a cache's generations up to date: at each message on the channel, and every
/// [`POLL_EVERY`]. Ends when the cache is dropped.
pub(crate) async fn watch<T: Send + Sync + 'static>(
    owner: Weak<T>,
    parts: fn(&T) -> Option<(&Generations, &Backend)>,
) {
    let channel = {
        let Some(inner) = owner.upgrade() else { return };
        let Some((gens, _)) = parts(&inner) else {
            return;
        };
        gens.key.clone()
    };
    // Subscribed for as long as the cache lives; until it is, the poll alone keeps it current.
    let mut subscription = None;
    loop {
        let Some(inner) = owner.upgrade() else { return };
        let Some((gens, backend)) = parts(&inner) else {
            return;
        };
        if subscription.is_none() {
            subscription = backend.wakeups.subscribe(&channel).await.ok();
        }
        // Armed before the read, so a message that comes during it is not missed.
        let mut message = subscription.as_ref().map(|s| Box::pin(s.notified()));
        if let Some(m) = message.as_mut() {
            m.as_mut().enable();
        }
        if let Err(e) = gens.poll(backend).await {
            tracing::debug!(error = %e, "rediscache: cannot read the generations; will retry");
        }
        drop(inner);
        match message {
            Some(m) => drop(tokio::time::timeout(POLL_EVERY, m).await),
            None => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}
