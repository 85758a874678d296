//! The fuzz targets of `crate::fuzzing` on stable Rust, as part of
//! the ordinary test run: thousands of inputs per target, mutated from the
//! seeds in `fuzz/seeds/` by a seeded generator (the same inputs on every
//! run), must not panic. cargo-fuzz (`fuzz/`, nightly) runs the same
//! functions for as long as one likes; see docs/reliability.md.

use crate::fuzzing;
use std::panic::{catch_unwind, AssertUnwindSafe};

const ROUNDS: usize = 10_000;

/// splitmix64: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that tend to break parsers of JSON and YAML.
const TOKENS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-9223372036854775809",
    "18446744073709551616",
    "1.5",
    "\"\"",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "{}",
    "[]",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\n",
    "  ",
    "- ",
    "? ",
    "&a",
    "*a",
    "!!binary",
    "~",
    "'",
    "#",
    "\"state\"",
    "\"queued\"",
    "\"stopped\"",
    "\"active\"",
    "\"data\"",
    "\"next_page\"",
    "\"id\"",
    "\"created_at\"",
    "\"stopped_at\"",
    "\"2026-01-01T00:00:00Z\"",
    "\"9999-12-31T23:59:59Z\"",
    "\"0000-01-01T00:00:00Z\"",
    "\"2026-02-30T25:61:61Z\"",
    "key:",
    "env:",
    "file:",
    "environments:",
    "labels:",
    "basic_auth_users:",
    "tls_server_config:",
    "cert_file:",
    "min_version:",
    "TLS13",
    "$2y$04$",
    "\u{feff}",
    "\u{1F600}",
    "\u{0}",
];

fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            3 => v.insert(at, rng.next() as u8),
            4 => v.truncate(at),
            5 if !v.is_empty() => {
                // Duplicate a stretch (repeated keys, repeated items).
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(64)).min(v.len());
                let part = v[start..end].to_vec();
                v.splice(at..at, part);
            }
            6 => {
                // Splice in part of another seed.
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(128)).min(other.len());
                    v.splice(at..at, other[start..end].iter().copied());
                }
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let end = (at + t.len()).min(v.len());
                v.splice(at..end, t.iter().copied());
            }
        }
    }
    v
}

/// The seeds of a target, with whether each must be accepted (`rejected_*` must not).
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<_> = files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Seeds are accepted (or rejected, as named); then ROUNDS mutants must not
/// panic, and some must still be accepted (they reach past the parser).
fn smoke(target: &str, f: fn(&[u8]) -> bool) {
    let named = seeds(target);
    for (name, s) in &named {
        let want = !name.starts_with("rejected_");
        assert_eq!(
            f(s),
            want,
            "{target}: seed {name}:\n{}",
            String::from_utf8_lossy(s)
        );
    }
    let seeds: Vec<Vec<u8>> = named.into_iter().map(|(_, s)| s).collect();
    let mut rng = Rng(0x5eed ^ target.len() as u64);
    let mut accepted = 0;
    for round in 0..ROUNDS {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, &seeds);
        match catch_unwind(AssertUnwindSafe(|| f(&input))) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panic!(
                "{target}: round {round} panicked on input {input:?}\n{}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    assert!(accepted >= ROUNDS / 200, "{target}: only {accepted} of {ROUNDS} mutants were accepted; the smoke test barely tests the code behind the parser");
}

#[test]
fn stats_bodies_never_panic() {
    smoke("stats", fuzzing::stats);
}

#[test]
fn work_list_pages_never_panic_and_fold_consistently() {
    smoke("work_pages", fuzzing::work_pages);
}

#[test]
fn error_bodies_never_panic_nor_keep_a_key() {
    smoke("error_body", fuzzing::error_body);
}

#[test]
fn config_files_never_panic() {
    smoke("config_file", fuzzing::config_file);
}

#[test]
fn web_config_files_never_panic() {
    smoke("web_config_file", fuzzing::web_config_file);
}
