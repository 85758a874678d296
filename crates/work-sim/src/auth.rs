//! Credential rules of the simulated API: exactly one credential per request,
//! the API key or an environment key, each accepted only where the real
//! service accepts it.
//!
//! A credential is recognised by its value, whichever header carries it: SDK
//! 2.14 sends the API key as `Authorization: Bearer` (`_client.py`,
//! `_api_key_auth`), the 1.x SDKs sent it as `x-api-key`, and the API accepts
//! both. An environment key is taken only as a bearer token.

use crate::state::Fault;
use crate::world::World;
use hyper::header::{HeaderMap, AUTHORIZATION};
use std::collections::BTreeMap;

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cred {
    Api,
    /// The key of environment number `usize`.
    Env(usize),
    /// The sessions token of a poll `secret`: environment number, item.
    Sessions(usize, u64),
}

/// Which credential an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    ApiKey,
    EnvKey,
    Either,
}

fn unauthorized(message: &str) -> Fault {
    Fault::new(401, "authentication_failed", message)
}

/// The bearer token of an `Authorization` header, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn credential(world: &World, headers: &HeaderMap) -> Result<Cred, Fault> {
    let api_header = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let auth_header = headers.get(AUTHORIZATION);
    let value = match (api_header, auth_header) {
        (Some(_), Some(_)) => {
            return Err(Fault::new(
                400,
                "multiple_credentials",
                "send exactly one credential: x-api-key or Authorization: Bearer, not both",
            ))
        }
        (Some(v), None) => v,
        (None, Some(_)) => bearer(headers)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <environment key>`"))?,
        (None, None) => {
            return Err(unauthorized(
                "missing credential: send the API key (x-api-key) or an environment key (Authorization: Bearer)",
            ))
        }
    };
    if value == world.api_key {
        return Ok(Cred::Api);
    }
    if let Some((env, seq)) = world.sessions.check(value) {
        return match api_header {
            Some(_) => Err(unauthorized(
                "a sessions token goes in `Authorization: Bearer`, not in x-api-key",
            )),
            None => Ok(Cred::Sessions(env, seq)),
        };
    }
    match world.index_of_key(value) {
        Some(_) if api_header.is_some() => Err(unauthorized(
            "an environment key goes in `Authorization: Bearer`, not in x-api-key",
        )),
        Some(i) => Ok(Cred::Env(i)),
        None => Err(unauthorized(
            "invalid credential: neither the API key nor an environment key",
        )),
    }
}

/// Checks that `cred` may call an endpoint needing `need` on environment `env`
/// (a sessions token is checked against its item by `authorize_item`).
pub(crate) fn authorize(cred: Cred, need: Need, env: Option<usize>) -> Result<(), Fault> {
    match (need, cred) {
        (Need::ApiKey, Cred::Sessions(..)) => Err(unauthorized(
            "this endpoint takes the API key; a sessions token is accepted only for its own work item",
        )),
        (_, Cred::Sessions(i, _)) if env.is_some_and(|e| e != i) => Err(unauthorized(
            "this sessions token belongs to a work item of another environment",
        )),
        (Need::ApiKey, Cred::Env(_)) => Err(unauthorized(
            "this endpoint takes the API key; environment keys are rejected",
        )),
        (Need::EnvKey, Cred::Api) => Err(unauthorized(
            "this endpoint takes the environment's key as a bearer token; the API key is rejected",
        )),
        (_, Cred::Env(i)) if env.is_some_and(|e| e != i) => Err(Fault::new(
            403,
            "environment_key_mismatch",
            "this environment key belongs to another environment",
        )),
        _ => Ok(()),
    }
}

/// A sessions token authorizes the heartbeat and the stop of the one item
/// whose poll carried it (`item`: that endpoint's item, `None` for any other
/// endpoint); other credentials pass.
pub(crate) fn authorize_item(cred: Cred, item: Option<u64>) -> Result<(), Fault> {
    match cred {
        Cred::Sessions(_, seq) if item != Some(seq) => Err(unauthorized(
            "a sessions token is accepted only for the heartbeat and stop of the work item whose poll carried it",
        )),
        _ => Ok(()),
    }
}

/// Requests must carry an `anthropic-version` the API knows: SDK 2.14's or the 1.x SDKs'.
pub(crate) fn check_version(headers: &HeaderMap) -> Result<(), Fault> {
    use work_api::wire::{API_VERSION, API_VERSION_1X};
    match headers.get("anthropic-version").and_then(|v| v.to_str().ok()) {
        Some(v) if v == API_VERSION || v == API_VERSION_1X => Ok(()),
        Some(v) => Err(Fault::new(
            400,
            "invalid_request",
            format!("anthropic-version: {v:?} is not a version this API knows ({API_VERSION} or {API_VERSION_1X})"),
        )),
        None => Err(Fault::new(
            400,
            "invalid_request",
            format!("anthropic-version: header is required (the SDK 2.14 sends {API_VERSION})"),
        )),
    }
}

/// Requests must carry `anthropic-beta` with the managed-agents beta.
pub(crate) fn check_beta(headers: &HeaderMap) -> Result<(), Fault> {
    let ok = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|b| b.trim() == work_api::wire::BETA_HEADER);
    if ok {
        Ok(())
    } else {
        Err(Fault::new(
            400,
            "beta_header_required",
            format!(
                "this endpoint is in beta: send the header `anthropic-beta: {}`",
                work_api::wire::BETA_HEADER
            ),
        ))
    }
}

/// The headers of a request, with each credential replaced by its name.
pub(crate) fn headers_shown(world: &World, h: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in h {
        let name = name.as_str();
        let shown = match name {
            "authorization" => match bearer(h) {
                Some(token) => format!("Bearer {}", which(world, token)),
                None => "<not a bearer token>".to_owned(),
            },
            "x-api-key" => which(world, value.to_str().unwrap_or("").trim()).to_owned(),
            _ => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        };
        out.entry(name.to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&shown);
            })
            .or_insert(shown);
    }
    out
}

fn which(world: &World, token: &str) -> &'static str {
    if token == world.api_key {
        "<api_key>"
    } else if world.index_of_key(token).is_some() {
        "<environment_key>"
    } else if world.sessions.check(token).is_some() {
        "<sessions_token>"
    } else {
        "<unknown credential>"
    }
}
