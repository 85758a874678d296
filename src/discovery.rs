//! Environment discovery and the set this process watches.
//!
//! Every `--discovery.interval`, `GET /v1/environments` is walked with the
//! API key (through the shared client, so inside the request budget), and the
//! environments that have a work queue (`config.type == "self_hosted"`), are
//! not archived (unless asked) and pass the name and id filters are kept. Their
//! keys are read from the keys directory again each time, so added and rotated
//! keys are picked up. The environments listed in the configuration are always
//! watched and win over a discovered one with the same id. The union, cut to
//! this process's shard, is what the scheduler watches; a failed discovery
//! keeps the last known set. The allow-listed metadata keys of a kept
//! environment become its labels (a configured one's too, beside its own).

use crate::config::{is_plain_id, DiscoverySettings, Environment, Scope};
use crate::shard::Shard;
use crate::snapshot::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use work_api::client::endpoint;
use work_api::secret::Secret;
use work_api::wire;
use work_api::{ApiClient, ApiError, PageWalk, Step};

/// After a failed discovery, the next try comes sooner than the interval.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Told how discoveries go, so the exporter can report it without discovery knowing metrics.
pub trait DiscoveryObserver: Send + Sync {
    /// A discovery succeeded and kept `found` environments (all shards).
    fn discovery_done(&self, found: usize);
    fn discovery_failed(&self, reason: &'static str);
}

/// A discovered environment, before its key is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    /// From its metadata, by `--discovery.metadata-labels-allowlist`.
    pub labels: BTreeMap<String, String>,
}

/// True when a listed environment is one to watch under `settings`.
pub fn keep(settings: &DiscoverySettings, env: &wire::Environment) -> bool {
    env.config.kind == "self_hosted"
        && (settings.include_archived || env.archived_at.is_none())
        && settings
            .ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&env.id))
        && settings
            .name_regex
            .as_ref()
            .is_none_or(|re| re.is_match(&env.name))
}

/// The environments this shard watches: the configured ones (which win for
/// name, labels and key) plus the discovered ones; an environment without a
/// configured key gets the one in `keys_dir`, read now.
pub fn watched(
    configured: &[Environment],
    found: &[Found],
    shard: Shard,
    keys_dir: Option<&Path>,
) -> Vec<Environment> {
    let mut out: BTreeMap<&str, Environment> = BTreeMap::new();
    for f in found.iter().filter(|f| shard.owns(&f.id)) {
        out.insert(
            &f.id,
            Environment {
                id: f.id.clone(),
                name: f.name.clone(),
                labels: f.labels.clone(),
                key: None,
                scope: f.scope,
                cadence: Default::default(),
            },
        );
    }
    for e in configured.iter().filter(|e| shard.owns(&e.id)) {
        // The configuration wins for name, labels and key; only the list knows
        // the scope and the metadata (whose label names config refuses to reuse).
        let listed = out.get(e.id.as_str());
        let scope = listed.map_or(e.scope, |f| f.scope);
        let mut labels = listed.map(|f| f.labels.clone()).unwrap_or_default();
        labels.extend(e.labels.clone());
        out.insert(
            &e.id,
            Environment {
                scope,
                labels,
                ..e.clone()
            },
        );
    }
    if let Some(dir) = keys_dir {
        for e in out.values_mut().filter(|e| e.key.is_none()) {
            e.key = read_key(dir, &e.id);
        }
    }
    out.into_values().collect()
}

/// The key in `dir/<id>`, trimmed; `None` when there is no usable file. A
/// file that is not a regular one, too large, or holding bytes no header can
/// carry is logged as the configuration error it is, naming the file.
pub fn read_key(dir: &Path, id: &str) -> Option<Secret> {
    match key_in(dir, id) {
        Ok(key) => key,
        Err(problem) => {
            tracing::error!(environment_id = %id, "configuration error in --discovery.keys-dir: {problem}");
            None
        }
    }
}

/// The key in `dir/<id>`: `Ok(None)` when there is no such file, an error
/// naming the file and the fix when it cannot be used (`check-config` reports those).
pub fn key_in(dir: &Path, id: &str) -> Result<Option<Secret>, String> {
    use crate::config::files;
    if !is_plain_id(id) {
        return Ok(None); // never build a path from an id like `../x`
    }
    let path = dir.join(id);
    let text = match files::read_text(&path, files::MAX_KEY_BYTES) {
        Ok(text) => text,
        Err(files::FileError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(format!("{e} (fix: {})", e.fix())),
    };
    match files::check_key(&text) {
        Ok(key) => Ok(Some(Secret::new(key))),
        Err(problem) => Err(format!(
            "key file {} {problem} (fix: write the key alone on one line)",
            path.display()
        )),
    }
}

/// Discovers environments and publishes the set this shard watches.
pub struct Discovery {
    client: Arc<ApiClient>,
    api_key: Secret,
    settings: DiscoverySettings,
    configured: Vec<Environment>,
    shard: Shard,
    timeout: Duration,
    max_pages: u32,
    observer: Arc<dyn DiscoveryObserver>,
    /// The last successful discovery: what a failed one keeps.
    last: Mutex<Vec<Found>>,
    /// Watched environments without a key, to log only changes.
    keyless: Mutex<BTreeSet<String>>,
}

impl Discovery {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Arc<ApiClient>,
        api_key: Secret,
        settings: DiscoverySettings,
        configured: Vec<Environment>,
        shard: Shard,
        timeout: Duration,
        max_pages: u32,
        observer: Arc<dyn DiscoveryObserver>,
    ) -> Self {
        Discovery {
            client,
            api_key,
            settings,
            configured,
            shard,
            timeout,
            max_pages,
            observer,
            last: Mutex::new(Vec::new()),
            keyless: Mutex::new(BTreeSet::new()),
        }
    }

    /// Walk `GET /v1/environments` to the end and keep what the filters let through.
    pub async fn list(&self) -> Result<Vec<Found>, ApiError> {
        let deadline = Instant::now() + self.timeout;
        let mut found = BTreeMap::new();
        let mut walk = PageWalk::new(endpoint::LIST_ENVIRONMENTS, self.max_pages);
        loop {
            let (page, request_id) = self
                .client
                .list_environments_page(
                    &self.api_key,
                    walk.cursor(),
                    self.settings.include_archived,
                    deadline,
                )
                .await?;
            for env in page.data.iter().filter(|e| keep(&self.settings, e)) {
                found.insert(
                    env.id.clone(),
                    Found {
                        id: env.id.clone(),
                        name: env.name.clone(),
                        scope: Scope::parse(env.scope.as_deref()),
                        labels: self.settings.metadata_labels.labels_of(&env.metadata),
                    },
                );
            }
            match walk.advance(page.next_page.as_deref(), &request_id)? {
                Step::More => {}
                Step::End => return Ok(found.into_values().collect()),
                // A partial list would drop environments: keep the last set instead.
                Step::MaxPages => {
                    return Err(ApiError::Pagination {
                        endpoint: endpoint::LIST_ENVIRONMENTS,
                        message: format!(
                            "more than {} pages of environments (--list.max-pages)",
                            self.max_pages
                        ),
                    })
                }
            }
        }
    }

    /// One discovery: list (keeping the last set when that fails), then the
    /// set this shard watches, with keys read now. Returns it and whether the
    /// listing succeeded.
    pub async fn discover_once(&self) -> (Vec<Environment>, bool) {
        let ok = match self.list().await {
            Ok(found) => {
                self.observer.discovery_done(found.len());
                tracing::debug!(found = found.len(), "environments discovered");
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = found;
                true
            }
            Err(e) => {
                self.observer.discovery_failed(e.reason());
                tracing::warn!(
                    endpoint = e.endpoint(),
                    request_id = e.request_id().unwrap_or("none"),
                    reason = e.reason(),
                    "environment discovery failed, keeping the last known set: {e}"
                );
                false
            }
        };
        let found = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // Key files are read on the blocking pool: a slow disk never stalls a scrape.
        let (configured, shard) = (self.configured.clone(), self.shard);
        let keys_dir = self.settings.keys_dir.clone();
        let envs = tokio::task::spawn_blocking(move || {
            watched(&configured, &found, shard, keys_dir.as_deref())
        })
        .await
        .unwrap_or_default();
        self.report_keyless(&envs);
        (envs, ok)
    }

    fn report_keyless(&self, envs: &[Environment]) {
        let now: BTreeSet<String> = envs
            .iter()
            .filter(|e| e.key.is_none())
            .map(|e| e.id.clone())
            .collect();
        let mut before = self.keyless.lock().unwrap_or_else(|p| p.into_inner());
        if *before != now && !now.is_empty() {
            let sample: Vec<&str> = now.iter().take(5).map(String::as_str).collect();
            tracing::warn!(
                environments = now.len(),
                first = %sample.join(","),
                "watched environments without a key file in the keys directory: their work lists fail with reason=auth (stats are still read with the API key)"
            );
        }
        *before = now;
    }

    /// Discover every interval until `shutdown`, publishing each set to the
    /// store and the scheduler.
    pub async fn run(
        self: Arc<Self>,
        store: Store,
        tx: watch::Sender<Vec<Environment>>,
        shutdown: CancellationToken,
    ) {
        loop {
            let (envs, ok) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.discover_once() => r,
            };
            // The store first, so readiness never sees the set before it is there.
            store.set_environments(&envs);
            store.set_discovery_pending(false);
            tx.send_replace(envs);
            let wait = if ok {
                self.settings.interval
            } else {
                self.settings.interval.min(RETRY_AFTER_FAILURE)
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
