//! `check-config`: the configuration checked and described, and with
//! `--probe` each endpoint called once per environment.

use super::AppError;
use crate::cli::CheckConfigArgs;
use crate::config::Config;

pub(super) async fn check_config(
    args: &CheckConfigArgs,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<(), AppError> {
    let Some(cfg) = super::load_config(&args.serve, shutdown).await? else {
        return Err(AppError::Check(
            "stopped before the configuration was read".into(),
        ));
    };
    describe(&cfg);
    let dir = cfg.discovery.as_ref().and_then(|d| d.keys_dir.clone());
    if let Some(dir) = dir {
        let problems = tokio::task::spawn_blocking(move || keys_dir_problems(&dir))
            .await
            .unwrap_or_default();
        if !problems.is_empty() {
            return Err(AppError::Config(crate::config::ConfigError {
                field: "--discovery.keys-dir".into(),
                problem: problems.join("; "),
                fix: "make each file in it a regular file holding one environment's key".into(),
            }));
        }
    }
    if !args.probe {
        return Ok(());
    }
    crate::probe::print_probe(&cfg)
        .await
        .map_err(AppError::Check)
}

/// What the configuration amounts to, keys shown only as configured or not.
fn describe(cfg: &Config) {
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
}

/// Most files of the keys directory `check-config` reads.
const KEYS_DIR_CHECKED: usize = 100_000;

/// What is wrong with the files of the keys directory named like environments.
fn keys_dir_problems(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![format!("cannot list {}", dir.display())];
    };
    entries
        .take(KEYS_DIR_CHECKED)
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| crate::config::is_plain_id(name))
        .filter_map(|name| crate::discovery::key_in(dir, &name).err())
        .collect()
}
