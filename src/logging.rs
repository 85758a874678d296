//! Logging to stderr in logfmt or JSON, at the level of `--log.level`.

use crate::cli::LogArgs;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber. Errors name the flag.
pub fn init(args: &LogArgs) -> Result<(), String> {
    let level = args.log_level.to_ascii_lowercase();
    if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
        return Err(format!("configuration error in --log.level: {:?} is not a level (fix: use error, warn, info, debug or trace)", args.log_level));
    }
    // Our own crate at the chosen level; libraries one step quieter, so a
    // debug log does not fill with connection-pool chatter.
    let filter = EnvFilter::new(format!(
        "warn,work_exporter={level},anthropic_work_exporter={level}"
    ));
    let result = match args.log_format.as_str() {
        "logfmt" => tracing_logfmt::builder()
            .subscriber_builder()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
        "json" => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init(),
        other => return Err(format!("configuration error in --log.format: {other:?} is not a format (fix: use logfmt or json)")),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    Ok(())
}
