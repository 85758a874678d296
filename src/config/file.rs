//! The `--config.file` format: its YAML types, where keys come from (a file
//! or a variable, never a flag), and the checks of each environment entry.

use super::{scale, ConfigError, CredentialKind, EnvLookup, Environment, Sources};
use crate::cli::ServeArgs;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use work_api::secret::Secret;

/// Where a secret comes from: a file or an environment variable, never a flag.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    api_key: Option<SecretSource>,
    #[serde(default)]
    credentials: FileCredentials,
    workspace_id: Option<String>,
    #[serde(default)]
    environments: Vec<FileEnvironment>,
    discovery: Option<scale::FileDiscovery>,
    /// Alert thresholds of every environment (`thresholds.rs`).
    thresholds: Option<BTreeMap<String, serde_yaml_ng::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCredentials {
    /// Credential for `GET …/work/stats`; the list always needs the environment key.
    stats: Option<CredentialKind>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEnvironment {
    id: String,
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    key: Option<SecretSource>,
    /// This environment's own `--refresh.stats-interval` / `--refresh.list-interval`.
    stats_interval: Option<String>,
    list_interval: Option<String>,
    /// This environment's own alert thresholds, over the top-level ones.
    thresholds: Option<BTreeMap<String, serde_yaml_ng::Value>>,
}

/// Labels the exporter sets itself, and those Prometheus and the Prometheus
/// Operator attach to a target (a series label of the same name would be
/// renamed `exported_*` at scrape time); a configured label must not reuse them.
/// (Every label of the per-environment family table is here: a test checks it.)
pub(super) const RESERVED_LABELS: &[&str] = &[
    "environment_id",
    "state",
    "kind",
    "scope",
    "threshold",
    "le",
    "reason",
    "endpoint",
    "code",
    "name",
    "drilldown_url",
    "instance",
    "job",
    "version",
    "revision",
    // Target-side: the Operator's ServiceMonitor/PodMonitor labels, and the
    // external labels it and common setups add.
    "namespace",
    "pod",
    "service",
    "container",
    "node",
    "cluster",
    "prometheus",
    "prometheus_replica",
    "outcome",
    "setting",
];

fn read_secret(field: &str, source: &SecretSource, env: EnvLookup) -> Result<Secret, ConfigError> {
    match (&source.file, &source.env) {
        (Some(path), None) => read_secret_file(field, path),
        (None, Some(var)) => {
            let value = env(var).ok_or_else(|| {
                ConfigError::new(
                    field,
                    format!("environment variable {var} is not set or empty"),
                    format!("export {var} or point {field}.file at a key file"),
                )
            })?;
            let key = super::files::check_key(&value).map_err(|problem| {
                ConfigError::new(
                    field,
                    format!("environment variable {var} {problem}"),
                    format!("export {var} with the key alone"),
                )
            })?;
            Ok(Secret::new(key))
        }
        _ => Err(ConfigError::new(
            field,
            "needs exactly one of `file` or `env`",
            "write `file: /path/to/key` or `env: VARIABLE_NAME`",
        )),
    }
}

/// Reads a key file (bounded, regular files only, never blocking on a FIFO:
/// `files::read_bounded`), trimming the trailing newline editors and Secrets
/// add, and refusing bytes that cannot go in a request header.
pub fn read_secret_file(field: &str, path: &Path) -> Result<Secret, ConfigError> {
    let text = super::files::read_text(path, super::files::MAX_KEY_BYTES)
        .map_err(|e| ConfigError::new(field, format!("key file: {e}"), e.fix()))?;
    let key = super::files::check_key(&text).map_err(|problem| {
        ConfigError::new(
            field,
            format!("key file {} {problem}", path.display()),
            "write the key alone on one line (printf %s \"$KEY\" > file)",
        )
    })?;
    Ok(Secret::new(key))
}

/// Longest label value (and environment name or id) accepted: each goes on
/// every series of its environment, in every scrape.
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;

fn check_label_value(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.len() > MAX_LABEL_VALUE_BYTES {
        return Err(ConfigError::new(
            field,
            format!(
                "is {} bytes, more than the {MAX_LABEL_VALUE_BYTES} a label value may be",
                value.len()
            ),
            "shorten it: it goes on every series of the environment",
        ));
    }
    Ok(())
}

pub(super) fn check_label_name(field: &str, name: &str) -> Result<(), ConfigError> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_start
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with("__")
    {
        return Err(ConfigError::new(
            field,
            format!("{name:?} is not a valid Prometheus label name"),
            "use letters, digits and underscores, not starting with a digit or __",
        ));
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(ConfigError::new(
            field,
            format!("label {name:?} is set by the exporter itself, or by Prometheus or the Prometheus Operator on the target"),
            "choose another label name",
        ));
    }
    Ok(())
}

pub(super) fn from_file(
    path: &Path,
    args: &ServeArgs,
    env: EnvLookup,
) -> Result<Sources, ConfigError> {
    let text = super::files::read_text(path, super::files::MAX_CONFIG_BYTES)
        .map_err(|e| ConfigError::new("--config.file", e.to_string(), e.fix()))?;
    from_text(&text, &path.display().to_string(), args, env)
}

/// Parse and check the text of a configuration file (`origin` names it in errors).
fn from_text(
    text: &str,
    origin: &str,
    args: &ServeArgs,
    env: EnvLookup,
) -> Result<Sources, ConfigError> {
    super::files::check_yaml_nesting(text).map_err(|problem| {
        ConfigError::new(format!("--config.file {origin}"), problem, "fix the YAML")
    })?;
    let file: FileConfig = serde_yaml_ng::from_str(text).map_err(|e| {
        ConfigError::new(format!("--config.file {origin}"), e.to_string(), "fix the YAML; known fields: api_key, credentials.stats, workspace_id, environments[].{id,name,labels,key,stats_interval,list_interval,thresholds}, discovery.{interval,name_regex,ids,include_archived,keys_dir,metadata_labels_allowlist}, thresholds.{queue_lag_warning,queue_lag_critical,backlog_depth,pending,stuck_stopping,time_to_drain,stale_heartbeat,pickup_latency,pickup_objective,pickup_window}")
    })?;
    let api_key = match &file.api_key {
        Some(src) => Some(read_secret("api_key", src, env)?),
        None => None,
    };
    let stats = stats_credential(file.credentials.stats, api_key.is_some())?;
    let discovering = scale::discovery_wanted(args, file.discovery.as_ref());
    if file.environments.is_empty() && !discovering {
        return Err(ConfigError::new(
            "environments",
            "lists no environment",
            "add at least one `- id: env_…` with its key, or a `discovery:` section",
        ));
    }
    let top = file.thresholds.unwrap_or_default();
    let mut thresholds = super::Thresholds {
        defaults: super::ThresholdSet::parse("thresholds", &top)?,
        ..Default::default()
    };
    thresholds.pickup.top = super::slo::PickupOverride::parse("thresholds", &top)?;
    let keys = KeyRules {
        from_keys_dir: discovering && scale::keys_dir_given(args, file.discovery.as_ref()),
        stats,
        env,
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(file.environments.len());
    for (i, e) in file.environments.iter().enumerate() {
        let field = format!("environments[{i}]");
        let environment = environment(&field, e, &mut seen, &keys)?;
        if let Some(block) = &e.thresholds {
            let field = format!("{field}.thresholds");
            let own = super::ThresholdSet::parse(&field, block)?;
            thresholds.add_environment(&field, &environment.id, own)?;
            let pickup = super::slo::PickupOverride::parse(&field, block)?;
            thresholds
                .pickup
                .environments
                .insert(environment.id.clone(), pickup);
        }
        out.push(environment);
    }
    Ok(Sources {
        api_key,
        stats_credential: stats,
        workspace_id: file.workspace_id,
        environments: out,
        discovery: file.discovery,
        thresholds,
    })
}

/// The credential stats requests carry: as `credentials.stats` says, else
/// the API key when one is configured.
fn stats_credential(
    configured: Option<CredentialKind>,
    has_api_key: bool,
) -> Result<CredentialKind, ConfigError> {
    match configured {
        Some(CredentialKind::ApiKey) if !has_api_key => Err(ConfigError::new(
            "credentials.stats",
            "is api_key but no api_key is configured",
            "add `api_key: {env: ANTHROPIC_API_KEY}` or set credentials.stats: environment_key",
        )),
        Some(kind) => Ok(kind),
        None if has_api_key => Ok(CredentialKind::ApiKey),
        None => Ok(CredentialKind::EnvironmentKey),
    }
}

/// What an environment entry's key must satisfy.
struct KeyRules<'a> {
    /// The key may come from the discovery keys directory instead.
    from_keys_dir: bool,
    /// The credential of stats requests.
    stats: CredentialKind,
    env: EnvLookup<'a>,
}

/// One entry of `environments:`, checked (`field` names it in errors).
fn environment(
    field: &str,
    e: &FileEnvironment,
    seen: &mut BTreeSet<String>,
    keys: &KeyRules<'_>,
) -> Result<Environment, ConfigError> {
    let id = e.id.trim().to_string();
    if id.is_empty() || id.contains('/') || id.contains(char::is_whitespace) {
        return Err(ConfigError::new(
            format!("{field}.id"),
            format!("{:?} is not an environment id", e.id),
            "copy the id (env_…) from the Console",
        ));
    }
    if !seen.insert(id.clone()) {
        return Err(ConfigError::new(
            format!("{field}.id"),
            format!("environment {id} is listed twice"),
            "remove the duplicate entry",
        ));
    }
    for (name, value) in &e.labels {
        check_label_name(&format!("{field}.labels"), name)?;
        check_label_value(&format!("{field}.labels.{name}"), value)?;
    }
    if let Some(name) = &e.name {
        check_label_value(&format!("{field}.name"), name)?;
    }
    if id.len() > MAX_LABEL_VALUE_BYTES {
        return Err(ConfigError::new(
            format!("{field}.id"),
            format!("is {} bytes long", id.len()),
            "copy the id (env_…) from the Console",
        ));
    }
    let key = environment_key(field, e, keys)?;
    let cadence = super::CadenceOverrides::parse(
        field,
        e.stats_interval.as_deref(),
        e.list_interval.as_deref(),
    )?;
    Ok(Environment {
        name: e.name.clone().unwrap_or_else(|| id.clone()),
        id,
        labels: e.labels.clone(),
        key,
        scope: Default::default(),
        cadence,
    })
}

/// An entry's environment key: its `key:`, or none when the keys directory
/// gives it (and stats do not need it).
fn environment_key(
    field: &str,
    e: &FileEnvironment,
    keys: &KeyRules<'_>,
) -> Result<Option<Secret>, ConfigError> {
    let key = match &e.key {
        Some(src) => Some(read_secret(&format!("{field}.key"), src, keys.env)?),
        // The key is read from the keys directory, again on every discovery.
        None if keys.from_keys_dir => None,
        None => {
            return Err(ConfigError::new(
                format!("{field}.key"),
                "missing: listing work needs the environment key",
                "add `key: {file: /path}` or `key: {env: VARIABLE}`, or set discovery.keys_dir",
            ));
        }
    };
    if keys.stats == CredentialKind::EnvironmentKey && key.is_none() {
        return Err(ConfigError::new(
            format!("{field}.key"),
            "missing",
            "add the environment key",
        ));
    }
    Ok(key)
}

/// Check the text of a `--config.file` without a file of its own (fuzzing,
/// tests): the number of environments it lists, or the first problem. Key
/// files it names are read; variables come from `env`.
pub fn check_file_text(text: &str, env: EnvLookup) -> Result<usize, ConfigError> {
    from_text(text, "(text)", &ServeArgs::default(), env).map(|sources| sources.environments.len())
}
