//! `check-config --probe`: call each endpoint once per environment and print
//! a table of what works and why not.

use crate::config::{Config, CredentialKind, Environment};
use std::sync::Arc;
use tokio::time::{Duration, Instant};
use work_api::client::NoObserver;
use work_api::{ApiClient, ApiError, Credential, RequestBudget};

/// Print the probe table; `Err` when any call failed.
pub async fn print_probe(cfg: &Config) -> Result<(), String> {
    let client = ApiClient::with_transport(
        cfg.api.base_url.clone(),
        cfg.api.workspace_id.clone(),
        (1, cfg.api.max_body_bytes),
        Arc::new(RequestBudget::new(cfg.api.max_requests_per_second)),
        Arc::new(NoObserver),
        &cfg.api.transport,
    )
    .map_err(|e| e.to_string())?
    .with_api_version(cfg.api.version.clone());
    let mut failures = 0;
    println!(
        "\n{:<40} {:<10} {:<8} detail",
        "environment", "endpoint", "result"
    );
    for env in &cfg.environments {
        let deadline = Instant::now() + Duration::from_secs(15);
        let stats = probe_stats(&client, cfg, env, deadline).await;
        let list = probe_list(&client, env, deadline).await;
        let keys: Vec<&work_api::secret::Secret> =
            cfg.api.api_key.iter().chain(env.key.as_ref()).collect();
        for (endpoint, result) in [("stats", stats), ("list_work", list)] {
            match result.map_err(|e| e.redact(&keys)) {
                Ok(detail) => println!("{:<40} {:<10} {:<8} {detail}", env.id, endpoint, "ok"),
                Err(e) => {
                    failures += 1;
                    println!("{:<40} {:<10} {:<8} {e}", env.id, endpoint, e.reason());
                }
            }
        }
    }
    if failures > 0 {
        return Err(format!("{failures} probe call(s) failed"));
    }
    println!("\nall probes succeeded");
    Ok(())
}

/// The environment's queue stats, with the credential a refresh would use.
async fn probe_stats(
    client: &ApiClient,
    cfg: &Config,
    env: &Environment,
    deadline: Instant,
) -> Result<String, ApiError> {
    let cred = match (cfg.api.stats_credential, &cfg.api.api_key, &env.key) {
        (CredentialKind::ApiKey, Some(k), _) => Credential::ApiKey(k),
        (_, _, Some(k)) => Credential::EnvironmentKey(k),
        (_, Some(k), None) => Credential::ApiKey(k),
        _ => return Err(no_credential("stats", "no credential configured")),
    };
    let s = client.stats(&env.id, cred, deadline).await?;
    Ok(format!(
        "depth={} pending={} workers_polling={:?}",
        s.depth, s.pending, s.workers_polling
    ))
}

/// The first page of the environment's work list (one item), decoded.
async fn probe_list(
    client: &ApiClient,
    env: &Environment,
    deadline: Instant,
) -> Result<String, ApiError> {
    let Some(k) = &env.key else {
        return Err(no_credential("list_work", "no environment key configured"));
    };
    let r = client.list_work_page(&env.id, k, 1, None, deadline).await?;
    let p = work_api::decode::work_page(&r.body).map_err(|e| ApiError::Decode {
        endpoint: "list_work",
        request_id: r.request_id.clone(),
        message: e.to_string(),
    })?;
    Ok(format!(
        "first page decoded ({} item(s), more: {})",
        p.data.len(),
        p.next_page.is_some()
    ))
}

/// The call was not made: nothing to send it with.
fn no_credential(endpoint: &'static str, message: &str) -> ApiError {
    ApiError::Auth {
        endpoint,
        status: 0,
        request_id: "none".into(),
        message: message.into(),
    }
}
