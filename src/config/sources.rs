//! Where credentials and environments come from: the YAML file, the
//! `ANTHROPIC_*` variables, or a caller that has them (the demo, tests).

use super::{file, scale, CadenceOverrides, ConfigError, CredentialKind, EnvLookup, Environment};
use crate::cli::ServeArgs;
use std::collections::BTreeMap;
use work_api::secret::Secret;

/// Credentials and environments, from the file or from environment variables.
pub struct Sources {
    pub api_key: Option<Secret>,
    pub stats_credential: CredentialKind,
    pub workspace_id: Option<String>,
    pub environments: Vec<Environment>,
    pub(crate) discovery: Option<scale::FileDiscovery>,
    /// Alert thresholds of the file (none without one).
    pub thresholds: super::Thresholds,
}

impl Sources {
    /// The file when `--config.file` is given, else the environment variables.
    pub fn read(args: &ServeArgs, env: EnvLookup) -> Result<Sources, ConfigError> {
        match &args.config_file {
            Some(path) => file::from_file(path, args, env),
            None => Self::from_variables(args, env),
        }
    }

    /// Environments and an API key a caller already has (the demo, tests).
    pub fn given(api_key: Option<Secret>, environments: Vec<Environment>) -> Sources {
        Sources {
            stats_credential: if api_key.is_some() {
                CredentialKind::ApiKey
            } else {
                CredentialKind::EnvironmentKey
            },
            api_key,
            workspace_id: None,
            environments,
            discovery: None,
            thresholds: Default::default(),
        }
    }

    fn from_variables(args: &ServeArgs, env: EnvLookup) -> Result<Sources, ConfigError> {
        let api_key = variable_key(env, "ANTHROPIC_API_KEY")?;
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
                thresholds: Default::default(),
            });
        }
        let id = env("ANTHROPIC_ENVIRONMENT_ID").ok_or_else(|| {
            ConfigError::new("ANTHROPIC_ENVIRONMENT_ID", "no environment to watch", "set ANTHROPIC_ENVIRONMENT_ID and ANTHROPIC_ENVIRONMENT_KEY, pass --config.file, or discover them with --discovery.enabled and ANTHROPIC_API_KEY (try `demo` to run without an account)")
        })?;
        let key = variable_key(env, "ANTHROPIC_ENVIRONMENT_KEY")?;
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
            thresholds: Default::default(),
        })
    }
}

/// A key from an environment variable, refused (naming the variable, never
/// the value) when it holds a byte no request header can carry.
fn variable_key(env: EnvLookup, var: &str) -> Result<Option<Secret>, ConfigError> {
    let Some(value) = env(var) else {
        return Ok(None);
    };
    super::files::check_key(&value)
        .map(|k| Some(Secret::new(k)))
        .map_err(|problem| {
            ConfigError::new(var, problem, format!("export {var} with the key alone"))
        })
}
