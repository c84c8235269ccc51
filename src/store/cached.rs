//! What the store keeps in memory between queries: the reference lists and the history's tips.
//!
//! Institutions and conventions held in memory: every act needs the institutions' zones and the
//! coordinators, and its convention's rules, yet they change only on import. Reading them per act
//! was a third of the queries an act made (see BENCHMARKS.md).
//!
//! An import through this store empties the cache when it commits, so this process sees its own
//! import at once. Another process (the CLI importing while `serve` runs, a second server on the
//! same PostgreSQL) is seen once the cached copy is older than `database.reference_cache_ms`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::reference::{Convention, Institution};

/// Both lists, as read together at one moment.
#[derive(Debug)]
pub(super) struct Reference {
    pub institutions: Vec<Institution>,
    pub conventions: Vec<Convention>,
    pub states: Vec<crate::reference::State>,
}

#[derive(Debug)]
pub(super) struct ReferenceCache {
    ttl: Duration,
    loaded: RwLock<Option<(Instant, Arc<Reference>)>>,
    /// Bumped by every invalidation: a read that started before an import does not put its
    /// (older) lists back after the import emptied the cache.
    generation: AtomicU64,
}

impl ReferenceCache {
    pub fn new(ttl: Duration) -> ReferenceCache {
        ReferenceCache {
            ttl,
            loaded: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// The cached lists if still fresh, with the generation to pass to `put` otherwise.
    pub fn get(&self) -> Result<Arc<Reference>, u64> {
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        match loaded.as_ref() {
            Some((at, r)) if at.elapsed() < self.ttl => Ok(Arc::clone(r)),
            _ => Err(generation),
        }
    }

    /// Keep `reference`, read after `get` returned `generation`, unless an import came since.
    pub fn put(&self, generation: u64, reference: Arc<Reference>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            *loaded = Some((Instant::now(), reference));
        }
    }

    pub fn invalidate(&self) {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        *loaded = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Arc<Reference> {
        Arc::new(Reference {
            institutions: Vec::new(),
            conventions: Vec::new(),
            states: Vec::new(),
        })
    }

    #[test]
    fn a_read_that_started_before_an_import_is_not_kept() {
        let cache = ReferenceCache::new(Duration::from_secs(60));
        let generation = cache.get().unwrap_err();
        cache.invalidate();
        cache.put(generation, empty());
        assert!(cache.get().is_err(), "the older read was dropped");
        let generation = cache.get().unwrap_err();
        cache.put(generation, empty());
        assert!(cache.get().is_ok());
        cache.invalidate();
        assert!(cache.get().is_err(), "an import empties the cache");
    }

    #[test]
    fn a_zero_lifetime_keeps_nothing() {
        let cache = ReferenceCache::new(Duration::ZERO);
        let generation = cache.get().unwrap_err();
        cache.put(generation, empty());
        assert!(cache.get().is_err());
    }
}

/// The last history row this process wrote for each procedure: its sequence and hash. The next
/// append continues the chain from it without reading it back inside the write transaction.
///
/// A history row never changes once written (triggers refuse updates and deletes), so the hash
/// of row `sequence` of a procedure is a fact forever: an entry can be out of date (another
/// process appended since) but never wrong. `get` answers only for the sequence asked about,
/// and anything else is read from the database.
#[derive(Debug, Default)]
pub(super) struct ChainTips {
    tips: std::sync::Mutex<std::collections::HashMap<String, (i64, String)>>,
}

impl ChainTips {
    /// Entries kept before the map is emptied and starts again: a bound on memory (about 150
    /// bytes each), set far above the procedures one process acts on in a burst.
    const MAX: usize = 10_000;

    /// The hash of history row `sequence` of `procedure`, if this process knows it.
    pub fn get(&self, procedure: &str, sequence: i64) -> Option<String> {
        let tips = self.tips.lock().unwrap_or_else(|e| e.into_inner());
        tips.get(procedure)
            .filter(|(s, _)| *s == sequence)
            .map(|(_, hash)| hash.clone())
    }

    /// Remember row `sequence` of `procedure` (call once it is committed).
    pub fn put(&self, procedure: &str, sequence: i64, hash: String) {
        let mut tips = self.tips.lock().unwrap_or_else(|e| e.into_inner());
        if tips.len() >= Self::MAX && !tips.contains_key(procedure) {
            tips.clear();
        }
        tips.insert(procedure.to_string(), (sequence, hash));
    }
}

#[cfg(test)]
mod tip_tests {
    use super::ChainTips;

    #[test]
    fn a_tip_answers_only_for_its_own_sequence() {
        let tips = ChainTips::default();
        assert_eq!(tips.get("kg-1", 3), None);
        tips.put("kg-1", 3, "abc".into());
        assert_eq!(tips.get("kg-1", 3).as_deref(), Some("abc"));
        assert_eq!(
            tips.get("kg-1", 4),
            None,
            "another process may have appended"
        );
        assert_eq!(tips.get("kg-2", 3), None);
        tips.put("kg-1", 4, "def".into());
        assert_eq!(tips.get("kg-1", 3), None);
        assert_eq!(tips.get("kg-1", 4).as_deref(), Some("def"));
    }

    #[test]
    fn the_map_is_bounded() {
        let tips = ChainTips::default();
        for i in 0..ChainTips::MAX + 5 {
            tips.put(&format!("p-{i}"), 1, "h".into());
        }
        assert!(tips.tips.lock().unwrap().len() <= ChainTips::MAX);
        assert!(tips.get(&format!("p-{}", ChainTips::MAX + 4), 1).is_some());
    }
}
