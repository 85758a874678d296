//! One scenario run: the simulator on a manual clock, the exporter's refresh
//! driven every 30 simulated seconds, and its /metrics recorded every 15 s as
//! Prometheus would scrape it (job and instance labels added, a stale marker
//! when a series disappears, `up` for the target).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_api::clock::{Clock, ManualClock, SystemClock};
use work_api::secret::Secret;
use work_api::{ApiClient, RequestBudget};
use work_exporter::config::{Cadences, CredentialKind, Environment, RefreshSettings, StaleAfter};
use work_exporter::metrics::{ExporterMetrics, RenderContext, Settings};
use work_exporter::refresh::Refresher;
use work_exporter::snapshot::Store;
use work_sim::{SimClock, SimOptions};

pub const SCRAPE: Duration = Duration::from_secs(15);
pub const REFRESH: Duration = Duration::from_secs(30);
pub const JOB: &str = "anthropic-work-exporter";
pub const INSTANCE: &str = "exporter:9781";

/// What happens at the fault time.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The simulator switches every environment to this scenario.
    Scenario(&'static str),
    /// The exporter stops answering scrapes (`up` 0, its series go stale).
    ExporterGone,
}

/// One recorded sample per scrape: None when the series was absent, and
/// `stale[i]` when it vanished at scrape i (Prometheus writes a stale marker).
#[derive(Debug, Default)]
pub struct Recording {
    pub scrapes: usize,
    pub series: BTreeMap<String, Vec<Option<String>>>,
    pub stale: BTreeSet<(String, usize)>,
}

impl Recording {
    fn add_scrape(&mut self, exposition: Option<&str>) {
        let i = self.scrapes;
        self.scrapes += 1;
        let mut seen = BTreeSet::new();
        let up = if exposition.is_some() { "1" } else { "0" };
        let target = format!("up{{instance=\"{INSTANCE}\",job=\"{JOB}\"}}");
        for (name, value) in exposition
            .map(samples)
            .unwrap_or_default()
            .into_iter()
            .chain([(target, up.to_string())])
        {
            let values = self.series.entry(name.clone()).or_default();
            values.resize(i, None);
            values.push(Some(value));
            seen.insert(name);
        }
        for (name, values) in &mut self.series {
            if !seen.contains(name) {
                if values.last().is_some_and(|v| v.is_some()) {
                    self.stale.insert((name.clone(), i));
                }
                values.resize(i + 1, None);
            }
        }
    }
}

/// `name{job,instance,labels} value` for every sample of a text exposition.
fn samples(text: &str) -> Vec<(String, String)> {
    let with_target = format!("job=\"{JOB}\",instance=\"{INSTANCE}\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let series = match series.split_once('{') {
                Some((name, rest)) => format!("{name}{{{with_target},{rest}"),
                None => format!("{series}{{{with_target}}}"),
            };
            let value = match value {
                "+Inf" => "Inf",
                v => v,
            };
            Some((series, value.to_string()))
        })
        .collect()
}

/// Runs `steady` for `warmup`, then the fault, until `total`; one scrape
/// every 15 s of simulated time.
pub async fn record(fault: Option<Fault>, warmup: Duration, total: Duration) -> Recording {
    let clock = ManualClock::new(SystemClock.now_ms());
    let shutdown = CancellationToken::new();
    let sim = work_sim::start(
        SimOptions {
            listen_address: "127.0.0.1:0".parse().expect("loopback address"),
            environments: 1,
            scenario: "steady".into(),
            seed: 16,
            items_per_environment: 0,
            // The demo's fleet: 4 workers, 20 arrivals a minute, a healthcheck a minute.
            workers: 4,
            arrivals_per_minute: 20.0,
            healthcheck_interval: Duration::from_secs(60),
            credentials_out: None,
            paging: Default::default(),
            clock: SimClock::Manual(clock.clone()),
        },
        shutdown.clone(),
    )
    .await
    .expect("simulator starts");
    let creds = sim.credentials.clone();
    let (refresher, metrics, store, env, settings) = exporter(&creds, &clock);
    let http = reqwest::Client::new();

    let mut rec = Recording::default();
    let steps = (total.as_secs() / SCRAPE.as_secs()) as usize;
    let per_refresh = (REFRESH.as_secs() / SCRAPE.as_secs()) as usize;
    let fault_step = (warmup.as_secs() / SCRAPE.as_secs()) as usize;
    let mut gone = false;
    for step in 0..=steps {
        if step == fault_step {
            match fault {
                Some(Fault::Scenario(name)) => switch(&http, &creds, name).await,
                Some(Fault::ExporterGone) => gone = true,
                None => {}
            }
        }
        if step % per_refresh == 0 {
            refresher.refresh_once(&env).await;
        }
        let body = (!gone).then(|| {
            let ctx = RenderContext {
                now_ms: clock.now_ms(),
                lease_ttl: settings.lease_ttl,
                stale_after: settings.stale_after,
                drilldown_base: "http://exporter:9781".into(),
                ..Default::default()
            };
            String::from_utf8_lossy(&metrics.render(&store, &ctx)).into_owned()
        });
        rec.add_scrape(body.as_deref());
        sim.advance(SCRAPE).expect("manual clock");
    }
    shutdown.cancel();
    rec
}

async fn switch(http: &reqwest::Client, creds: &work_sim::Credentials, scenario: &str) {
    let resp = http
        .post(format!("{}/_sim/scenario", creds.base_url))
        .bearer_auth(&creds.admin_token)
        .json(&serde_json::json!({ "scenario": scenario }))
        .send()
        .await
        .expect("simulator admin endpoint");
    assert!(
        resp.status().is_success(),
        "switching to {scenario}: {}",
        resp.status()
    );
}

type Exporter = (
    Arc<Refresher>,
    Arc<ExporterMetrics>,
    Store,
    Environment,
    RefreshSettings,
);

/// The exporter's refresher and metrics as `serve` wires them, with the default
/// settings (30 s refresh, 90 s lease TTL), on the simulator's clock.
fn exporter(creds: &work_sim::Credentials, clock: &ManualClock) -> Exporter {
    let settings = RefreshSettings {
        cadences: Cadences::every(REFRESH),
        timeout: Duration::from_secs(10),
        // The default: three refresh intervals.
        stale_after: StaleAfter {
            explicit: None,
            cadences: Cadences::every(REFRESH),
        },
        lease_ttl: Duration::from_secs(90),
        page_size: 1000,
        max_pages: 100,
    };
    let metrics = Arc::new(
        ExporterMetrics::new(&Settings {
            budget_rps: 5.0,
            cadences: settings.cadences,
            lease_ttl: settings.lease_ttl,
            discovery: false,
        })
        .expect("metrics registry"),
    );
    let client = ApiClient::new(
        url::Url::parse(&creds.base_url).expect("simulator URL"),
        None,
        4,
        64 << 20,
        Arc::new(RequestBudget::new(1000.0)),
        metrics.clone(),
    )
    .expect("API client");
    let key = &creds.environments[0];
    let env = Environment {
        id: key.id.clone(),
        name: "time-to-page".into(),
        labels: BTreeMap::new(),
        key: Some(Secret::new(&key.key)),
        scope: Default::default(),
        cadence: Default::default(),
    };
    let store = Store::default();
    store.set_environments(std::slice::from_ref(&env));
    let refresher = Arc::new(Refresher::new(
        Arc::new(client),
        store.clone(),
        settings.clone(),
        Some(Secret::new(&creds.api_key)),
        CredentialKind::ApiKey,
        Arc::new(clock.clone()),
        metrics.clone(),
    ));
    (refresher, metrics, store, env, settings)
}
