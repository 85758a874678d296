//! Basic auth against bcrypt hashes. bcrypt is slow on purpose (tens of
//! milliseconds), so it runs on the blocking pool one check at a time (as
//! the exporter-toolkit does), and its outcome is remembered both ways (as a
//! salted SHA-256 of user, hash and password, never the password): a
//! scraper that keeps sending the right password costs one bcrypt, not one
//! per scrape, and a client repeating a wrong one costs one too. An unknown
//! user is checked against a dummy hash, so timing does not tell which users
//! exist.

use super::error;
use crate::config::ConfigError;
use base64::Engine;
use hyper::header::HeaderValue;
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use tokio::sync::Semaphore;

/// Remembered checks (each way) before that memory is cleared.
const CACHE_MAX: usize = 1024;
/// bcrypt checks running at once; more wait.
const CONCURRENT_CHECKS: usize = 1;

/// What a request's credentials are worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Allowed,
    /// Refused, and why: `no_credentials` (no or malformed `Authorization:
    /// Basic` header), `wrong` (a bcrypt check failed) or `wrong_remembered`
    /// (the same wrong user and password as before, refused without bcrypt).
    Denied(&'static str),
}

/// Every reason of `Verdict::Denied`.
pub const DENIAL_REASONS: [&str; 3] = ["no_credentials", "wrong", "wrong_remembered"];

pub(super) fn check_hash(user: &str, hash: &str) -> Result<(), ConfigError> {
    if user.is_empty() || user.contains(':') {
        return Err(error(
            format!("basic_auth_users: {user:?} is not a user name"),
            "use a name without ':'",
        ));
    }
    bcrypt::HashParts::from_str(hash).map_err(|_| {
        error(
            format!("basic_auth_users.{user}: not a bcrypt hash"),
            "write the hash, not the password: htpasswd -nBC 10 USER | cut -d: -f2",
        )
    })?;
    Ok(())
}

pub(super) struct Verifier {
    salt: [u8; 16],
    granted: Mutex<HashSet<[u8; 32]>>,
    refused: Mutex<HashSet<[u8; 32]>>,
    slots: Semaphore,
}

/// A hash of the same cost as the configured ones, to check unknown users against.
fn dummy_hash(cost: u32) -> String {
    static DUMMIES: OnceLock<Mutex<BTreeMap<u32, String>>> = OnceLock::new();
    let mut d = DUMMIES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    d.entry(cost)
        .or_insert_with(|| bcrypt::hash("no such user", cost).unwrap_or_default())
        .clone()
}

/// `user` and `password` of an `Authorization: Basic` header.
fn basic(header: &HeaderValue) -> Option<(String, String)> {
    let text = header.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

impl Verifier {
    pub(super) fn new() -> Self {
        let mut salt = [0u8; 16];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt);
        Verifier {
            salt,
            granted: Mutex::new(HashSet::new()),
            refused: Mutex::new(HashSet::new()),
            slots: Semaphore::new(CONCURRENT_CHECKS),
        }
    }

    fn memo(&self, user: &str, hash: &str, password: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            &self.salt[..],
            user.as_bytes(),
            b"\0",
            hash.as_bytes(),
            b"\0",
            password.as_bytes(),
        ] {
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    pub(super) async fn check(
        &self,
        users: &BTreeMap<String, String>,
        header: Option<&HeaderValue>,
    ) -> Verdict {
        if users.is_empty() {
            return Verdict::Allowed;
        }
        let Some((user, password)) = header.and_then(basic) else {
            return Verdict::Denied("no_credentials");
        };
        let hash = users.get(&user).cloned();
        let memo = self.memo(&user, hash.as_deref().unwrap_or(""), &password);
        if hash.is_some() && remembered(&self.granted, &memo) {
            return Verdict::Allowed;
        }
        if remembered(&self.refused, &memo) {
            return Verdict::Denied("wrong_remembered");
        }
        let Ok(_permit) = self.slots.acquire().await else {
            return Verdict::Denied("wrong");
        };
        let known = hash.is_some();
        let cost = users
            .values()
            .next()
            .and_then(|h| bcrypt::HashParts::from_str(h).ok())
            .map_or(bcrypt::DEFAULT_COST, |p| p.get_cost());
        let ok = tokio::task::spawn_blocking(move || {
            let against = hash.unwrap_or_else(|| dummy_hash(cost));
            bcrypt::verify(password, &against).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok && known {
            remember(&self.granted, memo);
            Verdict::Allowed
        } else {
            remember(&self.refused, memo);
            Verdict::Denied("wrong")
        }
    }
}

fn remembered(set: &Mutex<HashSet<[u8; 32]>>, memo: &[u8; 32]) -> bool {
    set.lock().unwrap_or_else(|p| p.into_inner()).contains(memo)
}

fn remember(set: &Mutex<HashSet<[u8; 32]>>, memo: [u8; 32]) {
    let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
    if set.len() >= CACHE_MAX {
        set.clear();
    }
    set.insert(memo);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_decoded_and_anything_else_refused() {
        let h = HeaderValue::from_static("Basic cHJvbTpzM2NyZXQ6d2l0aDpjb2xvbnM=");
        assert_eq!(
            basic(&h),
            Some(("prom".into(), "s3cret:with:colons".into()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic bm9jb2xvbg=="] {
            assert_eq!(basic(&HeaderValue::from_static(bad)), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn right_password_passes_and_is_remembered_wrong_ones_and_unknown_users_do_not() {
        let users = BTreeMap::from([("prom".to_string(), bcrypt::hash("right", 4).unwrap())]);
        let v = Verifier::new();
        let header = |u: &str, p: &str| {
            HeaderValue::from_str(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ))
            .unwrap()
        };
        assert_eq!(
            v.check(&users, Some(&header("prom", "right"))).await,
            Verdict::Allowed
        );
        assert_eq!(v.granted.lock().unwrap().len(), 1);
        assert_eq!(
            v.check(&users, Some(&header("prom", "right"))).await,
            Verdict::Allowed
        );
        assert_eq!(
            v.check(&users, Some(&header("prom", "wrong"))).await,
            Verdict::Denied("wrong")
        );
        assert_eq!(
            v.check(&users, Some(&header("prom", "wrong"))).await,
            Verdict::Denied("wrong_remembered"),
            "the same wrong password again costs no bcrypt"
        );
        assert_eq!(
            v.check(&users, Some(&header("nobody", "right"))).await,
            Verdict::Denied("wrong")
        );
        assert_eq!(
            v.check(&users, None).await,
            Verdict::Denied("no_credentials")
        );
        assert_eq!(v.check(&BTreeMap::new(), None).await, Verdict::Allowed);
        assert!(
            check_hash("prom", "right").is_err(),
            "a password is not a hash"
        );
    }
}
