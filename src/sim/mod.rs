//! The simulated Environments Work API (interface only; the simulator helper fills it in).

use crate::cli::SimArgs;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

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
    pub credentials_out: Option<PathBuf>,
}

impl From<&SimArgs> for SimOptions {
    fn from(a: &SimArgs) -> Self {
        SimOptions {
            listen_address: a.listen_address,
            environments: a.environments,
            scenario: a.scenario.clone(),
            seed: a.seed,
            items_per_environment: a.items_per_environment,
            workers: a.workers,
            arrivals_per_minute: a.arrivals_per_minute,
            credentials_out: a.credentials_out.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the simulator is not built yet")]
    NotBuilt,
}

/// A simulator serving on `addr` until the shutdown token fires.
#[derive(Debug)]
pub struct RunningSim {
    pub addr: SocketAddr,
    pub credentials: Credentials,
    pub task: tokio::task::JoinHandle<()>,
}

/// Bind, generate keys, start the workload, and serve in the background.
pub async fn start(
    _opts: SimOptions,
    _shutdown: CancellationToken,
) -> Result<RunningSim, SimError> {
    Err(SimError::NotBuilt)
}

/// `simulate`: run until shutdown.
pub async fn run_cli(args: &SimArgs, shutdown: CancellationToken) -> Result<(), SimError> {
    let running = start(SimOptions::from(args), shutdown).await?;
    let _ = running.task.await;
    Ok(())
}
