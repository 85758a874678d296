//! `simulate`: the simulated API (crate `work-sim`) on its own, from its flags.

use crate::cli::{SimArgs, SimClockKind};
use tokio_util::sync::CancellationToken;
use work_sim::{LastCursor, Paging, SimError, SimOptions};

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

/// `simulate`: start, say where it listens and where the keys went, and
/// serve until `shutdown` fires.
pub async fn run(args: &SimArgs, shutdown: CancellationToken) -> Result<(), SimError> {
    let sim = work_sim::start(options(args), shutdown.clone()).await?;
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
