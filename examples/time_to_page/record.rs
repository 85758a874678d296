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
use work_exporter::app::{assemble, Parts};
use work_exporter::cli::ServeArgs;
use work_exporter::config::{Config, Environment, Sources};
use work_exporter::metrics::RenderContext;
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
    /// Seconds between two kept samples: `SCRAPE` when 0 (every scrape kept).
    pub step_secs: u64,
    pub series: BTreeMap<String, Vec<Option<String>>>,
    pub stale: BTreeSet<(String, usize)>,
}

impl Recording {
    /// Seconds between two samples (and promtool's evaluations) of the replay.
    pub fn step(&self) -> u64 {
        match self.step_secs {
            0 => SCRAPE.as_secs(),
            s => s,
        }
    }

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
    let (parts, cfg) = exporter(&creds, &clock);
    let (env, settings) = (&cfg.environments[0], &cfg.refresh);
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
            parts.refresher.refresh_once(env).await;
        }
        let body = (!gone).then(|| {
            let ctx = RenderContext {
                now_ms: clock.now_ms(),
                lease_ttl: settings.lease_ttl,
                stale_after: settings.stale_after,
                drilldown_base: "http://exporter:9781".into(),
                ..Default::default()
            };
            String::from_utf8_lossy(&parts.metrics.render(&parts.store, &ctx)).into_owned()
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

/// The exporter as `serve` assembles it from its default flags (30 s refresh,
/// 90 s lease TTL), but for a 10 s refresh deadline and a budget that never
/// binds (the refresh is driven here, not scheduled), on the simulator's clock.
fn exporter(creds: &work_sim::Credentials, clock: &ManualClock) -> (Parts, Config) {
    let key = &creds.environments[0];
    let env = Environment {
        id: key.id.clone(),
        name: "time-to-page".into(),
        labels: BTreeMap::new(),
        key: Some(Secret::new(&key.key)),
        scope: Default::default(),
        cadence: Default::default(),
    };
    let args = ServeArgs {
        base_url: creds.base_url.clone(),
        refresh_interval: "30s".into(),
        refresh_timeout: Some("10s".into()),
        max_requests_per_second: 1000.0,
        ..ServeArgs::defaults()
    };
    let cfg = Config::new(
        &args,
        Sources::given(Some(Secret::new(&creds.api_key)), vec![env]),
    )
    .expect("the recorder's settings");
    let parts = assemble(&cfg, Arc::new(clock.clone())).expect("the exporter's parts");
    (parts, cfg)
}
