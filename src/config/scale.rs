//! The settings of scaling out: environment discovery (flags and the
//! `discovery:` section of the file, flags winning) and sharding.

use super::{parse_duration, ConfigError, MetadataLabels};
use crate::cli::ServeArgs;
use crate::shard::Shard;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// How environments are discovered.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    pub interval: Duration,
    /// Keep only environments whose name matches.
    pub name_regex: Option<regex::Regex>,
    /// Keep only these ids (an allow-list).
    pub ids: Option<BTreeSet<String>>,
    pub include_archived: bool,
    /// One file per environment id holding its key, read again on every discovery.
    pub keys_dir: Option<PathBuf>,
    /// Metadata keys whose values become labels (empty: none).
    pub metadata_labels: MetadataLabels,
}

impl DiscoverySettings {
    /// One line for `check-config`.
    pub fn describe(&self) -> String {
        let ids = self.ids.as_ref().map_or("any".to_string(), |ids| {
            ids.iter().cloned().collect::<Vec<_>>().join(",")
        });
        let labels = match self.metadata_labels.is_empty() {
            true => String::new(),
            false => format!(
                ", labels from metadata: {}",
                self.metadata_labels.describe()
            ),
        };
        format!(
            "discovery every {}: name regex {}, ids {ids}, archived {}, keys from {}{labels}",
            humantime::format_duration(self.interval),
            self.name_regex.as_ref().map_or("any", |r| r.as_str()),
            if self.include_archived {
                "included"
            } else {
                "excluded"
            },
            self.keys_dir.as_ref().map_or_else(
                || "nowhere (work lists will fail with reason=auth)".to_string(),
                |p| p.display().to_string()
            ),
        )
    }
}

/// The `discovery:` section of the YAML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDiscovery {
    interval: Option<String>,
    name_regex: Option<String>,
    ids: Option<Vec<String>>,
    include_archived: Option<bool>,
    keys_dir: Option<PathBuf>,
    metadata_labels_allowlist: Option<Vec<String>>,
}

pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(300);

/// True when discovery is asked for, by the flag or by a `discovery:` section.
pub(crate) fn discovery_wanted(args: &ServeArgs, file: Option<&FileDiscovery>) -> bool {
    args.discovery_enabled || file.is_some()
}

/// True when a keys directory is given, by the flag or in the file.
pub(crate) fn keys_dir_given(args: &ServeArgs, file: Option<&FileDiscovery>) -> bool {
    args.discovery_keys_dir.is_some() || file.is_some_and(|f| f.keys_dir.is_some())
}

/// The discovery settings, or `None` when discovery is off. `has_api_key`
/// says whether the API key (which listing environments needs) is configured.
pub(crate) fn discovery(
    args: &ServeArgs,
    file: Option<&FileDiscovery>,
    has_api_key: bool,
) -> Result<Option<DiscoverySettings>, ConfigError> {
    if !discovery_wanted(args, file) {
        return refuse_stray_flags(args).map(|()| None);
    }
    if !has_api_key {
        return Err(ConfigError::new(
            "--discovery.enabled",
            "listing environments needs the API key, and none is configured",
            "export ANTHROPIC_API_KEY, or add `api_key: {env: ANTHROPIC_API_KEY}` (or `{file: …}`) to --config.file",
        ));
    }
    let empty = FileDiscovery::default();
    settings(args, file.unwrap_or(&empty)).map(Some)
}

/// A discovery flag given while discovery is off would do nothing: refuse it.
fn refuse_stray_flags(args: &ServeArgs) -> Result<(), ConfigError> {
    let stray = [
        ("--discovery.interval", args.discovery_interval.is_some()),
        (
            "--discovery.name-regex",
            args.discovery_name_regex.is_some(),
        ),
        ("--discovery.ids", args.discovery_ids.is_some()),
        (
            "--discovery.include-archived",
            args.discovery_include_archived,
        ),
        ("--discovery.keys-dir", args.discovery_keys_dir.is_some()),
        (
            "--discovery.metadata-labels-allowlist",
            args.discovery_metadata_labels_allowlist.is_some(),
        ),
    ];
    match stray.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(ConfigError::new(
            *flag,
            "has no effect while discovery is off",
            "add --discovery.enabled (or a `discovery:` section to --config.file)",
        )),
        None => Ok(()),
    }
}

/// Each setting from its flag, else from the file's `discovery:` section `f`.
fn settings(args: &ServeArgs, f: &FileDiscovery) -> Result<DiscoverySettings, ConfigError> {
    let interval = match (&args.discovery_interval, &f.interval) {
        (Some(v), _) => parse_duration("--discovery.interval", v)?,
        (None, Some(v)) => parse_duration("discovery.interval", v)?,
        (None, None) => DEFAULT_DISCOVERY_INTERVAL,
    };
    let name_regex = match (&args.discovery_name_regex, &f.name_regex) {
        (Some(v), _) => Some(compile("--discovery.name-regex", v)?),
        (None, Some(v)) => Some(compile("discovery.name_regex", v)?),
        (None, None) => None,
    };
    let ids = match (&args.discovery_ids, &f.ids) {
        (Some(v), _) => Some(id_list("--discovery.ids", v.split(','))?),
        (None, Some(v)) => Some(id_list("discovery.ids", v.iter().map(String::as_str))?),
        (None, None) => None,
    };
    let keys_dir = match (&args.discovery_keys_dir, &f.keys_dir) {
        (Some(d), _) => Some(check_dir("--discovery.keys-dir", d)?),
        (None, Some(d)) => Some(check_dir("discovery.keys_dir", d)?),
        (None, None) => None,
    };
    let metadata_labels = match (
        &args.discovery_metadata_labels_allowlist,
        &f.metadata_labels_allowlist,
    ) {
        (Some(v), _) => {
            MetadataLabels::parse("--discovery.metadata-labels-allowlist", v.split(','))?
        }
        (None, Some(v)) => MetadataLabels::parse(
            "discovery.metadata_labels_allowlist",
            v.iter().map(String::as_str),
        )?,
        (None, None) => MetadataLabels::default(),
    };
    Ok(DiscoverySettings {
        interval,
        metadata_labels,
        name_regex,
        ids,
        include_archived: args.discovery_include_archived || f.include_archived.unwrap_or(false),
        keys_dir,
    })
}

fn compile(field: &str, pattern: &str) -> Result<regex::Regex, ConfigError> {
    regex::Regex::new(pattern).map_err(|e| {
        ConfigError::new(
            field,
            format!("{pattern:?} is not a regular expression ({e})"),
            "write a regular expression such as ^prod- (it matches anywhere unless anchored)",
        )
    })
}

fn id_list<'a>(
    field: &str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<BTreeSet<String>, ConfigError> {
    let mut out = BTreeSet::new();
    for id in ids.map(str::trim).filter(|id| !id.is_empty()) {
        if !is_plain_id(id) {
            return Err(ConfigError::new(
                field,
                format!("{id:?} is not an environment id"),
                "list ids (env_…) separated by commas",
            ));
        }
        out.insert(id.to_string());
    }
    if out.is_empty() {
        return Err(ConfigError::new(
            field,
            "lists no environment id",
            "list ids (env_…) separated by commas, or leave the option out to keep every environment",
        ));
    }
    Ok(out)
}

fn check_dir(field: &str, dir: &std::path::Path) -> Result<PathBuf, ConfigError> {
    if dir.is_dir() {
        Ok(dir.to_path_buf())
    } else {
        Err(ConfigError::new(
            field,
            format!("{} is not a readable directory", dir.display()),
            "point it at the directory where the keys Secret is mounted (one file per environment id)",
        ))
    }
}

/// An id that is safe as a file name in the keys directory: letters, digits, `_` and `-`.
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `--shard` and `--total-shards`, checked.
pub(crate) fn shard(args: &ServeArgs) -> Result<Shard, ConfigError> {
    if args.total_shards == 0 {
        return Err(ConfigError::new(
            "--total-shards",
            "must be at least 1",
            "use the number of replicas, e.g. --total-shards=3 (1 for no sharding)",
        ));
    }
    if args.shard >= args.total_shards {
        return Err(ConfigError::new(
            "--shard",
            format!(
                "{} is not below --total-shards={}",
                args.shard, args.total_shards
            ),
            format!(
                "use a shard from 0 to {} (e.g. the StatefulSet pod ordinal)",
                args.total_shards - 1
            ),
        ));
    }
    Ok(Shard {
        index: args.shard,
        total: args.total_shards,
    })
}
