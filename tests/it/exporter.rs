//! The exporter in process on a free loopback port, configured from `serve`'s
//! flags by the one path the binary takes (`Config::new` with its sources):
//! what the stack tests start.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use work_api::clock::{SharedClock, SystemClock};
use work_api::secret::Secret;
use work_exporter::app::run_exporter;
use work_exporter::config::{Config, Environment, Sources};

/// `serve`'s flags parsed as the binary parses them (no program name needed).
fn flags_of(flags: &[&str]) -> work_exporter::cli::Cli {
    clap::Parser::parse_from(std::iter::once("x").chain(flags.iter().copied()))
}

/// A config from `flags`, with an API key and environments given directly.
pub fn given(flags: &[&str], api_key: &str, environments: Vec<Environment>) -> Config {
    let cli = flags_of(flags);
    Config::new(
        &cli.serve,
        Sources::given(Some(Secret::new(api_key)), environments),
    )
    .unwrap()
}

/// A config from `flags`, reading its sources (the file or the `ANTHROPIC_*`
/// variables) with `vars` standing in for the process environment.
pub fn from_vars(flags: &[&str], vars: &[(&str, String)]) -> Config {
    let cli = flags_of(flags);
    Config::from_args(&cli.serve, &|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

/// A config discovering the simulator's environments from `keys` with its
/// API key (and `vars`), refreshing every second (a short start window: the
/// first refreshes come sooner), plus `flags`.
pub fn discovering(
    creds: &work_sim::Credentials,
    keys: &tempfile::TempDir,
    flags: &[&str],
    vars: &[(&str, String)],
) -> Config {
    let dir = keys.path().to_str().unwrap();
    let mut args = vec![
        "--web.listen-address",
        "127.0.0.1:0",
        "--refresh.interval",
        "1s",
        "--api.base-url",
        &creds.base_url,
        "--discovery.enabled",
        "--discovery.keys-dir",
        dir,
    ];
    args.extend_from_slice(flags);
    let mut vars = vars.to_vec();
    vars.push(("ANTHROPIC_API_KEY", creds.api_key.clone()));
    from_vars(&args, &vars)
}

/// Serves `cfg` on a free port until `shutdown`, on `clock` (the wall clock
/// when `None`); answers its base URL.
pub async fn start(
    cfg: Config,
    clock: Option<SharedClock>,
    shutdown: &CancellationToken,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
    tokio::spawn(run_exporter(cfg, listener, clock, shutdown.clone()));
    url
}

/// A `--discovery.keys-dir` with the key of every simulated environment but
/// those at the indices in `keyless`, each file ending in a newline as `echo`
/// writes it.
pub fn keys_dir(creds: &work_sim::Credentials, keyless: &[usize]) -> tempfile::TempDir {
    let keys = tempfile::tempdir().unwrap();
    for (i, e) in creds.environments.iter().enumerate() {
        if !keyless.contains(&i) {
            std::fs::write(keys.path().join(&e.id), format!("{}\n", e.key)).unwrap();
        }
    }
    keys
}
