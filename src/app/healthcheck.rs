//! `healthcheck`: asks a running exporter's `/-/healthy` (for container
//! health checks, where no curl is installed).

use super::AppError;
use crate::cli::HealthcheckArgs;
use crate::config;

pub(super) async fn healthcheck(args: &HealthcheckArgs) -> Result<(), AppError> {
    let mut addr = config::parse_listen_address("--web.listen-address", &args.listen_address)?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    // With TLS, ask over https. The certificate is not checked: this is a
    // liveness probe of a server on this host, and it sends no credential.
    let tls = match &args.web_config_file {
        Some(path) => crate::config::web::WebServerConfig::load(path)?
            .in_force()
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
