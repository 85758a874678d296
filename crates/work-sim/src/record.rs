//! The request log behind `GET /_sim/requests`: the headers of the latest API
//! requests, per endpoint, so tests can hold a client's headers to the
//! official SDK's. Credentials are logged as which credential they are
//! (`Bearer <api_key>`, `auth::headers_shown`), never as their value.

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
