//! A fleet bound by its request budget (issue 13): 60 environments at
//! `--refresh.interval 5s` on `--api.max-requests-per-second 2` need 24
//! requests a second and get 2. Waiting for the budget must never fail a
//! refresh, the budget must hold over every window, and the cadences stretch.
//!
//! Two tests, because one clock cannot serve both:
//! - The literal numbers (about ten minutes of fleet time, and one environment
//!   whose 30-page walk needs three deadlines' worth of budget) run on tokio's
//!   paused clock at the scheduler/budget level: the real scheduler, plan and
//!   `RequestBudget`, with a stand-in refresher whose requests draw on the
//!   budget and then take 50 ms "on the wire" under the same deadline rule as
//!   the client (`budget::excluding_waits` + `budget::shifted`). A paused
//!   clock cannot drive real sockets: it jumps to the next timer whenever the
//!   runtime waits on I/O, so HTTP deadlines would fire spuriously.
//! - The real thing over HTTP against the simulator, with every duration
//!   divided by 48 and the budget multiplied by 48 (same ratios: 60
//!   environments, 24 requests/s needed per 2 of budget), in real time:
//!   about 10 s for three list cycles of every environment. (The simulator's
//!   workload plays no part: only the exporter's pace is measured, on the
//!   exporter's own tokio time, which a paused clock cannot drive over real
//!   sockets; hence the scale.)

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use work_api::clock::SystemClock;
use work_api::secret::Secret;
use work_api::{budget, ApiClient, ApiError, RequestBudget, RequestObserver};
use work_exporter::config::{
    Cadence, Cadences, CredentialKind, Environment, RefreshSettings, StaleAfter,
};
use work_exporter::metrics::{ExporterMetrics, Settings};
use work_exporter::refresh::plan::Plan;
use work_exporter::refresh::scheduler::{self, Refreshes};
use work_exporter::refresh::{Outcome, Parts, Refresher};
use work_exporter::snapshot::{QueueSnapshot, Store, WorkSnapshot};

const ENVIRONMENTS: usize = 60;

fn settings(interval: Duration) -> RefreshSettings {
    RefreshSettings {
        cadences: Cadences::every(interval),
        // The default: the interval, at most 25 s.
        timeout: interval.min(Duration::from_secs(25)),
        stale_after: StaleAfter {
            explicit: None,
            cadences: Cadences::every(interval),
        },
        lease_ttl: Duration::from_secs(90),
        page_size: 1000,
        max_pages: 100,
    }
}

/// Most sends in any window of `window` (sorted `sends`).
fn busiest_window(sends: &[Instant], window: Duration) -> usize {
    let mut most = 0;
    let mut start = 0;
    for (end, t) in sends.iter().enumerate() {
        while *t - sends[start] >= window {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most
}

/// Failed refreshes and environments down, from the store.
fn failures_and_down(store: &Store) -> (u64, usize) {
    let map = store.read();
    let failed = map.values().flat_map(|s| s.failures.values()).sum();
    let down = map.values().filter(|s| !s.up).count();
    (failed, down)
}

/// The stand-in refresher of the paused-clock test.
struct OnTheWire {
    store: Store,
    settings: RefreshSettings,
    budget: RequestBudget,
    started: Instant,
    sends: Mutex<Vec<Instant>>,
    /// The longest time one refresh spent queueing for the budget, all its requests together.
    longest_wait: Mutex<Duration>,
}

impl OnTheWire {
    fn now_ms(&self) -> i64 {
        1_700_000_000_000 + (Instant::now() - self.started).as_millis() as i64
    }

    /// One request as the client makes it: wait for the budget (never a
    /// failure in a scheduled refresh), then the answer within the deadline
    /// moved by that wait.
    async fn request(&self, deadline: Instant) -> Result<(), ApiError> {
        self.budget.acquire(deadline).await.expect("never refused");
        self.sends.lock().unwrap().push(Instant::now());
        let answer = tokio::time::sleep(Duration::from_millis(50));
        tokio::time::timeout_at(budget::shifted(deadline), answer)
            .await
            .map_err(|_| ApiError::Timeout {
                endpoint: "stats",
                after: Instant::now() - deadline,
            })
    }
}

impl Refreshes for OnTheWire {
    fn store(&self) -> &Store {
        &self.store
    }
    fn settings(&self) -> &RefreshSettings {
        &self.settings
    }
    fn budget(&self) -> &RequestBudget {
        &self.budget
    }
    fn max_concurrency(&self) -> usize {
        4
    }
    fn retain(&self, _: &HashSet<&str>) {}
    fn plan(&self, _: &Plan) {}
    async fn refresh_parts(&self, env: &Environment, parts: Parts) -> Outcome {
        let deadline = Instant::now() + self.settings.timeout;
        let mut out = Outcome {
            requests: 0,
            list_pages: None,
            ok: true,
        };
        budget::excluding_waits(async {
            for (cadence, wanted) in [(Cadence::Stats, parts.stats), (Cadence::List, parts.list)] {
                if !wanted {
                    continue;
                }
                let pages = if cadence == Cadence::List {
                    pages_of(&env.id)
                } else {
                    1
                };
                let mut answered = Ok(());
                for _ in 0..pages {
                    out.requests += 1;
                    answered = self.request(deadline).await;
                    if answered.is_err() {
                        break;
                    }
                }
                match answered {
                    Ok(()) if cadence == Cadence::Stats => {
                        self.store
                            .commit_queue(&env.id, QueueSnapshot::default(), self.now_ms())
                    }
                    Ok(()) => {
                        let work = WorkSnapshot {
                            pages,
                            ..Default::default()
                        };
                        self.store
                            .commit_work(&env.id, work, &Default::default(), self.now_ms());
                        out.list_pages = Some(pages);
                    }
                    Err(e) => {
                        self.store
                            .commit_failure(&env.id, &[cadence], &e, self.now_ms());
                        out.ok = false;
                    }
                }
            }
            let queued = budget::shifted(deadline) - deadline;
            let mut longest = self.longest_wait.lock().unwrap();
            *longest = (*longest).max(queued);
        })
        .await;
        out
    }
}

/// One environment holds 30,000 items: its walk takes 30 requests, 15 s of
/// the budget at least, three times the 5 s deadline. Counting the wait for
/// the budget against the deadline would fail every one of its walks.
fn pages_of(id: &str) -> u32 {
    if id == "env_000" {
        30
    } else {
        1
    }
}

fn environments(n: usize) -> Vec<Environment> {
    (0..n)
        .map(|i| Environment {
            id: format!("env_{i:03}"),
            name: format!("fleet-{i}"),
            labels: Default::default(),
            key: None,
            cadence: Default::default(),
            scope: Default::default(),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn sixty_environments_on_two_requests_a_second_never_fail_and_never_exceed_the_budget() {
    let envs = environments(ENVIRONMENTS);
    let fleet = Arc::new(OnTheWire {
        store: Store::default(),
        settings: settings(Duration::from_secs(5)),
        budget: RequestBudget::new(2.0),
        started: Instant::now(),
        sends: Mutex::new(Vec::new()),
        longest_wait: Mutex::new(Duration::ZERO),
    });
    let (_tx, rx) = tokio::sync::watch::channel(envs.clone());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(scheduler::run(fleet.clone(), rx, shutdown.clone()));

    // Sample each environment's list walks every second of fleet time until
    // every one has been walked at least three times after its first.
    let mut walks: HashMap<String, BTreeSet<i64>> = HashMap::new();
    let mut list_cycles = 0;
    for _ in 0..1200 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (id, st) in fleet.store.read().iter() {
            if let Some(at) = st.snapshot.as_deref().and_then(|s| s.work_finished_at_ms) {
                walks.entry(id.clone()).or_default().insert(at);
            }
        }
        list_cycles = walks.values().map(BTreeSet::len).min().unwrap_or(0);
        if walks.len() == ENVIRONMENTS && list_cycles >= 4 {
            break;
        }
    }
    shutdown.cancel();
    task.await.unwrap();

    let elapsed = Instant::now() - fleet.started;
    let (failed, down) = failures_and_down(&fleet.store);
    let sends = fleet.sends.lock().unwrap().clone();
    let busiest = busiest_window(&sends, Duration::from_secs(10));
    let longest_wait = *fleet.longest_wait.lock().unwrap();
    eprintln!(
        "{} requests in {elapsed:?} of fleet time, busiest 10 s window {busiest}, longest queueing of one refresh {longest_wait:?}, list walks per environment at least {list_cycles}",
        sends.len()
    );
    assert!(
        list_cycles >= 4,
        "every environment's list walked 4 times (3 effective cycles after the first)"
    );
    assert_eq!(failed, 0, "no refresh failed");
    assert_eq!(down, 0, "no environment down");
    assert!(
        busiest <= 20,
        "at most 2 requests/s over any 10 s window: {busiest}"
    );
    // The budget was really the limit: used at more than 80% over the run.
    let rate = sends.len() as f64 / elapsed.as_secs_f64();
    assert!(rate > 1.6 && rate <= 2.0, "{rate} requests/s");
    assert!(
        longest_wait > Duration::from_secs(5),
        "the big walk queued past the deadline: {longest_wait:?}"
    );
}

/// Counts every request the client makes, at the moment the budget lets it go.
#[derive(Default)]
struct Sends {
    at: Mutex<Vec<Instant>>,
}

impl RequestObserver for Sends {
    fn request_done(&self, _: &'static str, _: &str, _: f64) {}
    fn ratelimit_remaining(&self, _: f64) {}
    fn budget_wait(&self, _: f64) {
        self.at.lock().unwrap().push(Instant::now());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_fleet_over_http_time_scaled_never_fails_and_never_exceeds_the_budget() {
    // Requests 10 ms apart at 96/s: far above the timer's resolution, and
    // a debug build on two cores serves them with time to spare.
    const SCALE: f64 = 48.0;
    // Only a failing run waits this long: about 10 s is needed.
    const LIMIT: Duration = Duration::from_secs(40);
    let shutdown = CancellationToken::new();
    let mut opts = crate::ground_truth::options(ENVIRONMENTS, 50, 2, 6.0, "steady");
    // The API's `""` endings but no inserted empty pages: each refresh costs the two
    // requests (stats + one page) of the case the issue measured, so its arithmetic holds.
    opts.paging = work_sim::Paging::default();
    let sim = work_sim::start(opts, shutdown.clone()).await.unwrap();
    let envs = work_exporter::app::demo::environments(&sim.credentials);
    let interval = Duration::from_secs(5).div_f64(SCALE);
    let rate = 2.0 * SCALE;
    let sends = Arc::new(Sends::default());
    let client = ApiClient::new(
        url::Url::parse(&sim.credentials.base_url).unwrap(),
        None,
        4,
        32 << 20,
        Arc::new(RequestBudget::new(rate)),
        sends.clone(),
    )
    .unwrap();
    let metrics = Arc::new(
        ExporterMetrics::new(&Settings {
            budget_rps: rate,
            cadences: Cadences::every(interval),
            lease_ttl: Duration::from_secs(90),
            discovery: false,
        })
        .unwrap(),
    );
    let store = Store::default();
    let refresher = Arc::new(Refresher::new(
        Arc::new(client),
        store.clone(),
        RefreshSettings {
            // The scaled default (104 ms) is shorter than one round trip can
            // take on a busy two-core machine running a debug build; 400 ms
            // (the 1/12 scale's) still ends long before the 1.25 s the last
            // refresh of the opening burst queues for the budget, so a
            // refresh that counted its queueing against the deadline fails.
            timeout: Duration::from_millis(400),
            ..settings(interval)
        },
        Some(Secret::new(sim.credentials.api_key.clone())),
        CredentialKind::ApiKey,
        Arc::new(SystemClock),
        metrics,
    ));
    let (_tx, rx) = tokio::sync::watch::channel(envs);
    let started = Instant::now();
    let task = tokio::spawn(scheduler::run(refresher, rx, shutdown.clone()));

    let mut walks: HashMap<String, BTreeSet<i64>> = HashMap::new();
    let mut list_cycles = 0;
    while started.elapsed() < LIMIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (id, st) in store.read().iter() {
            if let Some(at) = st.snapshot.as_deref().and_then(|s| s.work_finished_at_ms) {
                walks.entry(id.clone()).or_default().insert(at);
            }
        }
        list_cycles = walks.values().map(BTreeSet::len).min().unwrap_or(0);
        if walks.len() == ENVIRONMENTS && list_cycles >= 4 {
            break;
        }
    }
    let elapsed = started.elapsed();
    let (failed, down) = failures_and_down(&store);
    shutdown.cancel();
    let _ = task.await;
    let mut at = sends.at.lock().unwrap().clone();
    at.sort();
    let window = Duration::from_secs(10).div_f64(SCALE);
    let busiest = busiest_window(&at, window);
    eprintln!(
        "{} requests in {elapsed:?}, busiest {window:?} window {busiest}, list walks per environment at least {list_cycles}",
        at.len()
    );
    assert!(
        list_cycles >= 4,
        "every environment's list walked 4 times within {LIMIT:?}"
    );
    assert_eq!(failed, 0, "no refresh failed");
    assert_eq!(down, 0, "no environment down");
    assert!(
        busiest <= 20,
        "at most 20 requests in any {window:?}: {busiest}"
    );
}
