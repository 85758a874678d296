//! Builds the parts and runs them: the one place that knows them all.

mod check;
pub mod demo;
mod healthcheck;
mod serve;
pub mod simulate;

pub use serve::{assemble, bind, run_exporter, Parts};

use crate::cli::{Cli, Command};
use crate::config::ConfigError;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use work_sim as sim;

/// Why the program stopped; each maps to an exit status.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "cannot listen on {addr}: {source} (fix: choose a free port with --web.listen-address)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("simulator: {0}")]
    Sim(#[from] sim::SimError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Check(String),
}

impl AppError {
    /// 2 for a configuration problem (nothing was served), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Config(_) => 2,
            _ => 1,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            AppError::Config(_) => "config",
            AppError::Bind { .. } => "bind",
            AppError::Sim(_) => "simulator",
            AppError::Client(_) => "client",
            AppError::Check(_) => "check",
        }
    }
}

/// The configuration, checked on the blocking pool so that no file it reads
/// can keep SIGINT/SIGTERM from stopping the program (`None`: stopped first).
pub(crate) async fn load_config(
    args: &crate::cli::ServeArgs,
    shutdown: &CancellationToken,
) -> Result<Option<crate::config::Config>, AppError> {
    let args = args.clone();
    let task = tokio::task::spawn_blocking(move || {
        crate::config::Config::from_args(&args, &crate::config::process_env)
    });
    tokio::select! {
        _ = shutdown.cancelled() => Ok(None),
        done = task => match done {
            Ok(result) => Ok(Some(result?)),
            Err(e) => Err(AppError::Check(format!("reading the configuration failed: {e}"))),
        },
    }
}

/// The log flags of whichever subcommand runs.
pub fn log_args(cli: &Cli) -> &crate::cli::LogArgs {
    match &cli.command {
        None => &cli.serve.log,
        Some(Command::Serve(a)) => &a.log,
        Some(Command::Demo(a)) => &a.log,
        Some(Command::Simulate(a)) => &a.log,
        Some(Command::CheckConfig(a)) => &a.serve.log,
        Some(Command::Healthcheck(_)) => &cli.serve.log,
    }
}

/// Run the chosen subcommand until it ends or `shutdown` fires.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> Result<(), AppError> {
    match cli.command {
        None => serve::serve(&cli.serve, shutdown).await,
        Some(Command::Serve(args)) => serve::serve(&args, shutdown).await,
        Some(Command::Demo(args)) => demo::run(&args, shutdown).await,
        Some(Command::Simulate(args)) => Ok(simulate::run(&args, shutdown).await?),
        Some(Command::CheckConfig(args)) => check::check_config(&args, &shutdown).await,
        Some(Command::Healthcheck(args)) => healthcheck::healthcheck(&args).await,
    }
}
