//! The request log behind `GET /_sim/requests`: the headers of the latest API
//! requests, per endpoint, so tests can hold a client's headers to the
//! official SDK's. Credentials are logged as which credential they are
//! (`Bearer <api_key>`), never as their value.

use crate::auth::bearer;
use crate::world::World;
use hyper::header::HeaderMap;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// Requests kept; older ones are dropped first.
const KEPT: usize = 4096;

/// One API request as the simulator received it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Recorded {
    /// The SDK method it calls (`work.list`, `work.stats`, `environments.list`, …).
    pub endpoint: &'static str,
    pub method: String,
    pub path: String,
    /// Lower-case names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    kept: Mutex<VecDeque<Recorded>>,
}

impl RequestLog {
    pub(crate) fn push(&self, r: Recorded) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(r);
    }

    /// The kept requests to `endpoint` (every endpoint when `None`), oldest first.
    pub(crate) fn list(&self, endpoint: Option<&str>) -> Vec<Recorded> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .filter(|r| endpoint.is_none_or(|e| r.endpoint == e))
            .cloned()
            .collect()
    }
}

/// The headers of a request, with each credential replaced by its name.
pub(crate) fn headers(world: &World, h: &HeaderMap) -> BTreeMap<String, String> {
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
    } else {
        "<unknown credential>"
    }
}
