//! The simulator on a manual clock and the exporter assembled on it in
//! process, as `serve` assembles it: what every recorder drives (refresh,
//! render a scrape, switch the scenario, advance the clock).

use crate::record::Answer;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_api::clock::{Clock, ManualClock, SystemClock};
use work_api::secret::Secret;
use work_exporter::app::{assemble, Parts};
use work_exporter::cli::{HistogramMode, ServeArgs};
use work_exporter::config::{Config, Environment, Sources};
use work_exporter::metrics::{render_probe, RenderContext};
use work_sim::{RunningSim, SimClock, SimOptions};

/// How a recorder sets up the simulator and the exporter.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub arrivals_per_minute: f64,
    pub probe_only: bool,
    pub histograms: HistogramMode,
    /// `--api.compression`.
    pub compression: bool,
}

impl Default for Setup {
    /// The demo's fleet (4 workers, 20 arrivals a minute), one exporter.
    fn default() -> Self {
        Setup {
            arrivals_per_minute: 20.0,
            probe_only: false,
            histograms: HistogramMode::default(),
            compression: true,
        }
    }
}

pub struct Rig {
    pub sim: RunningSim,
    pub parts: Parts,
    pub cfg: Config,
    pub clock: ManualClock,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Rig {
    pub async fn start(setup: Setup) -> Rig {
        let clock = ManualClock::new(SystemClock.now_ms());
        let shutdown = CancellationToken::new();
        let sim = work_sim::start(
            SimOptions {
                seed: 16,
                workers: 4,
                arrivals_per_minute: setup.arrivals_per_minute,
                // A healthcheck a minute, as the platform sends them.
                healthcheck_interval: Duration::from_secs(60),
                clock: SimClock::Manual(clock.clone()),
                ..SimOptions::loopback()
            },
            shutdown.clone(),
        )
        .await
        .expect("simulator starts");
        let (parts, cfg) = exporter(&sim.credentials, &clock, setup);
        Rig {
            sim,
            parts,
            cfg,
            clock,
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    /// The recorded environment's id.
    pub fn environment_id(&self) -> &str {
        &self.cfg.environments[0].id
    }

    /// One refresh of the environment, as the background loop runs it.
    pub async fn refresh(&self) {
        self.parts
            .refresher
            .refresh_once(&self.cfg.environments[0])
            .await;
    }

    /// Simulated time moves on (the workload steps every 250 ms of it), and
    /// Tokio's paused clock with it: a probe reuses a refresh younger than
    /// 2 s by that clock, as the server's does.
    pub async fn advance(&self, by: Duration) {
        self.sim.advance(by).expect("manual clock");
        tokio::time::advance(by).await;
    }

    /// What one target answers now, as the server would render it.
    pub async fn scrape(&self, answer: Answer) -> String {
        let (parts, cfg) = (&self.parts, &self.cfg);
        let settings = &cfg.refresh;
        let ctx = RenderContext {
            now_ms: self.clock.now_ms(),
            lease_ttl: settings.lease_ttl,
            stale_after: settings.stale_after,
            drilldown_base: "http://exporter:9781".into(),
            options: Arc::new(cfg.exposition.clone()),
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

    /// `POST /_sim/scenario` with this body (a scenario and its knobs).
    pub async fn switch(&self, body: serde_json::Value) {
        let creds = &self.sim.credentials;
        let resp = self
            .http
            .post(format!("{}/_sim/scenario", creds.base_url))
            .bearer_auth(&creds.admin_token)
            .json(&body)
            .send()
            .await
            .expect("simulator admin endpoint");
        let status = resp.status();
        assert!(
            status.is_success(),
            "switching to {body}: {status} {}",
            resp.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The exporter as `serve` assembles it from its default flags (30 s refresh,
/// 90 s lease TTL), `--probe.only` in multi-target mode, but for a 10 s refresh deadline and a budget that never
/// binds (the refresh is driven here, not scheduled), on the simulator's clock.
fn exporter(creds: &work_sim::Credentials, clock: &ManualClock, setup: Setup) -> (Parts, Config) {
    let key = &creds.environments[0];
    let env = Environment {
        id: key.id.clone(),
        name: "time-to-page".into(),
        labels: BTreeMap::new(),
        key: Some(Secret::new(&key.key)),
        scope: Default::default(),
        cadence: Default::default(),
    };
    let mut args = ServeArgs {
        base_url: creds.base_url.clone(),
        refresh_interval: "30s".into(),
        refresh_timeout: Some("10s".into()),
        max_requests_per_second: 1000.0,
        probe_only: setup.probe_only,
        compression: setup.compression,
        ..ServeArgs::defaults()
    };
    args.metrics.histograms = setup.histograms;
    let cfg = Config::new(
        &args,
        Sources::given(Some(Secret::new(&creds.api_key)), vec![env]),
    )
    .expect("the recorder's settings");
    let parts = assemble(&cfg, Arc::new(clock.clone())).expect("the exporter's parts");
    (parts, cfg)
}
