//! Entry point: parse flags, start logging, run the chosen subcommand until
//! it ends or SIGINT/SIGTERM, map the outcome to an exit status.

mod memory;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use work_exporter::{app, cli::Cli, logging};

fn main() {
    memory::return_large_blocks_to_the_system();
    let cli = Cli::parse();
    logging::init(app::log_args(&cli));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        match app::run(cli, shutdown).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!(reason = e.reason(), "{e}");
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}

async fn stop_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
    shutdown.cancel();
}
