//! `--web.config.file`: TLS and basic auth for the exporter's own server, in
//! the format of the Prometheus exporter-toolkit, re-read when the file (or a
//! certificate, key or CA file it names) changes.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt            # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12               # TLS12 (default) or TLS13
//! http_server_config:
//!   headers: {Strict-Transport-Security: max-age=31536000}
//! basic_auth_users:
//!   prometheus: $2y$10$...           # bcrypt hash (htpasswd -nBC 10 prometheus)
//! rate_limit: {interval: 100ms, burst: 10}   # optional; past it, 429
//! ```
//!
//! The first load happens with the rest of the configuration, before any
//! socket opens: a bad file stops the program. Later versions are picked up
//! by `reload` and fail closed: one that is bad, empty, or would switch TLS,
//! basic auth or client certificates off keeps the previous one in force.

mod auth;
mod reload;
mod tls;

use crate::config::ConfigError;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use auth::{Verdict, DENIAL_REASONS};
pub use reload::{WebObserver, WebServerConfig, RELOAD_RESULTS};

const FIELD: &str = "--web.config.file";

fn error(problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError {
        field: FIELD.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<tls::TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RateLimitFile>,
}

/// `rate_limit` as the exporter-toolkit takes it: one token every
/// `interval`, up to `burst` saved; a request finding none gets 429.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitFile {
    interval: Option<String>,
    burst: Option<u32>,
}

/// A checked `rate_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

fn rate_limit(f: Option<RateLimitFile>) -> Result<Option<RateLimit>, ConfigError> {
    let Some(f) = f else { return Ok(None) };
    let interval = match f.interval.as_deref() {
        None | Some("0s") | Some("0") => return Ok(None),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|_| {
            error(
                format!("rate_limit.interval: {text:?} is not a duration"),
                "write e.g. 100ms or 1s",
            )
        })?,
    };
    if interval.is_zero() {
        return Ok(None);
    }
    Ok(Some(RateLimit {
        interval,
        burst: f.burst.unwrap_or(0).max(1),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    /// Accepted for compatibility; this server speaks HTTP/1.1 only.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Response headers the file may set (the exporter-toolkit's list).
const SETTABLE_HEADERS: &[&str] = &[
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "x-xss-protection",
    "strict-transport-security",
];

/// `http_server_config.headers`, checked: only the settable names, and the
/// exporter-toolkit's values where it has an enumeration.
fn headers(
    configured: BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in configured {
        let lower = name.to_ascii_lowercase();
        if !SETTABLE_HEADERS.contains(&lower.as_str()) {
            return Err(error(
                format!("http_server_config.headers: {name:?} may not be set"),
                format!("set only {}", SETTABLE_HEADERS.join(", ")),
            ));
        }
        // The exporter-toolkit's enumerations: anything else would weaken the header.
        let allowed: &[&str] = match lower.as_str() {
            "x-content-type-options" => &["nosniff"],
            "x-frame-options" => &["deny", "sameorigin"],
            _ => &[],
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(error(
                format!("http_server_config.headers.{name}: {value:?} is not allowed"),
                format!("use one of {}", allowed.join(", ")),
            ));
        }
        let value = HeaderValue::from_str(&value).map_err(|_| {
            error(
                format!("http_server_config.headers.{name}: not a valid header value"),
                "use printable ASCII",
            )
        })?;
        out.push((
            HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| error(format!("{name:?} is not a header name"), "fix the name"))?,
            value,
        ));
    }
    Ok(out)
}

/// One checked version of the file.
pub struct WebConfig {
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// `client_auth_type` requires a verified client certificate.
    pub client_cert_required: bool,
    users: BTreeMap<String, String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The certificate, key and CA files it names, watched for changes.
    files: Vec<PathBuf>,
    pub rate_limit: Option<RateLimit>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("client_cert_required", &self.client_cert_required)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Check the text of a web configuration file; `dir` resolves relative paths.
    pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, ConfigError> {
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| {
                error(
                    e.to_string(),
                    "fix the YAML; known fields: tls_server_config.{cert_file,key_file,client_ca_file,client_auth_type,min_version,max_version}, http_server_config.headers, basic_auth_users",
                )
            })?
        };
        let mut files = Vec::new();
        let (tls, client_cert_required) = match &file.tls_server_config {
            Some(t) => {
                let built = tls::build(t, dir, &mut files)?;
                (
                    Some(tokio_rustls::TlsAcceptor::from(built.config)),
                    built.client_cert_required,
                )
            }
            None => (None, false),
        };
        let rate_limit = rate_limit(file.rate_limit)?;
        let users = file.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            auth::check_hash(user, hash)?;
        }
        let headers = headers(
            file.http_server_config
                .and_then(|h| h.headers)
                .unwrap_or_default(),
        )?;
        Ok(WebConfig {
            tls,
            client_cert_required,
            users,
            headers,
            files,
            rate_limit,
        })
    }

    /// True when requests need a user and password.
    pub fn needs_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Read and check the file; the flag says it was blank (empty or only
    /// whitespace), which a reload refuses.
    fn read(path: &Path) -> Result<(WebConfig, bool), ConfigError> {
        use crate::config::files;
        let text = files::read_text(path, files::MAX_WEB_FILE_BYTES)
            .map_err(|e| error(e.to_string(), e.fix()))?;
        files::check_yaml_nesting(&text)
            .map_err(|problem| error(format!("{}: {problem}", path.display()), "fix the YAML"))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let config = WebConfig::parse(&text, dir).map_err(|mut e| {
            e.problem = format!("{}: {}", path.display(), e.problem);
            e
        })?;
        Ok((config, text.trim().is_empty()))
    }
}
