//! The web configuration in force, and how a new version gets in. Each
//! request looks only at the files' metadata (device, inode, size, and
//! modification and change times to the nanosecond, so a Kubernetes Secret's
//! swapped symlink counts as a change); a changed file is read and checked
//! once, on the blocking pool, one reload at a time, never under the lock
//! requests take.
//!
//! A reload fails closed. The new version is refused, the old one stays, a
//! warning says why and `anthropic_work_exporter_web_config_reloads_total`
//! counts it, when it is invalid, blank (what an editor or a config tool
//! writing in place leaves for a moment), or would switch TLS, basic auth or
//! required client certificates off: that takes a restart, as TLS does in
//! the exporter-toolkit. Switching them on, or changing users, certificates
//! and headers, applies to the next connection or request.

use super::{auth, RateLimit, Verdict, WebConfig};
use hyper::header::HeaderValue;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Every `result` of `anthropic_work_exporter_web_config_reloads_total`.
pub const RELOAD_RESULTS: [&str; 6] = [
    "applied",
    "invalid",
    "blank",
    "disables_tls",
    "disables_basic_auth",
    "disables_client_certificates",
];

/// Told what happens to the web configuration and to credentials, so the
/// exporter can count it without the configuration knowing metrics.
pub trait WebObserver: Send + Sync {
    /// A changed file was read: `result` is one of `RELOAD_RESULTS`.
    fn web_config_reload(&self, result: &'static str);
    /// A request's credentials were refused: one of `Verdict`'s reasons.
    fn auth_denied(&self, reason: &'static str);
}

/// What identifies a version of a file without reading it.
type Stamp = Option<(u64, u64, u64, i64, i64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

struct Loaded {
    stamps: Vec<Stamp>,
    config: Arc<WebConfig>,
    /// Stamps of a version that was refused, so it is neither re-read nor re-logged.
    refused: Option<Vec<Stamp>>,
}

/// A token bucket for `rate_limit`, rebuilt only when its settings change.
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    at: Instant,
}

/// The web configuration in force, re-read when its files change.
pub struct WebServerConfig {
    path: PathBuf,
    loaded: Mutex<Loaded>,
    /// One reload at a time; requests meanwhile use the version in force.
    reloading: tokio::sync::Mutex<()>,
    verifier: auth::Verifier,
    observer: OnceLock<Arc<dyn WebObserver>>,
    bucket: Mutex<Option<Bucket>>,
}

impl std::fmt::Debug for WebServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServerConfig")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why `new` may not replace `old` while running, if it may not.
fn refusal(old: &WebConfig, new: &WebConfig, blank: bool) -> Option<&'static str> {
    if blank {
        Some("blank")
    } else if old.tls.is_some() && new.tls.is_none() {
        Some("disables_tls")
    } else if old.needs_auth() && !new.needs_auth() {
        Some("disables_basic_auth")
    } else if old.client_cert_required && !new.client_cert_required {
        Some("disables_client_certificates")
    } else {
        None
    }
}

fn explain(result: &str) -> &'static str {
    match result {
        "blank" => "the file is empty or only whitespace (half-written?)",
        "disables_tls" => "it would switch TLS off, which takes a restart",
        "disables_basic_auth" => "it would switch basic auth off, which takes a restart",
        _ => "it would stop requiring client certificates, which takes a restart",
    }
}

impl WebServerConfig {
    /// The first load: any problem is a configuration error.
    pub fn load(path: &Path) -> Result<WebServerConfig, crate::config::ConfigError> {
        let (config, _) = WebConfig::read(path)?;
        let stamps = Self::stamps(path, &config);
        Ok(WebServerConfig {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded {
                stamps,
                config: Arc::new(config),
                refused: None,
            }),
            reloading: tokio::sync::Mutex::new(()),
            verifier: auth::Verifier::new(),
            observer: OnceLock::new(),
            bucket: Mutex::new(None),
        })
    }

    /// Report reloads and refused credentials to `observer` from now on.
    pub fn observe(&self, observer: Arc<dyn WebObserver>) {
        let _ = self.observer.set(observer);
    }

    fn stamps(path: &Path, config: &WebConfig) -> Vec<Stamp> {
        std::iter::once(path)
            .chain(config.files.iter().map(PathBuf::as_path))
            .map(stamp)
            .collect()
    }

    /// The version in force, without looking at the files.
    pub fn in_force(&self) -> Arc<WebConfig> {
        self.lock().config.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when the files are as loaded (or as last refused).
    fn unchanged(&self) -> (bool, Arc<WebConfig>) {
        let config = self.in_force();
        let now = Self::stamps(&self.path, &config);
        let l = self.lock();
        let same = now == l.stamps || l.refused.as_ref() == Some(&now);
        (same, l.config.clone())
    }

    /// The version in force, after reading the files if any changed.
    pub async fn current(&self) -> Arc<WebConfig> {
        let (same, config) = self.unchanged();
        if same {
            return config;
        }
        let _one = self.reloading.lock().await;
        let (same, old) = self.unchanged();
        if same {
            return old;
        }
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || {
            let before = Self::stamps(&path, &old);
            (WebConfig::read(&path), before)
        })
        .await;
        let Ok((read, before)) = read else {
            return self.in_force();
        };
        let old = self.in_force();
        let result = match read {
            Ok((new, blank)) => match refusal(&old, &new, blank) {
                None => {
                    tracing::info!(file = %self.path.display(), tls = new.tls.is_some(), basic_auth = new.needs_auth(), "web configuration reloaded");
                    let mut l = self.lock();
                    // The file's stamp from before it was read: a write since then is seen next time.
                    l.stamps = Self::stamps(&self.path, &new);
                    l.stamps[0] = before[0];
                    l.config = Arc::new(new);
                    l.refused = None;
                    "applied"
                }
                Some(result) => {
                    tracing::warn!(file = %self.path.display(), result, "web configuration not reloaded, the previous one stays in force: {}", explain(result));
                    result
                }
            },
            Err(e) => {
                tracing::warn!(file = %self.path.display(), result = "invalid", "web configuration not reloaded, the previous one stays in force: {e}");
                "invalid"
            }
        };
        if result != "applied" {
            self.lock().refused = Some(before);
        }
        if let Some(o) = self.observer.get() {
            o.web_config_reload(result);
        }
        self.in_force()
    }

    /// Check a request's `Authorization` header against `config`'s users.
    pub async fn authorize(&self, config: &WebConfig, header: Option<&HeaderValue>) -> Verdict {
        let verdict = self.verifier.check(&config.users, header).await;
        if let (Verdict::Denied(reason), Some(o)) = (verdict, self.observer.get()) {
            o.auth_denied(reason);
        }
        verdict
    }

    /// Take a token of `config`'s `rate_limit`: false when none is left (429).
    pub fn admit(&self, config: &WebConfig) -> bool {
        let Some(limit) = config.rate_limit else {
            return true;
        };
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let bucket = match b.as_mut() {
            Some(bucket) if bucket.limit == limit => bucket,
            _ => b.insert(Bucket {
                limit,
                tokens: f64::from(limit.burst),
                at: now,
            }),
        };
        let earned = now.duration_since(bucket.at).as_secs_f64() / limit.interval.as_secs_f64();
        bucket.tokens = (bucket.tokens + earned).min(f64::from(limit.burst));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
