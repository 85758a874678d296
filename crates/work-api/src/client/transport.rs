//! How the client reaches the API: compressed responses negotiated as the
//! official SDK's HTTP client does, extra trusted roots for a private CA, and
//! the proxy from the environment.
//!
//! SDK 2.17's client (`httpx2/_client.py`, `ACCEPT_ENCODING`) sends
//! `accept-encoding: gzip, deflate` (plus `br` / `zstd` only when those Python
//! packages are installed) and decodes as the body streams; the client sends
//! the same header and `read_body` inflates the raw body itself, straight into
//! the page buffer, so the body cap counts decoded bytes. Proxies: reqwest reads
//! `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` and `NO_PROXY` when the client is
//! built, as httpx does with `trust_env` (its default); the builder below
//! leaves that on (no `no_proxy()`).

use tokio::time::Duration;

/// The connection settings of an `ApiClient`.
#[derive(Clone)]
pub struct Transport {
    /// Ask for gzip or deflate and decode as the body streams (`--api.compression`).
    pub compression: bool,
    /// DER certificates trusted besides the compiled-in Mozilla roots
    /// (`--api.ca-file`): a private CA, or a TLS-inspecting egress proxy's.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for Transport {
    /// What the SDK does: compressed responses, the public roots only.
    fn default() -> Self {
        Transport {
            compression: true,
            extra_roots: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("compression", &self.compression)
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl Transport {
    /// The header as httpx writes it (`gzip, deflate`; reqwest's own is
    /// `gzip,deflate`); `read_body` decodes whichever the server picks.
    pub(super) fn accept_encoding(&self) -> Option<&'static str> {
        self.compression.then_some("gzip, deflate")
    }

    /// The reqwest client these settings describe.
    pub(super) fn http_client(&self) -> Result<reqwest::Client, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            // Keys go only to the configured base URL: never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "anthropic-work-exporter/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            // `read_body` decodes gzip and deflate itself, straight into the
            // page buffer: reqwest's decoder hands out small chunks to copy.
            .gzip(false)
            .deflate(false);
        for der in &self.extra_roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(der)?);
        }
        builder.build()
    }
}
