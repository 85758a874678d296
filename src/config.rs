//! Flags, environment variables and the YAML file resolved into one checked
//! `Config`. Everything that can be wrong with the configuration is found
//! here, before any socket opens, and reported with the field and the fix.

mod cadence;
mod file;
mod scale;
mod scope;
mod thresholds;

pub use cadence::{Cadence, CadenceOverrides, Cadences, StaleAfter};

pub use file::{check_file_text, read_secret_file, SecretSource};
pub use scale::{is_plain_id, DiscoverySettings, DEFAULT_DISCOVERY_INTERVAL};
pub use scope::Scope;
pub use thresholds::{Served, Threshold, ThresholdSet, ThresholdSource, Thresholds};

use crate::cli::ServeArgs;
use crate::shard::Shard;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
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
    fn new(field: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
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
    pub web: Option<std::sync::Arc<crate::web_config::WebServerConfig>>,
    /// `--metrics.histograms` and the family allow/deny lists.
    pub exposition: crate::metrics::Options,
}

/// Credentials and environments, from the file or from environment variables.
struct Sources {
    api_key: Option<Secret>,
    stats_credential: CredentialKind,
    workspace_id: Option<String>,
    environments: Vec<Environment>,
    discovery: Option<scale::FileDiscovery>,
    /// Alert thresholds from the file (none without one).
    thresholds: Thresholds,
}

/// Reads variables through a function so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--api.version`: a dated API version such as `2026-10-21`, so a typo stops
/// the program instead of failing every request with a 400.
pub fn parse_api_version(value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    let dated = v.len() == 10
        && v.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !dated {
        return Err(ConfigError::new(
            "--api.version",
            format!("{value:?} is not an API version"),
            format!(
                "write a dated version such as {} (what the SDK 2.14 sends, the default) or {} (the 1.x SDKs)",
                work_api::wire::API_VERSION,
                work_api::wire::API_VERSION_1X
            ),
        ));
    }
    Ok(v.to_owned())
}

pub fn parse_duration(field: &str, value: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value.trim()).map_err(|e| {
        ConfigError::new(
            field,
            format!("{value:?} is not a duration ({e})"),
            "write a duration such as 30s, 1m or 1m30s",
        )
    })?;
    if d.is_zero() {
        return Err(ConfigError::new(
            field,
            "must be longer than zero",
            "use a duration such as 30s",
        ));
    }
    Ok(d)
}

/// `--metrics.*`: how every exposition is rendered.
fn exposition_options(
    args: &crate::cli::MetricsArgs,
    thresholds: Thresholds,
) -> Result<crate::metrics::Options, ConfigError> {
    let families =
        crate::metrics::filter::FamilyFilter::new(&args.families_allow, &args.families_deny)
            .map_err(|e| {
                let flag = if args.families_allow.iter().any(|a| a.contains(&e.pattern)) {
                    "--metrics.families.allow"
                } else {
                    "--metrics.families.deny"
                };
                ConfigError::new(
            flag,
            e.to_string(),
            "name families by their full names, e.g. anthropic_work_stop_seconds or process_*",
        )
            })?;
    Ok(crate::metrics::Options {
        histograms: args.histograms,
        families,
        created_samples: args.created_samples,
        thresholds: std::sync::Arc::new(thresholds),
    })
}

pub fn parse_listen_address(field: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    let full = if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_string()
    };
    full.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            ConfigError::new(
                field,
                format!("{value:?} is not a host:port address"),
                "write e.g. :9781 or 127.0.0.1:9781",
            )
        })
}

impl Config {
    /// Resolve flags, the optional YAML file and environment variables.
    pub fn from_args(args: &ServeArgs, env: EnvLookup) -> Result<Config, ConfigError> {
        let interval = parse_duration("--refresh.interval", &args.refresh_interval)?;
        let cadences = Cadences::from_args(args, interval)?;
        let timeout = match &args.refresh_timeout {
            Some(v) => parse_duration("--refresh.timeout", v)?,
            None => cadences
                .stats
                .min(cadences.list)
                .min(Duration::from_secs(25)),
        };
        let stale_after = StaleAfter {
            explicit: match &args.stale_after {
                Some(v) => Some(parse_duration("--refresh.stale-after", v)?),
                None => None,
            },
            cadences,
        };
        let lease_ttl = parse_duration("--lease.ttl", &args.lease_ttl)?;
        if !(1..=1000).contains(&args.page_size) {
            return Err(ConfigError::new(
                "--list.page-size",
                format!("{} is outside 1..1000", args.page_size),
                "use a page size from 1 to 1000 (1000 makes the fewest calls)",
            ));
        }
        if args.max_pages == 0 {
            return Err(ConfigError::new(
                "--list.max-pages",
                "must be at least 1",
                "use e.g. 100",
            ));
        }
        if args.max_concurrency == 0 {
            return Err(ConfigError::new(
                "--api.max-concurrency",
                "must be at least 1",
                "use e.g. 4",
            ));
        }
        if !(args.max_requests_per_second.is_finite() && args.max_requests_per_second > 0.0) {
            return Err(ConfigError::new(
                "--api.max-requests-per-second",
                "must be a positive number",
                "use e.g. 5 (the organisation's read limit is 20/s, shared)",
            ));
        }
        if !args.telemetry_path.starts_with('/') || args.telemetry_path.len() < 2 {
            return Err(ConfigError::new(
                "--web.telemetry-path",
                format!("{:?} is not a path", args.telemetry_path),
                "use e.g. /metrics",
            ));
        }
        let base_url = url::Url::parse(args.base_url.trim_end_matches('/')).map_err(|e| {
            ConfigError::new(
                "--api.base-url",
                format!("{:?} is not a URL ({e})", args.base_url),
                "use e.g. https://api.anthropic.com",
            )
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(ConfigError::new(
                "--api.base-url",
                format!("{:?} is not an http(s) URL", args.base_url),
                "use e.g. https://api.anthropic.com",
            ));
        }
        let external_url = args
            .external_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &external_url {
            url::Url::parse(u).map_err(|e| {
                ConfigError::new(
                    "--web.external-url",
                    format!("{u:?} is not a URL ({e})"),
                    "use e.g. http://exporter.example:9781",
                )
            })?;
        }

        let shard = scale::shard(args)?;
        if args.config_file.is_none() && !args.discovery_enabled {
            scale::discovery(args, None, false)?; // a --discovery.* flag without --discovery.enabled
        }
        let sources = match &args.config_file {
            Some(path) => file::from_file(path, args, env)?,
            None => Self::environment_from_variables(args, env)?,
        };
        let discovery =
            scale::discovery(args, sources.discovery.as_ref(), sources.api_key.is_some())?;
        let mut cfg = Self::build(
            args,
            cadences,
            timeout,
            stale_after,
            lease_ttl,
            base_url,
            external_url,
            sources,
        )?;
        cfg.discovery = discovery;
        cfg.shard = shard;
        Ok(cfg)
    }

    /// The settings of `args` with environments given directly (the demo, tests).
    pub fn with_environments(
        args: &ServeArgs,
        api_key: Option<Secret>,
        environments: Vec<Environment>,
    ) -> Result<Config, ConfigError> {
        let mut cfg = Self::from_args(args, &|name| match name {
            "ANTHROPIC_ENVIRONMENT_ID" => Some("placeholder".into()),
            "ANTHROPIC_ENVIRONMENT_KEY" => Some("placeholder".into()),
            "ANTHROPIC_API_KEY" => Some("placeholder".into()),
            _ => None,
        })?;
        if cfg.discovery.is_some() && api_key.is_none() {
            scale::discovery(args, None, false)?;
        }
        cfg.api.stats_credential = if api_key.is_some() {
            CredentialKind::ApiKey
        } else {
            CredentialKind::EnvironmentKey
        };
        cfg.api.api_key = api_key;
        cfg.environments = environments;
        Ok(cfg)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        args: &ServeArgs,
        cadences: Cadences,
        timeout: Duration,
        stale_after: StaleAfter,
        lease_ttl: Duration,
        base_url: url::Url,
        external_url: Option<String>,
        sources: Sources,
    ) -> Result<Config, ConfigError> {
        Ok(Config {
            listen_address: parse_listen_address("--web.listen-address", &args.listen_address)?,
            telemetry_path: args.telemetry_path.clone(),
            external_url,
            refresh: RefreshSettings {
                cadences,
                timeout,
                stale_after,
                lease_ttl,
                page_size: args.page_size,
                max_pages: args.max_pages,
            },
            api: ApiSettings {
                base_url,
                max_concurrency: args.max_concurrency,
                max_requests_per_second: args.max_requests_per_second,
                max_body_bytes: 32 << 20,
                api_key: sources.api_key,
                stats_credential: sources.stats_credential,
                workspace_id: sources.workspace_id,
                version: parse_api_version(&args.api_version)?,
            },
            environments: sources.environments,
            discovery: None,
            shard: Shard::default(),
            probe_only: args.probe_only,
            exposition: exposition_options(&args.metrics, sources.thresholds)?,
            web: match &args.web_config_file {
                Some(path) => Some(std::sync::Arc::new(
                    crate::web_config::WebServerConfig::load(path)?,
                )),
                None => None,
            },
        })
    }

    fn environment_from_variables(
        args: &ServeArgs,
        env: EnvLookup,
    ) -> Result<Sources, ConfigError> {
        let api_key = env("ANTHROPIC_API_KEY").map(Secret::new);
        let stats_credential = if api_key.is_some() {
            CredentialKind::ApiKey
        } else {
            CredentialKind::EnvironmentKey
        };
        let workspace_id = env("ANTHROPIC_WORKSPACE_ID");
        if args.discovery_enabled && env("ANTHROPIC_ENVIRONMENT_ID").is_none() {
            // Discovery alone: every environment comes from the list.
            return Ok(Sources {
                api_key,
                stats_credential,
                workspace_id,
                environments: Vec::new(),
                discovery: None,
                thresholds: Thresholds::default(),
            });
        }
        let id = env("ANTHROPIC_ENVIRONMENT_ID").ok_or_else(|| {
            ConfigError::new("ANTHROPIC_ENVIRONMENT_ID", "no environment to watch", "set ANTHROPIC_ENVIRONMENT_ID and ANTHROPIC_ENVIRONMENT_KEY, pass --config.file, or discover them with --discovery.enabled and ANTHROPIC_API_KEY (try `demo` to run without an account)")
        })?;
        let key = env("ANTHROPIC_ENVIRONMENT_KEY").map(Secret::new);
        if key.is_none() {
            return Err(ConfigError::new(
                "ANTHROPIC_ENVIRONMENT_KEY",
                "not set: listing work needs the environment key",
                "export ANTHROPIC_ENVIRONMENT_KEY",
            ));
        }
        Ok(Sources {
            api_key,
            stats_credential,
            workspace_id,
            environments: vec![Environment {
                name: id.clone(),
                id,
                labels: BTreeMap::new(),
                key,
                scope: Default::default(),
                cadence: CadenceOverrides::default(),
            }],
            discovery: None,
            thresholds: Thresholds::default(),
        })
    }
}
