//! `simulate`: the simulated API (crate `work-sim`) on its own, from its flags.

use crate::cli::{SimArgs, SimClockKind};
use tokio_util::sync::CancellationToken;
use work_sim::{LastCursor, Paging, Serving, SimError, SimOptions, TlsFiles};

/// The simulator's options from its flags.
pub fn options(a: &SimArgs) -> SimOptions {
    {
        SimOptions {
            listen_address: a.listen_address,
            environments: a.environments,
            scenario: a.scenario.clone(),
            seed: a.seed,
            items_per_environment: a.items_per_environment,
            workers: a.workers,
            arrivals_per_minute: a.arrivals_per_minute,
            healthcheck_interval: a.healthcheck_interval,
            worker_sdk: a.worker_sdk,
            credentials_out: a.credentials_out.clone(),
            paging: Paging {
                last_cursor: if a.null_last_cursor {
                    LastCursor::Null
                } else {
                    LastCursor::Empty
                },
                empty_page_every: a.empty_page_every,
            },
            clock: a.clock.clock(),
        }
    }
}

/// How the simulator is reached, from its flags (`--tls-*`, `--round-trip`, `--bandwidth-mbps`).
pub fn serving(a: &SimArgs) -> Result<Serving, SimError> {
    let tls = match (&a.tls_cert_file, &a.tls_key_file) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    Ok(Serving {
        tls,
        round_trip: a.round_trip,
        bandwidth: bandwidth("--bandwidth-mbps", a.bandwidth_mbps)?,
    })
}

/// Mbit/s as bytes a second; 0 is no cap.
pub fn bandwidth(flag: &'static str, mbps: f64) -> Result<Option<u64>, SimError> {
    if !(mbps.is_finite() && mbps >= 0.0) {
        return Err(SimError::InvalidOption {
            flag,
            problem: format!("{mbps} is not a rate: use Mbit/s such as 100, or 0 for no cap"),
        });
    }
    Ok((mbps > 0.0).then(|| ((mbps * 1e6 / 8.0) as u64).max(1)))
}

/// `simulate`: start, say where it listens and where the keys went, and
/// serve until `shutdown` fires.
pub async fn run(args: &SimArgs, shutdown: CancellationToken) -> Result<(), SimError> {
    let sim = work_sim::start_serving(options(args), serving(args)?, shutdown.clone()).await?;
    let base_url = &sim.credentials.base_url;
    tracing::info!(%base_url, environments = args.environments, scenario = %args.scenario, "simulator listening");
    println!("Simulated Environments Work API listening on {base_url}");
    match &args.credentials_out {
        Some(p) => println!(
            "Credentials (API key, environment keys, admin token) written to {}",
            p.display()
        ),
        None => {
            // No file asked for: the keys are only good for this local process.
            let json = serde_json::to_string_pretty(&sim.credentials).unwrap_or_default();
            println!("Credentials (pass --credentials-out FILE to write them to a file):\n{json}");
        }
    }
    println!(
        "Switch scenario: curl -X POST -H 'Authorization: Bearer <admin_token>' -d '{{\"scenario\":\"workers-down\"}}' {base_url}/_sim/scenario"
    );
    if args.clock == SimClockKind::Manual {
        println!(
            "Manual clock: simulated time stands still; move it with curl -X POST -H 'Authorization: Bearer <admin_token>' -d '{{\"seconds\":60}}' {base_url}/_sim/advance"
        );
    }
    shutdown.cancelled().await;
    let _ = sim.task.await;
    Ok(())
}
