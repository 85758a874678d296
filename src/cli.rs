//! Command-line flags and subcommands, as raw values. `config` checks them.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "anthropic-work-exporter",
    version,
    about = "Prometheus exporter for the work queues of self-hosted Claude Managed Agents environments"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Flags of `serve`, accepted without the subcommand too.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the exporter (the default).
    Serve(ServeArgs),
    /// Run the simulator and the exporter together, with no account needed.
    Demo(DemoArgs),
    /// Run the simulated Environments Work API.
    Simulate(SimArgs),
    /// Validate the configuration; with --probe, call each endpoint once per environment.
    CheckConfig(CheckConfigArgs),
    /// Ask a running exporter whether it is healthy (for container HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct LogArgs {
    /// Log level.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info, ignore_case = true, global = true)]
    pub log_level: LogLevel,
    /// Log format (stderr).
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    pub log_format: LogFormat,
}

/// `--log.level`: clap names the accepted values when one is wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The level as a tracing filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `--clock` of `simulate`, `--sim.clock` of `demo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SimClockKind {
    /// Wall time: the workload moves on by itself.
    #[default]
    Wall,
    /// Simulated time stands still until `POST /_sim/advance` moves it.
    Manual,
}

impl SimClockKind {
    /// The simulator's clock of this kind (a manual one starts at the wall time).
    pub fn clock(self) -> work_sim::SimClock {
        match self {
            SimClockKind::Wall => work_sim::SimClock::Wall,
            SimClockKind::Manual => work_sim::SimClock::manual(),
        }
    }
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// Address to serve /metrics on (":9781" means every interface).
    #[arg(long = "web.listen-address", default_value = ":9781")]
    pub listen_address: String,
    /// Path of the metrics endpoint.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    pub telemetry_path: String,
    /// External URL of this exporter, used in links (alerts link to its drill-down pages).
    #[arg(long = "web.external-url")]
    pub external_url: Option<String>,
    /// TLS and basic auth for this server, in the Prometheus exporter-toolkit format; re-read when it changes.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// YAML file listing environments and credential sources.
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// How often each environment is refreshed.
    #[arg(long = "refresh.interval", default_value = "30s")]
    pub refresh_interval: String,
    /// How often queue stats are refreshed (one request each). Default: --refresh.interval.
    #[arg(long = "refresh.stats-interval")]
    pub stats_interval: Option<String>,
    /// How often the work list is walked (one request per page). Default: --refresh.interval.
    #[arg(long = "refresh.list-interval")]
    pub list_interval: Option<String>,
    /// Deadline of one refresh: the API's answers and retries, not waiting for the request
    /// budget. Default: the shorter cadence, capped at 25s.
    #[arg(long = "refresh.timeout")]
    pub refresh_timeout: Option<String>,
    /// How long a family's series outlive a failed refresh of its part. Default: three of the
    /// part's intervals as achieved.
    #[arg(long = "refresh.stale-after")]
    pub stale_after: Option<String>,
    /// Base URL of the API.
    #[arg(
        long = "api.base-url",
        env = "ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub base_url: String,
    /// `anthropic-version` sent on every request: the official SDK 2.14's by default;
    /// pin another (e.g. 2023-06-01, what the 1.x SDKs sent) only if the API asks.
    #[arg(long = "api.version", default_value = work_api::wire::API_VERSION)]
    pub api_version: String,
    /// Most requests in flight at once.
    #[arg(long = "api.max-concurrency", default_value_t = 4)]
    pub max_concurrency: usize,
    /// Request budget for the whole process (the organisation's read limit is 20/s, shared).
    #[arg(long = "api.max-requests-per-second", default_value_t = 5.0)]
    pub max_requests_per_second: f64,
    /// Ask the API for compressed responses (`accept-encoding: gzip, deflate`, as the SDK's
    /// HTTP client does) and decode them as they stream; `--api.compression=false` for plain.
    #[arg(long = "api.compression", default_value_t = true, action = clap::ArgAction::Set)]
    pub compression: bool,
    /// PEM bundle of CA certificates trusted for the API connection besides the compiled-in
    /// public roots: a private CA, or a TLS-inspecting egress proxy's.
    #[arg(long = "api.ca-file", env = "SSL_CERT_FILE")]
    pub ca_file: Option<String>,
    /// Work items asked for per list page (1 to 1000).
    #[arg(long = "list.page-size", default_value_t = 1000)]
    pub page_size: u32,
    /// Most list pages walked per refresh; more marks the list truncated.
    #[arg(long = "list.max-pages", default_value_t = 100)]
    pub max_pages: u32,
    /// Lease TTL: an item without a heartbeat for longer counts as an expired lease.
    /// 300s is the API's default TTL (SDK 2.16+ `_lease.py`); stale heartbeats (90 s by
    /// default) are the `stale_heartbeat` threshold, apart from this.
    #[arg(long = "lease.ttl", default_value = "300s")]
    pub lease_ttl: String,
    /// Pick-up SLO: a session acknowledged within this is good, one waiting longer is bad.
    /// Default 60s; the config file's thresholds blocks override it (pickup_latency).
    #[arg(long = "slo.pickup-latency")]
    pub slo_pickup_latency: Option<String>,
    /// Pick-up SLO: the share of sessions to pick up in time, between 0 and 1. Default 0.99.
    #[arg(long = "slo.pickup-objective")]
    pub slo_pickup_objective: Option<f64>,
    /// Pick-up SLO: the error budget's window, one of 7d, 14d, 28d, 30d. Default 28d.
    #[arg(long = "slo.window")]
    pub slo_window: Option<String>,

    /// Discover environments by listing them with the API key (a `discovery:` section in
    /// --config.file implies it).
    #[arg(long = "discovery.enabled")]
    pub discovery_enabled: bool,
    /// How often environments are listed again. Default: 5m.
    #[arg(long = "discovery.interval")]
    pub discovery_interval: Option<String>,
    /// Keep only discovered environments whose name matches this regular expression.
    #[arg(long = "discovery.name-regex")]
    pub discovery_name_regex: Option<String>,
    /// Keep only discovered environments with these ids (comma-separated allow-list).
    #[arg(long = "discovery.ids")]
    pub discovery_ids: Option<String>,
    /// Keep archived environments too.
    #[arg(long = "discovery.include-archived")]
    pub discovery_include_archived: bool,
    /// Directory holding one file per environment id with its environment key (a mounted
    /// Kubernetes Secret); read again on every discovery, so added and rotated keys are used.
    #[arg(long = "discovery.keys-dir")]
    pub discovery_keys_dir: Option<PathBuf>,
    /// Metadata keys of the environments list whose values become labels on every series of
    /// the environment (comma-separated, e.g. team,cost-center; sanitised to label names).
    #[arg(long = "discovery.metadata-labels-allowlist")]
    pub discovery_metadata_labels_allowlist: Option<String>,

    /// This process's shard, from 0 to --total-shards - 1.
    #[arg(long = "shard", default_value_t = 0)]
    pub shard: u32,
    /// Number of shards: each environment is watched by exactly one of them.
    #[arg(long = "total-shards", default_value_t = 1)]
    pub total_shards: u32,

    /// Multi-target mode: no background refresh; an environment is refreshed when
    /// /probe?environment=ID asks, and /metrics serves only the exporter's own metrics.
    #[arg(long = "probe.only")]
    pub probe_only: bool,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

impl ServeArgs {
    /// `serve`'s flags at clap's defaults (`Default` leaves them empty): what
    /// the demo starts from before setting its own.
    pub fn defaults() -> ServeArgs {
        #[derive(Parser)]
        struct Serve {
            #[command(flatten)]
            args: ServeArgs,
        }
        Serve::parse_from(["serve"]).args
    }
}

/// How `/metrics` and `/probe` are rendered (every format alike).
#[derive(Debug, Args, Clone, Default)]
pub struct MetricsArgs {
    /// Buckets of the lifecycle histograms: classic (fixed `le` buckets), native (sparse
    /// exponential, protobuf only) or both (fixed in the text formats, both in protobuf).
    #[arg(long = "metrics.histograms", value_enum, default_value_t)]
    pub histograms: HistogramMode,
    /// Serve only the metric families matching one of these comma-separated globs
    /// (`*`, `?`; e.g. `anthropic_work_queue_*`); all when not given.
    #[arg(long = "metrics.families.allow", value_name = "GLOBS")]
    pub families_allow: Vec<String>,
    /// Drop the metric families matching one of these comma-separated globs (e.g.
    /// `process_*,anthropic_work_stop_seconds`); applied after the allow list.
    #[arg(long = "metrics.families.deny", value_name = "GLOBS")]
    pub families_deny: Vec<String>,
    /// Add OpenMetrics `_created` samples (when each counter and histogram started). Off by
    /// default: Prometheus 2.x stores each as a series of its own.
    #[arg(long = "metrics.openmetrics.created-samples")]
    pub created_samples: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Address to serve the exporter on.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9781")]
    pub listen_address: String,
    /// External URL of the exporter, used in drill-down links (e.g. behind a container port mapping).
    #[arg(long = "web.external-url")]
    pub external_url: Option<String>,
    /// Starting scenario of the simulated workload.
    #[arg(long, default_value = "steady")]
    pub scenario: String,
    /// Write the simulator's credentials (JSON, mode 0600) here.
    #[arg(long = "credentials-out")]
    pub credentials_out: Option<PathBuf>,
    /// Number of simulated environments.
    #[arg(long, default_value_t = 3)]
    pub environments: usize,
    /// Address of the simulated API (port 0 picks a free one).
    #[arg(long = "sim.listen-address", default_value = "127.0.0.1:0")]
    pub sim_listen_address: SocketAddr,
    /// One simulated healthcheck item per environment this often (0s: none).
    #[arg(long = "sim.healthcheck-interval", default_value = "60s", value_parser = humantime::parse_duration)]
    pub sim_healthcheck_interval: std::time::Duration,
    /// The simulator's time, which the exporter then reads too: the wall, or a
    /// manual clock moved only by `POST /_sim/advance`.
    #[arg(long = "sim.clock", value_enum, default_value_t = SimClockKind::Wall)]
    pub sim_clock: SimClockKind,
    /// Round trip the simulator adds to every connection, as a network would (e.g. 40ms).
    #[arg(long = "sim.round-trip", default_value = "0s", value_parser = humantime::parse_duration)]
    pub sim_round_trip: std::time::Duration,
    /// Most the simulator sends on each connection, in Mbit/s (0: no cap).
    #[arg(long = "sim.bandwidth-mbps", default_value_t = 0.0)]
    pub sim_bandwidth_mbps: f64,
    /// Refresh interval of the exporter in the demo.
    #[arg(long = "refresh.interval", default_value = "5s")]
    pub refresh_interval: String,
    /// Seed of the simulated workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args, Clone)]
pub struct SimArgs {
    /// Address to listen on (loopback by default).
    #[arg(long = "listen-address", default_value = "127.0.0.1:9782")]
    pub listen_address: SocketAddr,
    /// Number of environments.
    #[arg(long, default_value_t = 3)]
    pub environments: usize,
    /// Workload scenario: steady, backlog, workers-down, saturated, stale-heartbeats,
    /// stuck-stopping, api-flaky, api-down, slow-pickups.
    #[arg(long, default_value = "steady")]
    pub scenario: String,
    /// Seed for the workload's randomness.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the generated credentials (JSON, mode 0600) here.
    #[arg(long = "credentials-out")]
    pub credentials_out: Option<PathBuf>,
    /// Seed a static population of this many items per environment, spread over every state.
    #[arg(long = "items-per-environment", default_value_t = 0)]
    pub items_per_environment: usize,
    /// Simulated workers per environment (0 with --items-per-environment for a static population).
    #[arg(long = "workers", default_value_t = 4)]
    pub workers: usize,
    /// Session arrivals per environment per minute.
    #[arg(long = "arrivals-per-minute", default_value_t = 20.0)]
    pub arrivals_per_minute: f64,
    /// End the last page of a list with `"next_page": null` instead of `""` (what the API sends).
    #[arg(long = "null-last-cursor")]
    pub null_last_cursor: bool,
    /// Answer an empty page with a cursor before the first page of every list walk and
    /// about one page boundary in N, as the API may (0: never).
    #[arg(long = "empty-page-every", default_value_t = 0)]
    pub empty_page_every: u32,
    /// One healthcheck item per environment this often, as the platform sends them (0s: none).
    #[arg(long = "healthcheck-interval", default_value = "60s", value_parser = humantime::parse_duration)]
    pub healthcheck_interval: std::time::Duration,
    /// Which official worker the simulated workers behave as: 2.16 (2.16 and later: the
    /// first heartbeat on every item, healthchecks included), 2.14 (2.14 and 2.15:
    /// healthchecks force-stopped unstarted), or mixed (half of each).
    #[arg(long = "worker-sdk", default_value = "2.16", value_parser = parse_worker_sdk)]
    pub worker_sdk: work_sim::WorkerSdk,
    /// The simulator's time: the wall, or a manual clock moved only by `POST /_sim/advance`.
    #[arg(long = "clock", value_enum, default_value_t = SimClockKind::Wall)]
    pub clock: SimClockKind,
    /// Serve HTTPS with this PEM certificate (leaf first; with --tls-key-file), as the API does.
    #[arg(long = "tls-cert-file", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of --tls-cert-file.
    #[arg(long = "tls-key-file", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Round trip added to every connection, as a network would (e.g. 40ms).
    #[arg(long = "round-trip", default_value = "0s", value_parser = humantime::parse_duration)]
    pub round_trip: std::time::Duration,
    /// Most bytes each connection sends, in Mbit/s (0: no cap).
    #[arg(long = "bandwidth-mbps", default_value_t = 0.0)]
    pub bandwidth_mbps: f64,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args, Clone)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Also call each endpoint once per environment and print what works.
    #[arg(long)]
    pub probe: bool,
}

#[derive(Debug, Args, Clone)]
pub struct HealthcheckArgs {
    /// Address of the exporter to ask.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9781")]
    pub listen_address: String,
    /// The exporter's web configuration: with TLS in it, ask over https.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
}

/// `--metrics.histograms`: which buckets the lifecycle histograms carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HistogramMode {
    /// Fixed `le` buckets only, in every format.
    Classic,
    /// Native buckets only: protobuf carries them; the text formats, which
    /// cannot, carry `_sum`, `_count` and the `+Inf` bucket alone.
    Native,
    /// Fixed buckets in the text formats, both kinds in protobuf (a Prometheus
    /// with native histograms enabled keeps the native ones).
    #[default]
    Both,
}

fn parse_worker_sdk(s: &str) -> Result<work_sim::WorkerSdk, String> {
    work_sim::WorkerSdk::parse(s)
        .ok_or_else(|| format!("use one of {}", work_sim::WorkerSdk::NAMES))
}
