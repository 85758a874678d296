//! Each flag's value checked, with the field and the fix when it is wrong.

use super::{Cadences, ConfigError, RefreshSettings, StaleAfter};
use crate::cli::ServeArgs;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

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

/// `--refresh.*`, `--lease.ttl`, `--list.*`.
pub(super) fn refresh_settings(args: &ServeArgs) -> Result<RefreshSettings, ConfigError> {
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
    if !(1..=1000).contains(&args.page_size) {
        return Err(ConfigError::new(
            "--list.page-size",
            format!("{} is outside 1..1000", args.page_size),
            "use a page size from 1 to 1000 (1000 makes the fewest calls)",
        ));
    }
    Ok(RefreshSettings {
        cadences,
        timeout,
        stale_after,
        lease_ttl: parse_duration("--lease.ttl", &args.lease_ttl)?,
        page_size: args.page_size,
        max_pages: at_least_one("--list.max-pages", args.max_pages, "use e.g. 100")?,
    })
}

pub(super) fn at_least_one<T: PartialEq + From<u8>>(
    flag: &str,
    value: T,
    fix: &str,
) -> Result<T, ConfigError> {
    if value == T::from(0) {
        return Err(ConfigError::new(flag, "must be at least 1", fix));
    }
    Ok(value)
}

pub(super) fn request_rate(rate: f64) -> Result<f64, ConfigError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(ConfigError::new(
            "--api.max-requests-per-second",
            "must be a positive number",
            "use e.g. 5 (the organisation's read limit is 20/s, shared)",
        ));
    }
    Ok(rate)
}

pub(super) fn telemetry_path(path: &str) -> Result<String, ConfigError> {
    if !path.starts_with('/') || path.len() < 2 {
        return Err(ConfigError::new(
            "--web.telemetry-path",
            format!("{path:?} is not a path"),
            "use e.g. /metrics",
        ));
    }
    // The health endpoints answer without credentials, and the other routes
    // are the server's own: metrics there would be served unguarded or never.
    let taken = path.starts_with("/-/")
        || path == "/probe"
        || path.starts_with("/environments/")
        || path == "/environments";
    if taken {
        return Err(ConfigError::new(
            "--web.telemetry-path",
            format!("{path:?} is a path of the exporter's own (health endpoints under /-/ answer without credentials; /probe and /environments/ are routes)"),
            "use e.g. /metrics",
        ));
    }
    if path.contains(['?', '#', ' ']) || path.chars().any(|c| c.is_control()) {
        return Err(ConfigError::new(
            "--web.telemetry-path",
            format!("{path:?} holds a character a request path cannot"),
            "use e.g. /metrics",
        ));
    }
    Ok(path.to_string())
}

#[test]
fn the_telemetry_path_may_not_be_a_health_or_other_route() {
    for p in [
        "/-/healthy",
        "/-/ready",
        "/-/anything",
        "/probe",
        "/environments/x",
    ] {
        let e = telemetry_path(p).unwrap_err();
        assert_eq!(e.field, "--web.telemetry-path", "{p}");
        assert!(e.problem.contains("own"), "{p}: {e}");
    }
    assert!(telemetry_path("/metrics?x").is_err());
    assert_eq!(telemetry_path("/custom").unwrap(), "/custom");
}

pub(crate) fn base_url(value: &str) -> Result<url::Url, ConfigError> {
    let base_url = url::Url::parse(value.trim_end_matches('/')).map_err(|e| {
        ConfigError::new(
            "--api.base-url",
            format!("{value:?} is not a URL ({e})"),
            "use e.g. https://api.anthropic.com",
        )
    })?;
    if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
        return Err(ConfigError::new(
            "--api.base-url",
            format!("{value:?} is not an http(s) URL"),
            "use e.g. https://api.anthropic.com",
        ));
    }
    Ok(base_url)
}

pub(super) fn external_url(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(u) = value.map(|u| u.trim_end_matches('/').to_string()) else {
        return Ok(None);
    };
    url::Url::parse(&u).map_err(|e| {
        ConfigError::new(
            "--web.external-url",
            format!("{u:?} is not a URL ({e})"),
            "use e.g. http://exporter.example:9781",
        )
    })?;
    Ok(Some(u))
}

/// `--api.ca-file` (or `SSL_CERT_FILE`): the bundle's certificates as DER,
/// read and checked before anything connects. Certificates webpki cannot use
/// as trust anchors are left out (system bundles carry a few); a bundle with
/// none usable, or broken PEM, stops the program.
pub(super) fn ca_file(path: Option<&str>) -> Result<Vec<Vec<u8>>, ConfigError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let field = "--api.ca-file (or SSL_CERT_FILE)";
    let fix = "give a PEM file of CA certificates (-----BEGIN CERTIFICATE-----), or unset it";
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(field, format!("cannot read {path:?}: {e}"), fix))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(field, format!("{path:?} is not valid PEM ({e})"), fix))?;
    let mut roots = rustls::RootCertStore::empty();
    let mut usable = Vec::new();
    for cert in certs {
        if roots.add(cert.clone()).is_ok() {
            usable.push(cert.to_vec());
        }
    }
    if usable.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{path:?} holds no usable CA certificate"),
            fix,
        ));
    }
    Ok(usable)
}
