//! `serve`: a checked configuration wired into the client, the refresher,
//! the scheduler, discovery and the HTTP server, run until shutdown.

use super::AppError;
use crate::cli::ServeArgs;
use crate::config::{Config, Environment};
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

pub(super) async fn serve(args: &ServeArgs, shutdown: CancellationToken) -> Result<(), AppError> {
    let Some(cfg) = super::load_config(args, &shutdown).await? else {
        return Ok(());
    };
    let listener = bind(cfg.listen_address).await?;
    run_exporter(cfg, listener, Arc::new(SystemClock), shutdown).await
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, AppError> {
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
    let tls = cfg.web.as_ref().is_some_and(|w| w.in_force().tls.is_some());
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}:{}", bound.port())
}

/// What `serve` runs, built from a checked config: the exporter's own
/// instruments, the one API client, the store of this shard's environments
/// and the refresher. The time-to-page recorder drives the same parts
/// without a server (`examples/time_to_page`).
pub struct Parts {
    pub metrics: Arc<ExporterMetrics>,
    pub client: Arc<ApiClient>,
    pub store: Store,
    pub refresher: Arc<Refresher>,
    /// The environments watched until the first discovery.
    pub watched: Vec<Environment>,
}

pub fn assemble(cfg: &Config, clock: SharedClock) -> Result<Parts, AppError> {
    let metrics = exporter_metrics(cfg)?;
    let client = api_client(cfg, metrics.clone())?;
    // Until the first discovery: the configured environments of this shard.
    let keys_dir = cfg.discovery.as_ref().and_then(|d| d.keys_dir.clone());
    let watched = discovery::watched(&cfg.environments, &[], cfg.shard, keys_dir.as_deref());
    let store = Store::default();
    store.set_environments(&watched);
    store.set_discovery_pending(cfg.discovery.is_some());
    let refresher = Arc::new(
        Refresher::new(
            client.clone(),
            store.clone(),
            cfg.refresh.clone(),
            cfg.api.api_key.clone(),
            cfg.api.stats_credential,
            clock,
            metrics.clone(),
        )
        .with_pickup_slos(Arc::new(cfg.exposition.thresholds.pickup.clone())),
    );
    Ok(Parts {
        metrics,
        client,
        store,
        refresher,
        watched,
    })
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
    let Parts {
        metrics,
        client,
        store,
        refresher,
        watched: initial,
    } = assemble(&cfg, clock.clone())?;
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
    log_start(&cfg, bound, initial.len());
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

fn exporter_metrics(cfg: &Config) -> Result<Arc<ExporterMetrics>, AppError> {
    let metrics = ExporterMetrics::new(&Settings {
        budget_rps: cfg.api.max_requests_per_second,
        cadences: cfg.refresh.cadences,
        lease_ttl: cfg.refresh.lease_ttl,
        discovery: cfg.discovery.is_some(),
    })
    .map_err(|e| AppError::Client(e.to_string()))?
    .with_options(cfg.exposition.clone());
    metrics.set_shard(cfg.shard.index, cfg.shard.total);
    Ok(Arc::new(metrics))
}

/// The one client of the process, with the one request budget.
fn api_client(cfg: &Config, metrics: Arc<ExporterMetrics>) -> Result<Arc<ApiClient>, AppError> {
    let budget = Arc::new(RequestBudget::new(cfg.api.max_requests_per_second));
    let client = ApiClient::with_transport(
        cfg.api.base_url.clone(),
        cfg.api.workspace_id.clone(),
        (cfg.api.max_concurrency, cfg.api.max_body_bytes),
        budget,
        metrics,
        &cfg.api.transport,
    )
    .map_err(|e| AppError::Client(e.to_string()))?
    .with_api_version(cfg.api.version.clone());
    Ok(Arc::new(client))
}

fn log_start(cfg: &Config, bound: SocketAddr, environments: usize) {
    tracing::info!(
        address = %bound,
        environments,
        discovery = cfg.discovery.is_some(),
        shard = cfg.shard.index,
        total_shards = cfg.shard.total,
        probe_only = cfg.probe_only,
        stats_interval = %humantime::format_duration(cfg.refresh.cadences.stats),
        list_interval = %humantime::format_duration(cfg.refresh.cadences.list),
        budget_rps = cfg.api.max_requests_per_second,
        "serving metrics"
    );
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
