//! `demo`: the simulator and the exporter in one process, the exporter
//! reading the simulator over real HTTP on loopback, with the URLs to open
//! and how to switch scenario printed at start.

use super::AppError;
use crate::cli::{DemoArgs, ServeArgs};
use crate::config::{self, Config, Environment, Sources};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;
use work_api::secret::Secret;
use work_sim as sim;

pub async fn run(args: &DemoArgs, shutdown: CancellationToken) -> Result<(), AppError> {
    let serve_args = ServeArgs {
        listen_address: args.listen_address.clone(),
        external_url: args.external_url.clone(),
        refresh_interval: args.refresh_interval.clone(),
        // The simulator is local: a generous budget, and stats read with the API key.
        max_requests_per_second: 50.0,
        metrics: args.metrics.clone(),
        log: args.log.clone(),
        ..ServeArgs::defaults()
    };
    // Check the exporter's settings before starting anything; the upstream
    // (the simulator) is filled in once it listens.
    let mut cfg = Config::new(&serve_args, Sources::given(None, Vec::new()))?;
    let listener = super::bind(cfg.listen_address).await?;

    let credentials_out = args.credentials_out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join("anthropic-work-exporter-demo-credentials.json")
    });
    let opts = sim::SimOptions {
        listen_address: args.sim_listen_address,
        environments: args.environments,
        scenario: args.scenario.clone(),
        seed: args.seed,
        items_per_environment: 0,
        workers: 4,
        arrivals_per_minute: 20.0,
        healthcheck_interval: args.sim_healthcheck_interval,
        credentials_out: Some(credentials_out.clone()),
        paging: sim::Paging::default(),
        clock: args.sim_clock.clock(),
    };
    let serving = sim::Serving {
        tls: None,
        round_trip: args.sim_round_trip,
        bandwidth: super::simulate::bandwidth("--sim.bandwidth-mbps", args.sim_bandwidth_mbps)?,
    };
    let running = sim::start_serving(opts, serving, shutdown.clone()).await?;
    let creds = running.credentials.clone();
    let base_url = config::parse::base_url(&creds.base_url)?;
    cfg.point_at(
        base_url,
        Secret::new(creds.api_key.clone()),
        environments(&creds),
    );
    let bound = listener.local_addr().map_err(|source| AppError::Bind {
        addr: cfg.listen_address,
        source,
    })?;
    let shown = if bound.ip().is_unspecified() {
        format!("localhost:{}", bound.port())
    } else {
        bound.to_string()
    };
    print_welcome(args, &creds, &shown, &cfg.telemetry_path, &credentials_out);
    // The exporter reads the simulator's clock: on a manual one, ages move
    // with simulated time, as they would against the real API.
    let result = super::run_exporter(cfg, listener, running.clock(), shutdown.clone()).await;
    shutdown.cancel();
    let _ = running.task.await;
    result
}

/// Where to look and how to switch scenario, printed at start.
fn print_welcome(
    args: &DemoArgs,
    creds: &sim::Credentials,
    shown: &str,
    telemetry_path: &str,
    credentials_out: &std::path::Path,
) {
    println!(
        "anthropic-work-exporter demo: {} simulated environments, scenario {:?}",
        creds.environments.len(),
        args.scenario
    );
    println!("  metrics:        http://{shown}{}", telemetry_path);
    println!("  landing page:   http://{shown}/");
    println!("  simulated API:  {}", creds.base_url);
    println!(
        "  credentials:    {} (mode 0600)",
        credentials_out.display()
    );
    println!("  switch scenario (steady, backlog, workers-down, saturated, stale-heartbeats, stuck-stopping, api-flaky, api-down):");
    println!(
        "    curl -X POST -H \"Authorization: Bearer $(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))[\"admin_token\"])' {})\" -d '{{\"scenario\":\"workers-down\"}}' {}/_sim/scenario",
        credentials_out.display(),
        creds.base_url
    );
    if args.sim_clock == crate::cli::SimClockKind::Manual {
        println!("  manual clock:   simulated time stands still; move it with POST {}/_sim/advance {{\"seconds\": N}} (same token)", creds.base_url);
    }
    println!("  stop with Ctrl-C");
}

/// The simulator's environments as the exporter watches them in the demo
/// (named `demo-1`, `demo-2`, …), each with its key. Tests and the soak
/// example point an in-process exporter at a simulator the same way.
pub fn environments(creds: &sim::Credentials) -> Vec<Environment> {
    creds
        .environments
        .iter()
        .enumerate()
        .map(|(i, e)| Environment {
            id: e.id.clone(),
            name: format!("demo-{}", i + 1),
            labels: BTreeMap::new(),
            key: Some(Secret::new(e.key.clone())),
            scope: Default::default(),
            cadence: Default::default(),
        })
        .collect()
}
