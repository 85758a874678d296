//! A refresher wired to a scripted upstream, with a clock the test moves.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use work_api::clock::{Clock, ManualClock};
use work_api::secret::Secret;
use work_api::{ApiClient, RequestBudget};
use work_exporter::config::{Cadences, CredentialKind, Environment, RefreshSettings, StaleAfter};
use work_exporter::metrics::{ExporterMetrics, Settings};
use work_exporter::refresh::Refresher;
use work_exporter::snapshot::Store;

pub const ENV_KEY: &str = "env-key-marker-7f3a";
pub const API_KEY: &str = "api-key-marker-91bc";
pub const NOW_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

pub struct Rig {
    pub refresher: Arc<Refresher>,
    pub metrics: Arc<ExporterMetrics>,
    pub store: Store,
    pub clock: ManualClock,
    pub env: Environment,
    pub settings: RefreshSettings,
}

pub struct Options {
    pub timeout: Duration,
    pub max_pages: u32,
    pub max_body: usize,
    pub page_size: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(5),
            max_pages: 100,
            max_body: 1 << 20,
            page_size: 1000,
        }
    }
}

pub fn environment(id: &str) -> Environment {
    Environment {
        id: id.into(),
        name: format!("name-{id}"),
        labels: BTreeMap::from([("team".to_string(), "queues".to_string())]),
        key: Some(Secret::new(ENV_KEY)),
        scope: Default::default(),
        cadence: Default::default(),
    }
}

pub fn rig(base_url: &str, o: Options) -> Rig {
    let settings = RefreshSettings {
        cadences: Cadences::every(Duration::from_secs(30)),
        timeout: o.timeout,
        stale_after: StaleAfter::fixed(Duration::from_secs(90)),
        lease_ttl: Duration::from_secs(90),
        page_size: o.page_size,
        max_pages: o.max_pages,
    };
    let metrics = Arc::new(
        ExporterMetrics::new(&Settings {
            budget_rps: 1000.0,
            cadences: settings.cadences,
            lease_ttl: settings.lease_ttl,
            discovery: false,
        })
        .unwrap(),
    );
    let client = ApiClient::new(
        url::Url::parse(base_url).unwrap(),
        None,
        4,
        o.max_body,
        Arc::new(RequestBudget::new(1000.0)),
        metrics.clone(),
    )
    .unwrap();
    let clock = ManualClock::new(NOW_MS);
    let store = Store::default();
    let env = environment("env_mock");
    store.set_environments(std::slice::from_ref(&env));
    let refresher = Arc::new(Refresher::new(
        Arc::new(client),
        store.clone(),
        settings.clone(),
        Some(Secret::new(API_KEY)),
        CredentialKind::ApiKey,
        Arc::new(clock.clone()),
        metrics.clone(),
    ));
    Rig {
        refresher,
        metrics,
        store,
        clock,
        env,
        settings,
    }
}

impl Rig {
    pub async fn refresh(&self) -> bool {
        self.refresher.refresh_once(&self.env).await.ok
    }

    pub fn scrape(&self) -> String {
        let ctx = work_exporter::metrics::RenderContext {
            now_ms: self.clock.now_ms(),
            lease_ttl: self.settings.lease_ttl,
            stale_after: self.settings.stale_after,
            drilldown_base: "http://exporter.test:9781".into(),
            ..Default::default()
        };
        String::from_utf8_lossy(&self.metrics.render(&self.store, &ctx)).into_owned()
    }
}

/// The value of the series whose name and labels start with `series` (labels in exposition order).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub const E: &str = r#"environment_id="env_mock",team="queues""#;

pub fn series(name: &str, extra: &str) -> String {
    if extra.is_empty() {
        format!("{name}{{{E}}}")
    } else {
        format!("{name}{{{E},{extra}}}")
    }
}

/// The JSON form of an environment's drill-down page, from a serving exporter.
pub async fn drilldown_json(base_url: &str, environment_id: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{base_url}/environments/{environment_id}"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
