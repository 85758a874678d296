//! One scenario run: the simulator on a manual clock and the exporter driven
//! on it, its answers recorded at every scrape as Prometheus would store them
//! (the target's labels added, a stale marker when a series disappears, `up`
//! for each target). Two layouts: one exporter target refreshing in the
//! background every 30 s (the default), or multi-target mode (`--probe.only`),
//! where every scrape of an environment's target is a `/probe` and its
//! refresh, and the exporter's own target serves only its own metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_api::clock::{Clock, ManualClock, SystemClock};
use work_api::secret::Secret;
use work_exporter::app::{assemble, Parts};
use work_exporter::cli::ServeArgs;
use work_exporter::config::{Config, Environment, Sources};
use work_exporter::metrics::{render_probe, RenderContext};
use work_sim::{SimClock, SimOptions};

pub const REFRESH: Duration = Duration::from_secs(30);
pub const JOB: &str = "anthropic-work-exporter";
pub const INSTANCE: &str = "exporter:9781";
/// In a target's labels: the recorded environment's id.
pub const ENVIRONMENT: &str = "$ENVIRONMENT";

/// What happens at the fault time.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The simulator switches every environment to this scenario.
    Scenario(&'static str),
    /// The exporter stops answering scrapes (`up` 0, its series go stale).
    ExporterGone,
}

/// What a scrape target answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `/metrics` of an exporter refreshing in the background.
    Metrics,
    /// `/metrics` with `--probe.only`: the exporter's own metrics alone.
    Own,
    /// `/probe?environment=ID` of the recorder's environment.
    Probe,
}

/// One scrape target: its labels as Prometheus attaches them
/// (`job="...",instance="..."`, sorted by name) and what it answers.
#[derive(Debug, Clone)]
pub struct Target {
    pub labels: BTreeMap<String, String>,
    pub answer: Answer,
}

/// How Prometheus scrapes the exporter: every target, every `interval`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub interval: Duration,
    pub targets: Vec<Target>,
}

impl Layout {
    /// One exporter, one target, as docs/runbooks.md's table assumes.
    pub fn single(interval: Duration) -> Layout {
        let labels = [("instance", INSTANCE), ("job", JOB)]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        Layout {
            interval,
            targets: vec![Target {
                labels,
                answer: Answer::Metrics,
            }],
        }
    }

    /// The layout with `ENVIRONMENT` in label values replaced by `id`.
    fn for_environment(&self, id: &str) -> Layout {
        let mut l = self.clone();
        for t in &mut l.targets {
            for v in t.labels.values_mut().filter(|v| *v == ENVIRONMENT) {
                *v = id.to_string();
            }
        }
        l
    }

    fn probe_only(&self) -> bool {
        self.targets.iter().any(|t| t.answer == Answer::Probe)
    }
}

/// One recorded sample per scrape: None when the series was absent, and
/// `stale[i]` when it vanished at scrape i (Prometheus writes a stale marker).
#[derive(Debug, Default)]
pub struct Recording {
    pub scrapes: usize,
    /// Seconds between two kept samples (and promtool's evaluations).
    pub step_secs: u64,
    pub series: BTreeMap<String, Vec<Option<String>>>,
    pub stale: BTreeSet<(String, usize)>,
}

impl Recording {
    /// Seconds between two samples (and promtool's evaluations) of the replay.
    pub fn step(&self) -> u64 {
        self.step_secs
    }

    /// One scrape of every target: its exposition, or None when it failed.
    fn add_step(&mut self, answers: &[(&Target, Option<String>)]) {
        let i = self.scrapes;
        self.scrapes += 1;
        let mut seen = BTreeSet::new();
        for (target, exposition) in answers {
            let up = if exposition.is_some() { "1" } else { "0" };
            let up = (series("up", &target.labels, ""), up.to_string());
            for (name, value) in exposition
                .as_deref()
                .map(|e| samples(e, &target.labels))
                .unwrap_or_default()
                .into_iter()
                .chain([up])
            {
                let values = self.series.entry(name.clone()).or_default();
                values.resize(i, None);
                values.push(Some(value));
                seen.insert(name);
            }
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

/// `name{target labels,own labels}`: the target's labels first, as in the
/// promtool files before; an exposed label of the same name as a target
/// label would be renamed `exported_*` by Prometheus, and the exporter
/// exposes none (its reserved names), so none is expected here.
fn series(name: &str, target: &BTreeMap<String, String>, own: &str) -> String {
    let mut labels: Vec<String> = ["job", "instance"]
        .iter()
        .filter_map(|k| target.get(*k).map(|v| format!("{k}=\"{v}\"")))
        .collect();
    labels.extend(
        target
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| format!("{k}=\"{v}\"")),
    );
    if !own.is_empty() {
        labels.push(own.to_string());
    }
    format!("{name}{{{}}}", labels.join(","))
}

/// `name{target labels,labels} value` for every sample of a text exposition.
fn samples(text: &str, target: &BTreeMap<String, String>) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (s, value) = l.rsplit_once(' ')?;
            let s = match s.split_once('{') {
                Some((name, rest)) => series(name, target, rest.trim_end_matches('}')),
                None => series(s, target, ""),
            };
            let value = match value {
                "+Inf" => "Inf",
                v => v,
            };
            Some((s, value.to_string()))
        })
        .collect()
}

/// Runs `steady` for `warmup`, then the fault, until `total`; every target
/// of `layout` scraped every `layout.interval` of simulated time.
pub async fn record(
    fault: Option<Fault>,
    warmup: Duration,
    total: Duration,
    layout: &Layout,
) -> Recording {
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
            worker_sdk: Default::default(),
            credentials_out: None,
            paging: Default::default(),
            clock: SimClock::Manual(clock.clone()),
        },
        shutdown.clone(),
    )
    .await
    .expect("simulator starts");
    let creds = sim.credentials.clone();
    let (parts, cfg) = exporter(&creds, &clock, layout.probe_only());
    let env = &cfg.environments[0];
    let layout = &layout.for_environment(&env.id);
    let http = reqwest::Client::new();

    let step_s = layout.interval.as_secs();
    let mut rec = Recording {
        step_secs: step_s,
        ..Default::default()
    };
    let steps = (total.as_secs() / step_s) as usize;
    let fault_step = (warmup.as_secs() / step_s) as usize;
    let mut gone = false;
    let mut refreshed: Option<Duration> = None;
    for step in 0..=steps {
        if step == fault_step {
            match fault {
                Some(Fault::Scenario(name)) => switch(&http, &creds, name).await,
                Some(Fault::ExporterGone) => gone = true,
                None => {}
            }
        }
        let now = Duration::from_secs(step as u64 * step_s);
        // The background refresh: every 30 s whatever the scrape interval.
        if !layout.probe_only() && refreshed.is_none_or(|t| now >= t + REFRESH) {
            parts.refresher.refresh_once(env).await;
            refreshed = Some(now);
        }
        let mut answers = Vec::new();
        for t in &layout.targets {
            let body = match (gone, t.answer) {
                (true, _) => None,
                (false, answer) => Some(scrape(&parts, &cfg, &clock, answer).await),
            };
            answers.push((t, body));
        }
        rec.add_step(&answers);
        sim.advance(layout.interval).expect("manual clock");
        // Tokio's (paused) clock moves with it: a probe reuses a refresh
        // younger than 2 s by that clock, as the server's does.
        tokio::time::advance(layout.interval).await;
    }
    shutdown.cancel();
    rec
}

/// What one target answers now, as the server would render it.
async fn scrape(parts: &Parts, cfg: &Config, clock: &ManualClock, answer: Answer) -> String {
    let settings = &cfg.refresh;
    let ctx = RenderContext {
        now_ms: clock.now_ms(),
        lease_ttl: settings.lease_ttl,
        stale_after: settings.stale_after,
        drilldown_base: "http://exporter:9781".into(),
        ..Default::default()
    };
    let body = match answer {
        Answer::Metrics => parts.metrics.render(&parts.store, &ctx),
        Answer::Own => parts.metrics.render_own_as(ctx.format),
        Answer::Probe => {
            // As /probe does it: a refresh within the scrape's deadline, then its series.
            let env = &cfg.environments[0];
            let started = tokio::time::Instant::now();
            parts
                .refresher
                .refresh_unless_fresh(env, started, started + settings.timeout)
                .await;
            render_probe(&parts.store, &env.id, 0.0, &ctx)
        }
    };
    String::from_utf8_lossy(&body).into_owned()
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
/// 90 s lease TTL), `--probe.only` in multi-target mode, but for a 10 s refresh deadline and a budget that never
/// binds (the refresh is driven here, not scheduled), on the simulator's clock.
fn exporter(
    creds: &work_sim::Credentials,
    clock: &ManualClock,
    probe_only: bool,
) -> (Parts, Config) {
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
        probe_only,
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
