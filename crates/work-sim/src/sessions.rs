//! The per-item credential of a poll response: `secret` is URL-safe base64
//! of a JSON object whose `sessions_token` the official worker sends as the
//! bearer of that item's heartbeat, stop and session calls (2.17
//! `_poller.py`, `sessions_token_from_secret`; 2.14 `_worker.py`). The
//! simulator keeps no table of tokens: a token names its environment and
//! item and carries an HMAC of both under a key of this run, so it is
//! accepted for that one item only.
//!
//! The session read that takes these tokens is `session_read.rs`; this file
//! depends on nothing of the simulator, so the world can own the signer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

const PREFIX: &str = "sk-ant-sesstok-sim-";

/// Signs and checks the sessions tokens of one simulator run.
pub(crate) struct SessionTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionTokens(<key>)")
    }
}

impl SessionTokens {
    pub(crate) fn new(seed: u64) -> Self {
        SessionTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, &seed.to_le_bytes()),
        }
    }

    fn mac(&self, env: usize, seq: u64) -> String {
        let tag = hmac::sign(&self.key, format!("{env}/{seq}").as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The sessions token of item `seq` of environment number `env`.
    pub(crate) fn token(&self, env: usize, seq: u64) -> String {
        format!("{PREFIX}{env}-{seq}-{}", self.mac(env, seq))
    }

    /// The poll `secret` carrying that token, in the API's shape.
    pub(crate) fn secret(&self, env: usize, seq: u64) -> String {
        let payload = serde_json::json!({ "sessions_token": self.token(env, seq) });
        URL_SAFE_NO_PAD.encode(payload.to_string())
    }

    /// The environment number and item a token was issued for, if it is one
    /// of this run's.
    pub(crate) fn check(&self, token: &str) -> Option<(usize, u64)> {
        let mut parts = token.strip_prefix(PREFIX)?.splitn(3, '-');
        let env = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let mac = parts.next()?;
        let given: Option<Vec<u8>> = (0..mac.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(mac.get(i..i + 2)?, 16).ok())
            .collect();
        let ok = given.is_some_and(|g| {
            hmac::verify(&self.key, format!("{env}/{seq}").as_bytes(), &g).is_ok()
        });
        ok.then_some((env, seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_decodes_as_the_sdk_decodes_it_and_its_token_names_one_item() {
        let tokens = SessionTokens::new(7);
        let secret = tokens.secret(2, 41);
        // The SDK pads, then decodes URL-safe base64, then reads `sessions_token`.
        let padded = format!("{secret}{}", "=".repeat((4 - secret.len() % 4) % 4));
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE
                .decode(padded)
                .unwrap(),
        )
        .unwrap();
        let token = json["sessions_token"].as_str().unwrap();
        assert_eq!(tokens.check(token), Some((2, 41)));
        assert_eq!(tokens.check(&tokens.token(2, 42)), Some((2, 42)));
        let forged = token.replace("-41-", "-42-");
        assert_eq!(tokens.check(&forged), None, "the MAC binds the item");
        assert_eq!(
            SessionTokens::new(8).check(token),
            None,
            "another run's key"
        );
        assert_eq!(tokens.check("sk-ant-sesstok-sim-2-41-zz"), None);
    }
}
