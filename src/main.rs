//! Entry point: parse flags, run the chosen subcommand, map the outcome to an exit status.
//! (Minimal wiring of `simulate` only; the full wiring lives on main.)
use clap::Parser;
use work_exporter::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Some(Command::Simulate(args)) = cli.command else {
        return std::process::ExitCode::SUCCESS;
    };
    tracing_subscriber::fmt()
        .with_env_filter(args.log.log_level.as_str())
        .init();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    match work_exporter::sim::run_cli(&args, shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
