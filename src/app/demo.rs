//! `demo`: the simulator and the exporter in one process, the exporter
//! reading the simulator over real HTTP on loopback, with the URLs to open
//! and how to switch scenario printed at start.

use super::AppError;
use crate::cli::{DemoArgs, ServeArgs};
use crate::config::{self, Config, ConfigError, Environment, Sources};
use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
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

    let credentials_out = match args.credentials_out.clone() {
        Some(path) => path,
        None => default_credentials_path()?,
    };
    let opts = sim::SimOptions {
        listen_address: args.sim_listen_address,
        environments: args.environments,
        scenario: args.scenario.clone(),
        seed: args.seed,
        items_per_environment: 0,
        workers: 4,
        arrivals_per_minute: 20.0,
        healthcheck_interval: args.sim_healthcheck_interval,
        worker_sdk: Default::default(),
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

const CREDENTIALS_FILE: &str = "anthropic-work-exporter-demo-credentials.json";

/// Where the demo writes its credentials without `--credentials-out`: in
/// `$XDG_RUNTIME_DIR` (the user's own, mode 0700), else in a directory of
/// the temporary directory this user owns and only this user can enter,
/// made when missing. A shared, world-writable /tmp is never written into
/// directly, where anyone could plant a link at a fixed name.
fn default_credentials_path() -> Result<PathBuf, AppError> {
    let refuse = |dir: &Path, why: &str| {
        AppError::Config(ConfigError {
            field: "--credentials-out".into(),
            problem: format!("{} {why}", dir.display()),
            fix: "pass --credentials-out PATH in a directory of your own".into(),
        })
    };
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if private_dir_of_mine(&dir) {
            return Ok(dir.join(CREDENTIALS_FILE));
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = std::env::temp_dir().join(format!("anthropic-work-exporter-{uid}"));
    let made = std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map(|_| true);
    match made {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refuse(&dir, &format!("cannot be made: {e}"))),
    }
    if !private_dir_of_mine(&dir) {
        return Err(refuse(
            &dir,
            "is not a directory that only this user owns and may enter",
        ));
    }
    Ok(dir.join(CREDENTIALS_FILE))
}

/// True for a directory (not a link to one) this user owns, closed to others.
fn private_dir_of_mine(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.file_type().is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
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
    println!("  switch scenario (steady, backlog, workers-down, saturated, stale-heartbeats, stuck-stopping, api-flaky, api-down, slow-pickups):");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_credentials_path_is_in_a_private_directory_of_this_user() {
        let path = default_credentials_path().unwrap();
        let dir = path.parent().unwrap();
        assert!(private_dir_of_mine(dir), "{}", dir.display());
        assert!(
            !private_dir_of_mine(&std::env::temp_dir()),
            "not /tmp itself"
        );
    }
}
