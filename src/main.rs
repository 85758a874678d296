//! Entry point: parse flags, run the chosen subcommand, map the outcome to an exit status.
use clap::Parser;

fn main() {
    let _cli = work_exporter::cli::Cli::parse();
}
