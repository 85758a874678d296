//! The simulated Environments Work API: every work endpoint plus the
//! environment list, the real credential rules, a workload of simulated
//! workers, named scenarios with fault injection, and admin endpoints with
//! the ground truth. Used by `simulate`, `demo`, tests and benchmarks.
//!
//! - `world`: environments, keys, the workload step.
//! - `clock`: wall time or a manual clock that `advance` moves.
//! - `state`: one queue's items and leases (pure, time as a parameter).
//! - `workload`, `seed`: simulated workers and arrivals; the static population.
//! - `scenario`: scenario names and injected faults.
//! - `http`, `routes`, `auth`, `admin`, `json`, `paging`, `record`: the HTTP side.

mod admin;
mod auth;
mod clock;
mod endpoint;
mod http;
mod ids;
mod json;
mod link;
mod paging;
mod record;
mod routes;
mod scenario;
mod seed;
mod serving;
mod session_read;
mod sessions;
mod setup;
mod state;
mod ticking;
mod tuning;
mod workload;
mod world;

pub use clock::{SimClock, MAX_ADVANCE};
pub use paging::{LastCursor, Paging};
pub use scenario::{Scenario, UnknownScenario};
pub use serving::{Serving, TlsFiles};
pub use setup::write_credentials;
pub use workload::WorkerSdk;

use setup::check;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use work_api::clock::SharedClock;

/// What a user or a test needs to point the exporter at the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub base_url: String,
    pub api_key: String,
    pub admin_token: String,
    pub environments: Vec<EnvironmentKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentKey {
    pub id: String,
    pub key: String,
}

/// Simulator settings, checked.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen_address: SocketAddr,
    pub environments: usize,
    pub scenario: String,
    pub seed: u64,
    pub items_per_environment: usize,
    pub workers: usize,
    pub arrivals_per_minute: f64,
    /// One healthcheck item per environment this often (zero: none).
    pub healthcheck_interval: std::time::Duration,
    /// Which official worker the simulated workers behave as: 2.16+ by
    /// default, 2.14, or a fleet of both.
    pub worker_sdk: WorkerSdk,
    pub credentials_out: Option<PathBuf>,
    /// How lists page: `""` or `null` endings, and empty pages now and then.
    pub paging: Paging,
    /// Wall time, or a clock the caller moves (`RunningSim::advance`,
    /// `POST /_sim/advance`).
    pub clock: SimClock,
}

impl SimOptions {
    /// One steady environment on a free loopback port: no workload, no
    /// healthchecks, lists as the API ends them, the wall clock. Tests and
    /// tools set what their run needs on top (`..SimOptions::loopback()`).
    pub fn loopback() -> SimOptions {
        SimOptions {
            listen_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            environments: 1,
            scenario: "steady".into(),
            seed: 1,
            items_per_environment: 0,
            workers: 0,
            arrivals_per_minute: 0.0,
            healthcheck_interval: std::time::Duration::ZERO,
            worker_sdk: WorkerSdk::default(),
            credentials_out: None,
            paging: Paging::default(),
            clock: SimClock::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("--scenario: {0}")]
    UnknownScenario(#[from] UnknownScenario),
    #[error("{flag}: {problem}")]
    InvalidOption { flag: &'static str, problem: String },
    #[error("cannot listen on {addr}: {source}; choose another --listen-address (port 0 picks a free one)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "the simulator runs on wall time: start it with `--clock manual` (`--sim.clock manual` \
         in demo; SimClock::Manual in code) to advance its clock"
    )]
    WallClock,
    #[error(
        "cannot advance the simulator's clock by {}s at once: at most {}s per call; advance in steps",
        by.as_secs_f64(),
        MAX_ADVANCE.as_secs()
    )]
    AdvanceTooFar { by: std::time::Duration },
    #[error(
        "cannot write the credentials file {}: {source}; check that its directory exists and is writable, \
         or change --credentials-out",
        path.display()
    )]
    CredentialsWrite {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SimError {
    /// A short label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SimError::UnknownScenario(_) => "unknown_scenario",
            SimError::InvalidOption { .. } => "invalid_option",
            SimError::Bind { .. } => "bind",
            SimError::CredentialsWrite { .. } => "credentials_write",
            SimError::WallClock => "wall_clock",
            SimError::AdvanceTooFar { .. } => "advance_too_far",
        }
    }
}

/// A simulator serving on `addr` until the shutdown token fires.
#[derive(Debug)]
pub struct RunningSim {
    pub addr: SocketAddr,
    pub credentials: Credentials,
    pub task: tokio::task::JoinHandle<()>,
    world: Arc<world::World>,
}

impl RunningSim {
    /// Moves a manual clock forward by `by` (at most `MAX_ADVANCE`), stepping
    /// the workload every 250 ms of simulated time on the way, as the
    /// wall-time ticker would.
    pub fn advance(&self, by: std::time::Duration) -> Result<(), SimError> {
        ticking::advance(&self.world, by).map(|_| ())
    }

    /// The simulator's "now" (Unix milliseconds).
    pub fn now_ms(&self) -> i64 {
        self.world.clock.now_ms()
    }

    /// The simulator's clock, to give an exporter under test the same "now"
    /// (ages then read in simulated time).
    pub fn clock(&self) -> SharedClock {
        self.world.clock.clone()
    }
}

/// Bind, generate keys, start the workload, and serve in the background
/// (plain HTTP on loopback).
pub async fn start(opts: SimOptions, shutdown: CancellationToken) -> Result<RunningSim, SimError> {
    start_serving(opts, Serving::default(), shutdown).await
}

/// `start`, reached as `serving` says: over TLS, through a link with a round
/// trip and a bandwidth cap.
pub async fn start_serving(
    opts: SimOptions,
    serving: Serving,
    shutdown: CancellationToken,
) -> Result<RunningSim, SimError> {
    let scenario = check(&opts)?;
    let accept = http::Accept {
        tls: serving.acceptor()?,
        link: link::Link {
            round_trip: serving.round_trip,
            bandwidth: serving.bandwidth,
        },
    };
    let listener = tokio::net::TcpListener::bind(opts.listen_address)
        .await
        .map_err(|source| SimError::Bind {
            addr: opts.listen_address,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: opts.listen_address,
        source,
    })?;
    let world = {
        let opts = opts.clone();
        // Seeding ten million items takes a moment: keep it off the async workers.
        tokio::task::spawn_blocking(move || world::World::build(&opts, scenario, &opts.clock))
            .await
            .map_err(|e| SimError::InvalidOption {
                flag: "--items-per-environment",
                problem: e.to_string(),
            })?
    };
    let world = Arc::new(world);
    let credentials = world.credentials(format!("{}://{addr}", serving.scheme()));
    if let Some(path) = &opts.credentials_out {
        write_credentials(path, &credentials)?;
    }
    let served = world.clone();
    let task = tokio::spawn(async move {
        // On a manual clock nothing ticks by itself: `advance` steps the workload.
        let ticker = matches!(opts.clock, SimClock::Wall)
            .then(|| tokio::spawn(ticking::tick_loop(served.clone(), shutdown.clone())));
        http::serve(served, listener, accept, shutdown).await;
        if let Some(t) = ticker {
            let _ = t.await;
        }
    });
    Ok(RunningSim {
        addr,
        credentials,
        task,
        world,
    })
}
