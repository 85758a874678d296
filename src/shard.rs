//! Horizontal sharding, as kube-state-metrics does it: `--shard=N
//! --total-shards=M` makes a process watch the environments whose stable hash
//! of the id maps to N out of M.
//!
//! The map is Lamping and Veach's jump consistent hash over the id's stable
//! hash (`work_api::hash`), not `hash % M`: it is just as stable and just as
//! even, but going from M to M+1 shards moves only the ~1/(M+1) of
//! environments that the new shard takes over (plain modulo moves about
//! M/(M+1) of them, so nearly every replica would lose its counters' history
//! on a scale-up). Not `std`'s hasher, which is randomly seeded per process:
//! every replica must compute the same answer.

/// Which shard of how many this process is; `0 of 1` watches everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, total: 1 }
    }
}

impl Shard {
    /// True when the environment `id` belongs to this shard.
    pub fn owns(&self, id: &str) -> bool {
        self.total <= 1 || shard_of(id, self.total) == self.index
    }

    /// True when this process is one of several.
    pub fn is_sharded(&self) -> bool {
        self.total > 1
    }
}

/// The shard (in `0..total`) that environment `id` belongs to.
pub fn shard_of(id: &str, total: u32) -> u32 {
    jump_consistent_hash(key(id), total.max(1))
}

/// The id's stable hash (the same in every replica and version).
fn key(id: &str) -> u64 {
    work_api::hash::stable_hash(id.as_bytes())
}

/// Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014).
fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("env_01{i:022}")).collect()
    }

    #[test]
    fn every_environment_belongs_to_exactly_one_shard() {
        for total in 1..8 {
            for id in ids(200) {
                let owners = (0..total)
                    .filter(|&i| Shard { index: i, total }.owns(&id))
                    .count();
                assert_eq!(owners, 1, "{id} of {total}");
            }
        }
    }

    #[test]
    fn shards_are_even() {
        let mut counts = [0usize; 4];
        for id in ids(4000) {
            counts[shard_of(&id, 4) as usize] += 1;
        }
        for c in counts {
            assert!((850..1150).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn adding_a_shard_moves_only_what_the_new_shard_takes() {
        let all = ids(3000);
        let moved: Vec<&String> = all
            .iter()
            .filter(|id| shard_of(id, 3) != shard_of(id, 4))
            .collect();
        // Everything that moves goes to the new shard, and about a quarter moves.
        assert!(moved.iter().all(|id| shard_of(id, 4) == 3));
        assert!((600..900).contains(&moved.len()), "{}", moved.len());
    }

    #[test]
    fn the_map_is_stable_across_processes_and_releases() {
        // Pinned values: changing the hash reshuffles every sharded deployment.
        assert_eq!(shard_of("env_011CZkZ9X2dpNyB7HsEFoRfW", 1), 0);
        let pinned: Vec<u32> = ["env_a", "env_b", "env_c", "env_d"]
            .iter()
            .map(|id| shard_of(id, 5))
            .collect();
        assert_eq!(pinned, PINNED);
    }

    const PINNED: [u32; 4] = [2, 0, 4, 4];

    #[test]
    fn jump_hash_gives_the_published_answers() {
        // The test vectors of the reference implementations (e.g. dgryski/go-jump).
        assert_eq!(jump_consistent_hash(1, 1), 0);
        assert_eq!(jump_consistent_hash(42, 57), 43);
        assert_eq!(jump_consistent_hash(0xDEAD_10CC, 1), 0);
        assert_eq!(jump_consistent_hash(0xDEAD_10CC, 666), 361);
        assert_eq!(jump_consistent_hash(256, 1024), 520);
    }
}
