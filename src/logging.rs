//! Logging to stderr in logfmt or JSON, at the level of `--log.level`.

use crate::cli::{LogArgs, LogFormat};
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. The values were checked by clap (`ValueEnum`).
pub fn init(args: &LogArgs) {
    let level = args.log_level.as_str();
    // Our own crate at the chosen level; libraries one step quieter, so a
    // debug log does not fill with connection-pool chatter.
    // rustls warns of each peer misbehaving (a refused renegotiation), with
    // the path it was built at: a client's doing, counted nowhere useful.
    let filter = EnvFilter::new(format!(
        "warn,rustls=error,work_exporter={level},anthropic_work_exporter={level}"
    ));
    let result = match args.log_format {
        LogFormat::Logfmt => tracing_logfmt::builder()
            .subscriber_builder()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
