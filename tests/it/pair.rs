//! Two environments behind one client, one request budget and one store, as
//! in production: `env_bad` gets the fault under test, `env_good` never does,
//! so a test can check that a fault stays in its own environment. The
//! exporter's real HTTP server serves the store, so `/metrics` is scraped
//! over loopback while faults are in flight.

use crate::upstream::{page, work, Reply, Seen, Upstream};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_api::clock::ManualClock;
use work_api::secret::Secret;
use work_api::{ApiClient, RequestBudget};
use work_exporter::config::{Cadences, CredentialKind, Environment, RefreshSettings, StaleAfter};
use work_exporter::metrics::{ExporterMetrics, Settings};
use work_exporter::refresh::Refresher;
use work_exporter::server::{self, Site};
use work_exporter::snapshot::Store;

pub const BAD: &str = "env_bad";
pub const GOOD: &str = "env_good";
/// The rig's "now": 2026-01-01T00:00:00Z.
pub const NOW_MS: i64 = 1_767_225_600_000;
/// Two minutes before now.
pub const T0: &str = "2025-12-31T23:58:00Z";

/// Where in a refresh of `env_bad` the fault strikes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    /// `GET …/work/stats`.
    Stats,
    /// The second list page, after the first was folded: the case where a
    /// careless exporter would keep half-counted numbers.
    SecondPage,
}

/// `reply(seen, n)`: `n` counts the requests the fault has answered so far.
pub type FaultReply = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

/// One upstream fault and what the exporter must make of it.
#[derive(Clone)]
pub struct Fault {
    pub name: &'static str,
    pub at: At,
    pub reply: FaultReply,
    /// The failure `reason`, or `None` when the refresh must succeed anyway.
    pub reason: Option<&'static str>,
    /// The refresh deadline for this case.
    pub timeout: Duration,
}

impl Fault {
    pub fn new(
        name: &'static str,
        at: At,
        reason: Option<&'static str>,
        reply: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Fault {
        Fault {
            name,
            at,
            reply: Arc::new(reply),
            reason,
            timeout: Duration::from_millis(1500),
        }
    }

    /// The same reply every time.
    pub fn always(name: &'static str, at: At, reason: Option<&'static str>, r: Reply) -> Fault {
        Fault::new(name, at, reason, move |_, _| r.clone())
    }

    pub fn timeout(mut self, t: Duration) -> Fault {
        self.timeout = t;
        self
    }
}

/// The fault in force and how many requests it has answered.
type ActiveFault = Arc<Mutex<Option<(Fault, Arc<AtomicUsize>)>>>;

pub struct Options {
    pub budget_rps: f64,
    pub max_body: usize,
    pub env_key: String,
    pub api_key: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            budget_rps: 1000.0,
            max_body: 64 << 10,
            env_key: crate::rig::ENV_KEY.into(),
            api_key: crate::rig::API_KEY.into(),
        }
    }
}

pub struct Pair {
    pub up: Upstream,
    pub store: Store,
    pub metrics: Arc<ExporterMetrics>,
    pub clock: ManualClock,
    pub bad: Environment,
    pub good: Environment,
    pub url: String,
    pub site: Arc<Site>,
    settings: RefreshSettings,
    client: Arc<ApiClient>,
    api_key: Secret,
    fault: ActiveFault,
    shutdown: CancellationToken,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn healthy_stats(depth: i64) -> String {
    format!(
        r#"{{"type":"work_queue_stats","depth":{depth},"pending":1,"oldest_queued_at":"{T0}","workers_polling":2}}"#
    )
}

/// `env_bad` when nothing is wrong: stats plus two list pages.
fn bad_healthy(seen: &Seen) -> Reply {
    if seen.path.ends_with("/stats") {
        return Reply::json(200, healthy_stats(3));
    }
    match seen.param("page").as_deref() {
        None => Reply::json(
            200,
            page(
                &[
                    work("w1", "queued", T0, None),
                    work("w2", "active", T0, Some(T0)),
                ],
                Some("c1"),
            ),
        ),
        _ => Reply::json(200, page(&[work("w3", "stopping", T0, None)], None)),
    }
}

/// What `env_bad` answers where the fault does not strike, while it is on:
/// different numbers, so that anything half-applied would show.
fn bad_during_fault(seen: &Seen) -> Reply {
    if seen.path.ends_with("/stats") {
        return Reply::json(200, healthy_stats(99));
    }
    let items: Vec<String> = (0..5)
        .map(|i| work(&format!("x{i}"), "queued", T0, None))
        .collect();
    match seen.param("page") {
        None => Reply::json(200, page(&items, Some("c1"))),
        Some(_) => Reply::json(200, page(&[work("x9", "active", T0, None)], None)),
    }
}

fn good(seen: &Seen) -> Reply {
    if seen.path.ends_with("/stats") {
        return Reply::json(200, healthy_stats(5));
    }
    Reply::json(
        200,
        page(
            &[
                work("g1", "queued", T0, None),
                work("g2", "active", T0, Some("2025-12-31T23:59:50Z")),
            ],
            None,
        ),
    )
}

fn environment(id: &str, key: &str) -> Environment {
    Environment {
        id: id.into(),
        name: format!("name-{id}"),
        labels: BTreeMap::new(),
        key: Some(Secret::new(key)),
        scope: Default::default(),
        cadence: Default::default(),
    }
}

impl Pair {
    pub async fn start(o: Options) -> Pair {
        let fault: ActiveFault = Arc::default();
        let f = fault.clone();
        let up = Upstream::start(move |seen, _| {
            if seen.path.contains(&format!("/{GOOD}/")) {
                return good(seen);
            }
            let current = f.lock().unwrap().clone();
            match current {
                None => bad_healthy(seen),
                Some((fault, n)) => {
                    let hit = match fault.at {
                        At::Stats => seen.path.ends_with("/stats"),
                        At::SecondPage => seen.param("page").is_some(),
                    };
                    if hit {
                        (fault.reply)(seen, n.fetch_add(1, Ordering::SeqCst))
                    } else {
                        bad_during_fault(seen)
                    }
                }
            }
        })
        .await;
        Self::with_upstream(up, o, fault).await
    }

    async fn with_upstream(up: Upstream, o: Options, fault: ActiveFault) -> Pair {
        let settings = RefreshSettings {
            cadences: Cadences::every(Duration::from_secs(30)),
            timeout: Duration::from_millis(1500),
            stale_after: StaleAfter::fixed(Duration::from_secs(90)),
            lease_ttl: Duration::from_secs(90),
            page_size: 1000,
            max_pages: 100,
        };
        let metrics = Arc::new(
            ExporterMetrics::new(&Settings {
                budget_rps: o.budget_rps,
                cadences: settings.cadences,
                lease_ttl: settings.lease_ttl,
                discovery: false,
            })
            .unwrap(),
        );
        let client = Arc::new(
            ApiClient::new(
                url::Url::parse(&up.base_url).unwrap(),
                None,
                4,
                o.max_body,
                Arc::new(RequestBudget::new(o.budget_rps)),
                metrics.clone(),
            )
            .unwrap(),
        );
        let clock = ManualClock::new(NOW_MS);
        let store = Store::default();
        let bad = environment(BAD, &o.env_key);
        let good = environment(GOOD, &o.env_key);
        store.set_environments(&[bad.clone(), good.clone()]);
        let shutdown = CancellationToken::new();
        let site = Arc::new(Site {
            store: store.clone(),
            metrics: metrics.clone(),
            clock: Arc::new(clock.clone()),
            telemetry_path: "/metrics".into(),
            lease_ttl: settings.lease_ttl,
            stale_after: settings.stale_after,
            external_url: "http://exporter.test:9781".into(),
            refresher: Arc::new(Refresher::new(
                client.clone(),
                store.clone(),
                settings.clone(),
                Some(Secret::new(o.api_key.clone())),
                CredentialKind::ApiKey,
                Arc::new(clock.clone()),
                metrics.clone(),
            )),
            probe_only: false,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server::serve(listener, site.clone(), shutdown.clone()));
        Pair {
            up,
            store,
            metrics,
            clock,
            bad,
            good,
            url,
            site,
            settings,
            client,
            api_key: Secret::new(o.api_key),
            fault,
            shutdown,
        }
    }

    /// A refresher with this deadline (sharing the client, budget and store).
    pub fn refresher(&self, timeout: Duration) -> Refresher {
        self.refresher_every(self.settings.cadences.stats, timeout)
    }

    /// A refresher for the scheduler, with this interval and deadline.
    pub fn refresher_every(&self, interval: Duration, timeout: Duration) -> Refresher {
        Refresher::new(
            self.client.clone(),
            self.store.clone(),
            RefreshSettings {
                cadences: Cadences::every(interval),
                timeout,
                ..self.settings.clone()
            },
            Some(self.api_key.clone()),
            CredentialKind::ApiKey,
            Arc::new(self.clock.clone()),
            self.metrics.clone(),
        )
    }

    /// Another server over the same store, with these options; its address.
    pub async fn serve_with(&self, options: server::ServeOptions) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(server::serve_with(
            listener,
            self.site.clone(),
            options,
            self.shutdown.clone(),
        ));
        addr
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.fault.lock().unwrap() = fault.map(|f| (f, Arc::new(AtomicUsize::new(0))));
    }

    /// Refresh both environments at once, as the scheduler would; `(bad ok, good ok)`.
    pub async fn refresh_both(&self, timeout: Duration) -> (bool, bool) {
        let r = self.refresher(timeout);
        let (b, g) = tokio::join!(r.refresh_once(&self.bad), r.refresh_once(&self.good));
        (b.ok, g.ok)
    }

    /// `/metrics` over HTTP, failing the test when it takes longer than `limit`.
    pub async fn scrape_within(&self, limit: Duration) -> String {
        let t = std::time::Instant::now();
        let text = tokio::time::timeout(limit, async {
            reqwest::get(format!("{}/metrics", self.url))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
        .await
        .unwrap_or_else(|_| panic!("/metrics took longer than {limit:?}"));
        assert!(t.elapsed() <= limit);
        text
    }

    pub async fn scrape(&self) -> String {
        self.scrape_within(Duration::from_secs(2)).await
    }
}

/// The series of one environment, as `name{labels} value` lines.
pub fn lines_of(text: &str, env: &str) -> Vec<String> {
    let needle = format!("environment_id=\"{env}\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(&needle))
        .map(str::to_string)
        .collect()
}

/// `lines_of`, without the series a failed refresh legitimately changes.
pub fn data_lines_of(text: &str, env: &str) -> Vec<String> {
    lines_of(text, env)
        .into_iter()
        .filter(|l| {
            !l.starts_with("anthropic_work_up{")
                && !l.starts_with("anthropic_work_exporter_refresh_failures_total{")
        })
        .collect()
}

pub fn value(text: &str, name: &str, env: &str, extra: &str) -> Option<f64> {
    let series = if extra.is_empty() {
        format!("{name}{{environment_id=\"{env}\"}}")
    } else {
        format!("{name}{{environment_id=\"{env}\",{extra}}}")
    };
    crate::rig::value(text, &series)
}

pub fn failures(text: &str, env: &str, reason: &str) -> f64 {
    value(
        text,
        "anthropic_work_exporter_refresh_failures_total",
        env,
        &format!("reason=\"{reason}\""),
    )
    .unwrap_or(0.0)
}
