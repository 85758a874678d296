//! The one stable hash of the project, for both sides of the wire: which
//! shard watches an environment, where in its interval it refreshes, the
//! tracker's item keys, and the simulator's ids and random streams.
//!
//! Stable means the same value in every process and version (no per-process
//! keys like std's `RandomState`): a shard map must agree across replicas.

/// SplitMix64's finaliser: a bijection of `u64` in which every input bit
/// moves every output bit.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a 64 of `bytes`, finished by `mix64` (FNV's high bits barely move for
/// ids that differ only in their last byte).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// `stable_hash` as a fraction in `[0, 1)`.
pub fn stable_fraction(bytes: &[u8]) -> f64 {
    (stable_hash(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

const WORD_MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// A seeded hash eight bytes at a time, for hot paths over many ids (FNV's
/// byte loop cost more than the rest of a list fold). Each step is a bijection
/// of the state, so inputs of one length that differ in a single word never
/// collide; other collisions are as rare as for any 64-bit hash.
pub fn seeded_hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(WORD_MIX);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut v = [0u8; 8];
        v.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(v))
            .wrapping_mul(WORD_MIX)
            .rotate_left(31);
    }
    let mut v = [0u8; 8];
    v[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h ^ u64::from_le_bytes(v))
        .wrapping_mul(WORD_MIX)
        .rotate_left(31);
    mix64(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_pinned_so_a_shard_map_never_moves_between_versions() {
        // FNV-1a 64 of "" is its offset basis; of "a", the published 0xaf63dc4c8601ec8c.
        assert_eq!(stable_hash(b""), mix64(0xcbf2_9ce4_8422_2325));
        assert_eq!(stable_hash(b"a"), mix64(0xaf63_dc4c_8601_ec8c));
        assert_eq!(mix64(0), 0);
        assert_ne!(stable_hash(b"env_1"), stable_hash(b"env_2"));
    }

    #[test]
    fn ids_differing_in_the_last_byte_spread_over_the_whole_range() {
        let fractions: Vec<f64> = (0..1000)
            .map(|i| stable_fraction(format!("env_{i:04}").as_bytes()))
            .collect();
        let low = fractions.iter().filter(|&&f| f < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below one half");
        assert!(fractions.iter().all(|f| (0.0..1.0).contains(f)));
    }

    #[test]
    fn the_seeded_hash_depends_on_seed_length_and_every_byte() {
        assert_ne!(seeded_hash(1, b"work_a"), seeded_hash(2, b"work_a"));
        assert_ne!(seeded_hash(1, b"a"), seeded_hash(1, b"a\0"));
        let base = seeded_hash(7, b"work_0123456789abcdef");
        for i in 0..21 {
            let mut b = *b"work_0123456789abcdef";
            b[i] ^= 1;
            assert_ne!(seeded_hash(7, &b), base, "byte {i}");
        }
    }
}
