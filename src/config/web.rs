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
//! ```
//!
//! The first load happens with the rest of the configuration, before any
//! socket opens: a bad file stops the program. Later, the files are checked
//! for every new connection and request (a digest of each); a changed file is
//! re-read, and when the new version is bad the previous one stays in force
//! (and an error is logged once), so a typo can never switch TLS or
//! authentication off.

mod auth;
mod tls;

use crate::config::ConfigError;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use auth::Verdict;

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

/// One checked version of the file.
pub struct WebConfig {
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// `client_auth_type` requires a verified client certificate.
    pub client_cert_required: bool,
    users: BTreeMap<String, String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The certificate, key and CA files it names, watched for changes.
    files: Vec<PathBuf>,
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
        let users = file.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            auth::check_hash(user, hash)?;
        }
        let mut headers = Vec::new();
        for (name, value) in file
            .http_server_config
            .and_then(|h| h.headers)
            .unwrap_or_default()
        {
            let lower = name.to_ascii_lowercase();
            if !SETTABLE_HEADERS.contains(&lower.as_str()) {
                return Err(error(
                    format!("http_server_config.headers: {name:?} may not be set"),
                    format!("set only {}", SETTABLE_HEADERS.join(", ")),
                ));
            }
            let value = HeaderValue::from_str(&value).map_err(|_| {
                error(
                    format!("http_server_config.headers.{name}: not a valid header value"),
                    "use printable ASCII",
                )
            })?;
            headers.push((
                HeaderName::from_bytes(lower.as_bytes())
                    .map_err(|_| error(format!("{name:?} is not a header name"), "fix the name"))?,
                value,
            ));
        }
        Ok(WebConfig {
            tls,
            client_cert_required,
            users,
            headers,
            files,
        })
    }

    /// True when requests need a user and password.
    pub fn needs_auth(&self) -> bool {
        !self.users.is_empty()
    }

    fn read(path: &Path) -> Result<WebConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            error(
                format!("cannot read {}: {e}", path.display()),
                "check the path and that the exporter's user may read it",
            )
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        WebConfig::parse(&text, dir).map_err(|mut e| {
            e.problem = format!("{}: {}", path.display(), e.problem);
            e
        })
    }
}

/// What identifies a version of a file: a digest of its content. These
/// files are small, and modification times are too coarse to tell two quick
/// edits apart (or can go back, as when a Kubernetes Secret is swapped).
type Stamp = Option<[u8; 32]>;

/// Read at most this much of a file to stamp it.
const STAMP_MAX_BYTES: u64 = 1 << 20;

fn stamp(path: &Path) -> Stamp {
    use std::io::Read;
    let mut content = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(STAMP_MAX_BYTES)
        .read_to_end(&mut content)
        .ok()?;
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &content).as_ref());
    Some(out)
}

struct Loaded {
    stamps: Vec<Stamp>,
    config: Arc<WebConfig>,
    /// Stamps of a version that failed to load, so it is neither re-read nor re-logged.
    failed: Option<Vec<Stamp>>,
}

/// The web configuration in force, re-read when its files change.
pub struct WebServerConfig {
    path: PathBuf,
    loaded: Mutex<Loaded>,
    verifier: auth::Verifier,
}

impl std::fmt::Debug for WebServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServerConfig")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WebServerConfig {
    /// The first load: any problem is a configuration error.
    pub fn load(path: &Path) -> Result<WebServerConfig, ConfigError> {
        let config = WebConfig::read(path)?;
        let stamps = Self::stamps(path, &config);
        Ok(WebServerConfig {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded {
                stamps,
                config: Arc::new(config),
                failed: None,
            }),
            verifier: auth::Verifier::new(),
        })
    }

    fn stamps(path: &Path, config: &WebConfig) -> Vec<Stamp> {
        std::iter::once(path)
            .chain(config.files.iter().map(PathBuf::as_path))
            .map(stamp)
            .collect()
    }

    /// The version in force, re-reading the files first if any changed.
    pub fn current(&self) -> Arc<WebConfig> {
        let mut l = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let now = Self::stamps(&self.path, &l.config);
        if now == l.stamps || l.failed.as_ref() == Some(&now) {
            return l.config.clone();
        }
        match WebConfig::read(&self.path) {
            Ok(config) => {
                tracing::info!(file = %self.path.display(), tls = config.tls.is_some(), basic_auth = config.needs_auth(), "web configuration reloaded");
                l.stamps = Self::stamps(&self.path, &config);
                l.config = Arc::new(config);
                l.failed = None;
            }
            Err(e) => {
                tracing::error!(file = %self.path.display(), "web configuration not reloaded, the previous one stays in force: {e}");
                l.failed = Some(now);
            }
        }
        l.config.clone()
    }

    /// Check a request's `Authorization` header against `config`'s users.
    pub async fn authorize(&self, config: &WebConfig, header: Option<&HeaderValue>) -> Verdict {
        self.verifier.check(&config.users, header).await
    }
}
