//! Refreshing: one refresh reads an environment's queue stats and walks its
//! whole work list, then replaces its snapshot (or marks it down). The
//! scheduler runs refreshes for every environment, spread over the interval,
//! within the request budget. Refresh writes snapshots and renders nothing.

pub mod fold;
pub mod plan;
pub mod scheduler;

use crate::config::{Cadence, CredentialKind, Environment, RefreshSettings};
use crate::snapshot::{Lifecycle, QueueSnapshot, Snapshot, Store, WorkSnapshot};
use fold::{Fold, Tracker};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use work_api::client::endpoint;
use work_api::clock::SharedClock;
use work_api::decode;
use work_api::secret::Secret;
use work_api::{budget, ApiClient, ApiError, Credential, PageWalk, Step};

/// Told how refreshes go, so the exporter can report it without refresh knowing metrics.
pub trait RefreshObserver: Send + Sync {
    fn refresh_done(&self, seconds: f64);
    /// The scheduler's current plan: effective intervals and the budget's load.
    fn plan(&self, plan: &plan::Plan);
}

/// Refreshes environments into a `Store`.
pub struct Refresher {
    client: Arc<ApiClient>,
    store: Store,
    settings: RefreshSettings,
    api_key: Option<Secret>,
    stats_credential: CredentialKind,
    clock: SharedClock,
    started_ms: i64,
    trackers: Mutex<HashMap<String, Tracker>>,
    /// Per environment: held for the length of a refresh (the scheduler's or a
    /// probe's, never both at once), holding when the last one ended.
    running: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    observer: Arc<dyn RefreshObserver>,
    /// Each environment's pick-up SLO, whose latency threshold the walks judge by.
    pickup: Arc<crate::config::slo::PickupSlos>,
}

/// Which parts of an environment one refresh reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub stats: bool,
    pub list: bool,
}

impl Parts {
    pub const BOTH: Parts = Parts {
        stats: true,
        list: true,
    };
}

/// What a completed refresh reports back to the scheduler.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// API requests the refresh made (stats + list pages), for the budget estimate.
    pub requests: u32,
    /// Pages of a list walk that completed, for the budget estimate.
    pub list_pages: Option<u32>,
    pub ok: bool,
}

impl Refresher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Arc<ApiClient>,
        store: Store,
        settings: RefreshSettings,
        api_key: Option<Secret>,
        stats_credential: CredentialKind,
        clock: SharedClock,
        observer: Arc<dyn RefreshObserver>,
    ) -> Self {
        let started_ms = clock.now_ms();
        Refresher {
            client,
            store,
            settings,
            api_key,
            stats_credential,
            clock,
            started_ms,
            trackers: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            observer,
            pickup: Arc::default(),
        }
    }

    /// Judge pick-ups by these SLOs (the defaults' 60 s until called).
    pub fn with_pickup_slos(mut self, slos: Arc<crate::config::slo::PickupSlos>) -> Self {
        self.pickup = slos;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &RefreshSettings {
        &self.settings
    }

    pub fn client(&self) -> &ApiClient {
        &self.client
    }

    /// Forget the trackers of environments no longer watched.
    pub fn retain(&self, ids: &HashSet<&str>) {
        self.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| ids.contains(id.as_str()));
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| ids.contains(id.as_str()));
    }

    fn running(&self, id: &str) -> Arc<tokio::sync::Mutex<Option<Instant>>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// Refresh both parts of one environment now and commit the result to
    /// the store (after any refresh of it already running).
    pub async fn refresh_once(&self, env: &Environment) -> Outcome {
        self.refresh_parts(env, Parts::BOTH).await
    }

    /// A scheduled refresh of `parts`: its deadline (`--refresh.timeout`)
    /// counts the API's answers and retries, never the time its requests
    /// queue behind the exporter's own budget (`budget::excluding_waits`).
    pub async fn refresh_parts(&self, env: &Environment, parts: Parts) -> Outcome {
        let running = self.running(&env.id);
        let mut last = running.lock().await;
        let deadline = Instant::now() + self.settings.timeout;
        let outcome = budget::excluding_waits(self.refresh_until(env, parts, deadline)).await;
        *last = Some(Instant::now());
        outcome
    }

    /// Refresh on demand (`/probe`) within `deadline`, unless a refresh of
    /// this environment ended at or after `fresh_since`: concurrent probes
    /// share one refresh. `None` when nothing was refreshed. A probe reads
    /// both parts whatever the cadences, and waiting for the budget counts
    /// against its deadline: the scrape behind it will not wait.
    pub async fn refresh_unless_fresh(
        &self,
        env: &Environment,
        fresh_since: Instant,
        deadline: Instant,
    ) -> Option<Outcome> {
        let running = self.running(&env.id);
        let mut last = tokio::time::timeout_at(deadline, running.lock())
            .await
            .ok()?;
        if last.is_some_and(|t| t >= fresh_since) {
            return None;
        }
        let deadline = deadline.min(Instant::now() + self.settings.timeout);
        let outcome = self.refresh_until(env, Parts::BOTH, deadline).await;
        *last = Some(Instant::now());
        Some(outcome)
    }

    /// Read `parts` and commit what was read as one: a refresh of both parts
    /// that fails on the list keeps both parts' last numbers, as a refresh
    /// did before the cadences were split. A failed stats read ends a
    /// combined refresh (the API is likely down for the list too); the list
    /// is tried again at its next turn.
    async fn refresh_until(&self, env: &Environment, parts: Parts, deadline: Instant) -> Outcome {
        let t0 = Instant::now();
        let mut out = Outcome {
            requests: 0,
            list_pages: None,
            ok: false,
        };
        let queue = if parts.stats {
            match self.read_stats(env, deadline, &mut out.requests).await {
                Ok(queue) => Some(queue),
                Err(e) => {
                    self.failed(env, parts, Cadence::Stats, e);
                    self.observer.refresh_done(t0.elapsed().as_secs_f64());
                    return out;
                }
            }
        } else {
            None
        };
        let now_ms = || self.clock.now_ms();
        match (queue, parts.list) {
            (Some(queue), false) => self.store.commit_queue(&env.id, queue, now_ms()),
            (queue, true) => match self.read_list(env, deadline, &mut out.requests).await {
                Ok((work, delta)) => {
                    out.list_pages = Some(work.pages);
                    match queue {
                        Some(queue) => self.store.commit_success(
                            &env.id,
                            Snapshot::whole(queue, work, now_ms()),
                            &delta,
                        ),
                        None => self.store.commit_work(&env.id, work, &delta, now_ms()),
                    }
                }
                Err(e) => {
                    self.failed(env, parts, Cadence::List, e);
                    self.observer.refresh_done(t0.elapsed().as_secs_f64());
                    return out;
                }
            },
            (None, false) => {}
        }
        out.ok = true;
        self.observer.refresh_done(t0.elapsed().as_secs_f64());
        out
    }

    /// `cadence`'s read failed a refresh of `parts`: every part it was to
    /// read keeps its last numbers and counts as failed.
    fn failed(&self, env: &Environment, parts: Parts, cadence: Cadence, e: ApiError) {
        // Last line of defence: whatever the server echoed, no key goes further.
        let keys: Vec<&Secret> = self.api_key.iter().chain(env.key.as_ref()).collect();
        let e = e.redact(&keys);
        tracing::warn!(
            environment_id = %env.id,
            cadence = cadence.as_str(),
            endpoint = e.endpoint(),
            status = e.status().map(|s| s.to_string()).unwrap_or_else(|| "none".into()),
            request_id = e.request_id().unwrap_or("none"),
            reason = e.reason(),
            "refresh failed: {e}"
        );
        let failed: Vec<Cadence> = Cadence::ALL
            .into_iter()
            .filter(|c| match c {
                Cadence::Stats => parts.stats,
                Cadence::List => parts.list,
            })
            .collect();
        self.store
            .commit_failure(&env.id, &failed, &e, self.clock.now_ms());
    }

    async fn read_stats(
        &self,
        env: &Environment,
        deadline: Instant,
        requests: &mut u32,
    ) -> Result<QueueSnapshot, ApiError> {
        let cred = match (self.stats_credential, &self.api_key, &env.key) {
            (CredentialKind::ApiKey, Some(k), _) => Credential::ApiKey(k),
            (_, _, Some(k)) => Credential::EnvironmentKey(k),
            (_, Some(k), None) => Credential::ApiKey(k),
            (_, None, None) => return Err(no_key(endpoint::STATS, &env.id)),
        };
        *requests += 1;
        let stats = self.client.stats(&env.id, cred, deadline).await?;
        Ok(QueueSnapshot::from(&stats))
    }

    /// Walk the whole list: its counts and the lifecycle events it saw.
    async fn read_list(
        &self,
        env: &Environment,
        deadline: Instant,
        requests: &mut u32,
    ) -> Result<(WorkSnapshot, Lifecycle), ApiError> {
        let key = env
            .key
            .as_ref()
            .ok_or_else(|| no_key(endpoint::LIST_WORK, &env.id))?;

        // Take the tracker out for the walk; a failed walk puts the old one back untouched.
        let tracker = self
            .trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&env.id)
            .unwrap_or_else(|| Tracker::new(self.started_ms));
        let walked = self.walk(env, key, &tracker, deadline, requests).await;
        let (work, delta, next) = match walked {
            Ok(done) => done,
            Err(e) => {
                self.trackers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(env.id.clone(), tracker);
                return Err(e);
            }
        };
        if work.truncated {
            tracing::warn!(environment_id = %env.id, pages = work.pages, "work list cut short at --list.max-pages; counts cover only the pages read");
        }
        self.trackers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(env.id.clone(), next);
        Ok((work, delta))
    }

    /// Follow `next_page` to the end, folding each page as it arrives.
    async fn walk(
        &self,
        env: &Environment,
        key: &Secret,
        tracker: &Tracker,
        deadline: Instant,
        requests: &mut u32,
    ) -> Result<
        (
            crate::snapshot::WorkSnapshot,
            crate::snapshot::Lifecycle,
            Tracker,
        ),
        ApiError,
    > {
        let rule = fold::PickupRule {
            latency_ms: self.pickup.get(&env.id).latency_ms(),
            now_ms: self.clock.now_ms(),
        };
        let mut fold = Fold::new(tracker, self.started_ms).with_pickups(rule);
        // The paging rules (and their guards) are the API layer's one walker.
        let mut walk = PageWalk::new(endpoint::LIST_WORK, self.settings.max_pages);
        loop {
            *requests += 1;
            let resp = self
                .client
                .list_work_page(
                    &env.id,
                    key,
                    self.settings.page_size,
                    walk.cursor(),
                    deadline,
                )
                .await?;
            let pages = walk.pages() + 1;
            // Rows are folded as they are decoded; a page that fails to decode
            // fails the walk, and the fold is dropped with it.
            let page = decode::work_page_each(&resp.body, |row| fold.add(&row)).map_err(|e| {
                ApiError::Decode {
                    endpoint: endpoint::LIST_WORK,
                    request_id: resp.request_id.clone(),
                    message: format!("page {pages}: {e}"),
                }
            })?;
            match walk.advance(page.next_page.as_deref(), &resp.request_id)? {
                Step::More => {}
                Step::End => return Ok(fold.finish(false, walk.pages())),
                Step::MaxPages => return Ok(fold.finish(true, walk.pages())),
            }
        }
    }
}

fn no_key(endpoint: &'static str, id: &str) -> ApiError {
    ApiError::Auth {
        endpoint,
        status: 0,
        request_id: "none".into(),
        message: format!("no environment key configured for {id}; provide it in the config file or the keys directory"),
    }
}
