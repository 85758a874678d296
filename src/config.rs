//! Flags, environment variables and the YAML file resolved into one checked
//! `Config`. Everything that can be wrong with the configuration is found
//! here, before any socket opens, and reported with the field and the fix.

mod cadence;
mod family_filter;
mod file;
pub mod files;
mod metadata_labels;
pub(crate) mod parse;
mod render_options;
mod scale;
mod scope;
pub mod slo;
mod sources;
mod thresholds;
pub mod web;

pub use cadence::{Cadence, CadenceOverrides, Cadences, StaleAfter};
pub use family_filter::{BadGlob, FamilyFilter};
pub use render_options::RenderOptions;

pub use file::{check_file_text, read_secret_file, SecretSource};
pub use metadata_labels::MetadataLabels;
pub use parse::{parse_api_version, parse_duration, parse_listen_address};
pub use scale::{is_plain_id, DiscoverySettings, DEFAULT_DISCOVERY_INTERVAL};
pub use scope::Scope;
pub use sources::Sources;
pub use thresholds::{Served, Threshold, ThresholdSet, ThresholdSource, Thresholds};

use crate::cli::ServeArgs;
use crate::shard::Shard;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use work_api::secret::Secret;

/// A configuration problem: which field, what is wrong, how to fix it.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("configuration error in {field}: {problem} (fix: {fix})")]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl ConfigError {
    pub(crate) fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Which credential a request is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ApiKey,
    EnvironmentKey,
}

/// One watched environment.
#[derive(Debug, Clone)]
pub struct Environment {
    pub id: String,
    pub name: String,
    /// Extra labels put on every series of this environment.
    pub labels: BTreeMap<String, String>,
    /// The environment key (bearer token); `None` leaves the work list unreadable.
    pub key: Option<Secret>,
    /// Who can see it, as the environments list says; `Unknown` until a discovery does.
    pub scope: Scope,
    /// Its own refresh intervals from the config file, if any.
    pub cadence: CadenceOverrides,
}

/// How and how often environments are refreshed.
#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// How often stats and lists are refreshed (before any per-environment override).
    pub cadences: Cadences,
    /// Deadline of one refresh, counting the API's answers, not budget queueing.
    pub timeout: Duration,
    pub stale_after: StaleAfter,
    pub lease_ttl: Duration,
    pub page_size: u32,
    pub max_pages: u32,
}

/// How the API is called.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub base_url: url::Url,
    pub max_concurrency: usize,
    pub max_requests_per_second: f64,
    /// Largest response body read; a bigger one fails with `too_large`.
    pub max_body_bytes: usize,
    pub api_key: Option<Secret>,
    pub stats_credential: CredentialKind,
    pub workspace_id: Option<String>,
    /// The `anthropic-version` header (`--api.version`).
    pub version: String,
    /// Compression and extra CA roots (`--api.compression`, `--api.ca-file`).
    pub transport: work_api::client::Transport,
}

/// The checked configuration of `serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    pub external_url: Option<String>,
    pub refresh: RefreshSettings,
    pub api: ApiSettings,
    /// The environments listed in the configuration (all shards: see `shard`).
    pub environments: Vec<Environment>,
    /// Environments found by listing them, besides the listed ones; `None` when off.
    pub discovery: Option<DiscoverySettings>,
    /// Which environments of all this process watches.
    pub shard: Shard,
    /// Multi-target mode: refresh only when `/probe` asks.
    pub probe_only: bool,
    /// `--web.config.file`, loaded and checked (TLS, basic auth).
    pub web: Option<std::sync::Arc<crate::config::web::WebServerConfig>>,
    /// `--metrics.histograms`, the family allow/deny lists, and the alert thresholds of the file.
    pub exposition: RenderOptions,
}

/// Reads variables through a function so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Flags resolved with their sources (the file, or environment variables):
    /// what `serve` and `check-config` run.
    pub fn from_args(args: &ServeArgs, env: EnvLookup) -> Result<Config, ConfigError> {
        if args.config_file.is_none() && !args.discovery_enabled {
            scale::discovery(args, None, false)?; // a --discovery.* flag without --discovery.enabled
        }
        Config::new(args, Sources::read(args, env)?)
    }

    /// The one constructor: every flag checked, the sources (credentials and
    /// environments) taken as given. `serve`, `check-config`, the demo and
    /// tests all end here.
    pub fn new(args: &ServeArgs, sources: Sources) -> Result<Config, ConfigError> {
        let refresh = parse::refresh_settings(args)?;
        let shard = scale::shard(args)?;
        let discovery =
            scale::discovery(args, sources.discovery.as_ref(), sources.api_key.is_some())?;
        if let Some(d) = &discovery {
            d.metadata_labels.check_configured(
                sources
                    .environments
                    .iter()
                    .flat_map(|e| e.labels.keys().map(move |l| (e.id.as_str(), l.as_str()))),
            )?;
        }
        let mut thresholds = sources.thresholds;
        thresholds.pickup.flags = slo::from_args(args)?;
        Ok(Config {
            listen_address: parse_listen_address("--web.listen-address", &args.listen_address)?,
            telemetry_path: parse::telemetry_path(&args.telemetry_path)?,
            external_url: parse::external_url(args.external_url.as_deref())?,
            refresh,
            api: ApiSettings {
                base_url: parse::base_url(&args.base_url)?,
                max_concurrency: parse::at_least_one(
                    "--api.max-concurrency",
                    args.max_concurrency,
                    "use e.g. 4",
                )?,
                max_requests_per_second: parse::request_rate(args.max_requests_per_second)?,
                max_body_bytes: 32 << 20,
                api_key: sources.api_key,
                stats_credential: sources.stats_credential,
                workspace_id: sources.workspace_id,
                version: parse_api_version(&args.api_version)?,
                transport: work_api::client::Transport {
                    compression: args.compression,
                    extra_roots: parse::ca_file(args.ca_file.as_deref())?,
                },
            },
            environments: sources.environments,
            discovery,
            shard,
            probe_only: args.probe_only,
            exposition: render_options::from_args(&args.metrics, thresholds)?,
            web: match &args.web_config_file {
                Some(path) => Some(std::sync::Arc::new(
                    crate::config::web::WebServerConfig::load(path)?,
                )),
                None => None,
            },
        })
    }

    /// The demo's simulator as the upstream, known only once it listens: its
    /// URL, API key and environments (the flags were checked by `new`).
    pub fn point_at(
        &mut self,
        base_url: url::Url,
        api_key: Secret,
        environments: Vec<Environment>,
    ) {
        self.api.base_url = base_url;
        self.api.api_key = Some(api_key);
        self.api.stats_credential = CredentialKind::ApiKey;
        self.environments = environments;
    }
}
