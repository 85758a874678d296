//! What one environment remembers between refreshes, compactly: the keys of
//! its live items, sorted, beside two flag bytes each (10 bytes an item; a
//! hash table took 36 at its usual load, 17 MiB for a million items of which
//! half live). A walk builds its next tracker in a hash table, then packs it.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Flags of a tracked item: which durations were observed, and for how many
/// walks in a row it went unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tracked {
    pub observed: u8,
    pub missed: u8,
}

/// Tables keyed by an id's `key`, which is already a well-mixed hash: used as is.
pub(super) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;
pub(super) type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else in rather than drop it.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(MIX);
        }
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// What one environment remembers between refreshes.
#[derive(Debug, Clone)]
pub struct Tracker {
    /// Keys of the tracked items, ascending; `flags[i]` belongs to `keys[i]`.
    keys: Vec<u64>,
    flags: Vec<Tracked>,
    pub(super) stopped_watermark_ms: i64,
    /// Per process and environment, so keys cannot be predicted from ids.
    pub(super) seed: u64,
}

impl Tracker {
    /// `started_ms`: the exporter's start; events before it are history, not observations.
    pub fn new(started_ms: i64) -> Self {
        Tracker {
            keys: Vec::new(),
            flags: Vec::new(),
            stopped_watermark_ms: started_ms,
            seed: std::hash::RandomState::new().build_hasher().finish(),
        }
    }

    /// The next walk's tracker: `items` packed, sorted by key.
    pub(super) fn packed(items: KeyMap<Tracked>, stopped_watermark_ms: i64, seed: u64) -> Self {
        let mut all: Vec<(u64, Tracked)> = items.into_iter().collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        let (keys, flags) = all.into_iter().unzip();
        Tracker {
            keys,
            flags,
            stopped_watermark_ms,
            seed,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(super) fn get(&self, key: u64) -> Option<Tracked> {
        let i = self.keys.binary_search(&key).ok()?;
        self.flags.get(i).copied()
    }

    pub(super) fn items(&self) -> impl Iterator<Item = (u64, Tracked)> + '_ {
        self.keys.iter().copied().zip(self.flags.iter().copied())
    }

    /// A 64-bit key for an id: the seeded hash (`work_api::hash`). A collision
    /// (about 3e-8 for a million live items) would merge two items' tracking.
    pub(super) fn key(&self, id: &str) -> u64 {
        work_api::hash::seeded_hash(self.seed, id.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_tracker_finds_every_key_it_was_given_and_no_other() {
        let t = Tracker::new(0);
        let mut map = KeyMap::default();
        for i in 0..1000 {
            map.insert(
                t.key(&format!("work_{i:026}")),
                Tracked {
                    observed: (i % 16) as u8,
                    missed: (i % 3) as u8,
                },
            );
        }
        let packed = Tracker::packed(map.clone(), 7, t.seed);
        assert_eq!(packed.len(), 1000);
        for (k, v) in &map {
            assert_eq!(packed.get(*k), Some(*v));
        }
        assert_eq!(packed.get(t.key("work_elsewhere")), None);
        assert_eq!(packed.items().count(), 1000);
    }

    #[test]
    fn ids_that_differ_anywhere_get_distinct_keys() {
        let t = Tracker::new(0);
        let mut seen = KeySet::default();
        // Ids as the API writes them, differing in one character at every position.
        let base = "work_011CZkZ9X2dpNyB7HsEFoRfW";
        for pos in 5..base.len() {
            for c in ['0', 'a', 'Z', 'q', '9'] {
                let mut id = base.as_bytes().to_vec();
                id[pos] = c as u8;
                seen.insert(t.key(std::str::from_utf8(&id).unwrap()));
            }
        }
        for i in 0..100_000 {
            assert!(seen.insert(t.key(&format!("work_{i}"))), "{i}");
        }
        assert!(seen.len() > 100_000);
        assert_ne!(t.key("a"), t.key("a\0"));
    }
}
