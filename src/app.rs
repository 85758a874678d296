//! Builds the parts and runs them: the one place that knows them all.

use crate::cli::{CheckConfigArgs, Cli, Command, HealthcheckArgs, ServeArgs};
use crate::config::{self, Config, ConfigError, Environment};
use crate::discovery::{self, Discovery};
use crate::metrics::{ExporterMetrics, Settings};
use crate::refresh::{scheduler, Refresher};
use crate::server::{self, Site};
use crate::snapshot::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use work_api::clock::{SharedClock, SystemClock};
use work_api::{ApiClient, RequestBudget};
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
        None => serve(&cli.serve, shutdown).await,
        Some(Command::Serve(args)) => serve(&args, shutdown).await,
        Some(Command::Demo(args)) => crate::demo::run(&args, shutdown).await,
        Some(Command::Simulate(args)) => Ok(crate::simulate::run(&args, shutdown).await?),
        Some(Command::CheckConfig(args)) => check_config(&args).await,
        Some(Command::Healthcheck(args)) => healthcheck(&args).await,
    }
}

async fn serve(args: &ServeArgs, shutdown: CancellationToken) -> Result<(), AppError> {
    let cfg = Config::from_args(args, &config::process_env)?;
    let listener = bind(cfg.listen_address).await?;
    run_exporter(cfg, listener, Arc::new(SystemClock), shutdown).await
}

pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { addr, source })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The exporter's own external URL: the flag, or this server's address.
fn external_url(cfg: &Config, bound: SocketAddr) -> String {
    if let Some(u) = &cfg.external_url {
        return u.clone();
    }
    let host = if bound.ip().is_unspecified() {
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    } else {
        bound.ip().to_string()
    };
    let tls = cfg.web.as_ref().is_some_and(|w| w.current().tls.is_some());
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", bound.port())
}

/// Build the client, refresher, scheduler and server from a checked config,
/// and run them on `listener` until `shutdown`.
pub async fn run_exporter(
    cfg: Config,
    listener: TcpListener,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    if cfg.api.base_url.scheme() != "https" && !is_loopback(&cfg.api.base_url) {
        tracing::warn!(base_url = %cfg.api.base_url, "the API base URL is neither https nor loopback: keys would cross the network unencrypted");
    }
    let metrics = Arc::new(
        ExporterMetrics::new(&Settings {
            budget_rps: cfg.api.max_requests_per_second,
            cadences: cfg.refresh.cadences,
            lease_ttl: cfg.refresh.lease_ttl,
            discovery: cfg.discovery.is_some(),
        })
        .map_err(|e| AppError::Client(e.to_string()))?
        .with_options(cfg.exposition.clone()),
    );
    metrics.set_shard(cfg.shard.index, cfg.shard.total);
    let budget = Arc::new(RequestBudget::new(cfg.api.max_requests_per_second));
    let client = Arc::new(
        ApiClient::new(
            cfg.api.base_url.clone(),
            cfg.api.workspace_id.clone(),
            cfg.api.max_concurrency,
            cfg.api.max_body_bytes,
            budget,
            metrics.clone(),
        )
        .map_err(|e| AppError::Client(e.to_string()))?
        .with_api_version(cfg.api.version.clone()),
    );
    // Until the first discovery: the configured environments of this shard.
    let keys_dir = cfg.discovery.as_ref().and_then(|d| d.keys_dir.clone());
    let initial = discovery::watched(&cfg.environments, &[], cfg.shard, keys_dir.as_deref());
    let store = Store::default();
    store.set_environments(&initial);
    store.set_discovery_pending(cfg.discovery.is_some());
    let refresher = Arc::new(Refresher::new(
        client.clone(),
        store.clone(),
        cfg.refresh.clone(),
        cfg.api.api_key.clone(),
        cfg.api.stats_credential,
        clock.clone(),
        metrics.clone(),
    ));
    let bound = listener.local_addr().map_err(|source| AppError::Bind {
        addr: cfg.listen_address,
        source,
    })?;
    let site = Arc::new(Site {
        store: store.clone(),
        metrics: metrics.clone(),
        clock,
        telemetry_path: cfg.telemetry_path.clone(),
        lease_ttl: cfg.refresh.lease_ttl,
        stale_after: cfg.refresh.stale_after,
        external_url: external_url(&cfg, bound),
        refresher: refresher.clone(),
        probe_only: cfg.probe_only,
    });
    tracing::info!(
        address = %bound,
        environments = initial.len(),
        discovery = cfg.discovery.is_some(),
        shard = cfg.shard.index,
        total_shards = cfg.shard.total,
        probe_only = cfg.probe_only,
        stats_interval = %humantime::format_duration(cfg.refresh.cadences.stats),
        list_interval = %humantime::format_duration(cfg.refresh.cadences.list),
        budget_rps = cfg.api.max_requests_per_second,
        "serving metrics"
    );
    let (env_tx, env_rx) = watch::channel(initial);
    let discovering = spawn_discovery(&cfg, client, metrics, store, env_tx, &shutdown);
    let sched = if cfg.probe_only {
        tokio::spawn(scheduler::follow(refresher, env_rx, shutdown.clone()))
    } else {
        tokio::spawn(scheduler::run(refresher, env_rx, shutdown.clone()))
    };
    let options = server::ServeOptions {
        web: cfg.web.clone(),
        ..Default::default()
    };
    server::serve_with(listener, site, options, shutdown).await;
    let _ = sched.await;
    if let Some(task) = discovering {
        let _ = task.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Start discovering environments, when configured; it feeds `env_tx`.
fn spawn_discovery(
    cfg: &Config,
    client: Arc<ApiClient>,
    metrics: Arc<ExporterMetrics>,
    store: Store,
    env_tx: watch::Sender<Vec<Environment>>,
    shutdown: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    // The config only enables discovery with an API key.
    let (settings, api_key) = (cfg.discovery.clone()?, cfg.api.api_key.clone()?);
    if settings.keys_dir.is_none() {
        tracing::warn!("discovery without --discovery.keys-dir: work lists of discovered environments cannot be read (reason=auth); only their stats are");
    }
    let discovery = Arc::new(Discovery::new(
        client,
        api_key,
        settings,
        cfg.environments.clone(),
        cfg.shard,
        cfg.refresh.timeout,
        cfg.refresh.max_pages,
        metrics,
    ));
    Some(tokio::spawn(discovery.run(store, env_tx, shutdown.clone())))
}

async fn check_config(args: &CheckConfigArgs) -> Result<(), AppError> {
    let cfg = Config::from_args(&args.serve, &config::process_env)?;
    println!(
        "configuration OK: {} environment(s), API {}",
        cfg.environments.len(),
        cfg.api.base_url
    );
    println!(
        "  stats every {}, list every {}, timeout {}, stale after {}, lease TTL {}, page size {}, budget {}/s",
        humantime::format_duration(cfg.refresh.cadences.stats),
        humantime::format_duration(cfg.refresh.cadences.list),
        humantime::format_duration(cfg.refresh.timeout),
        cfg.refresh
            .stale_after
            .explicit
            .map_or("3 achieved intervals".to_string(), |d| humantime::format_duration(d).to_string()),
        humantime::format_duration(cfg.refresh.lease_ttl),
        cfg.refresh.page_size,
        cfg.api.max_requests_per_second
    );
    println!(
        "  api key: {}; stats read with: {:?}",
        if cfg.api.api_key.is_some() {
            "configured"
        } else {
            "none"
        },
        cfg.api.stats_credential
    );
    if let Some(d) = &cfg.discovery {
        println!("  {}", d.describe());
    }
    if cfg.shard.is_sharded() || cfg.probe_only {
        println!(
            "  shard {} of {}{}",
            cfg.shard.index,
            cfg.shard.total,
            if cfg.probe_only {
                "; multi-target mode (--probe.only)"
            } else {
                ""
            }
        );
    }
    for e in &cfg.environments {
        println!(
            "  - {} ({}): environment key {}",
            e.id,
            e.name,
            if e.key.is_some() {
                "configured"
            } else {
                "missing"
            }
        );
    }
    if !args.probe {
        return Ok(());
    }
    crate::probe::print_probe(&cfg)
        .await
        .map_err(AppError::Check)
}

async fn healthcheck(args: &HealthcheckArgs) -> Result<(), AppError> {
    let mut addr = config::parse_listen_address("--web.listen-address", &args.listen_address)?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    // With TLS, ask over https. The certificate is not checked: this is a
    // liveness probe of a server on this host, and it sends no credential.
    let tls = match &args.web_config_file {
        Some(path) => crate::web_config::WebServerConfig::load(path)?
            .current()
            .tls
            .is_some(),
        None => false,
    };
    let scheme = if tls { "https" } else { "http" };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .danger_accept_invalid_certs(tls)
        .build()
        .map_err(|e| AppError::Client(e.to_string()))?;
    match client
        .get(format!("{scheme}://{addr}/-/healthy"))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(AppError::Check(format!(
            "unhealthy: /-/healthy answered {}",
            r.status()
        ))),
        Err(e) => Err(AppError::Check(format!("unhealthy: {e}"))),
    }
}
