//! How the simulator is reached, so benchmarks and tests can put a realistic
//! network between it and a client on loopback: HTTPS with a given
//! certificate, a round trip and a bandwidth cap per connection (`link`),
//! and gzip bodies when the client asks, as the API serves them.

use crate::SimError;
use bytes::Bytes;
use flate2::{write::GzEncoder, Compression};
use hyper::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Bodies shorter than this go out plain: compressing them saves nothing.
const MIN_COMPRESSED: usize = 1024;

/// The network settings of a simulator; the default is plain HTTP, no delay,
/// no cap (what every test had before).
#[derive(Debug, Clone, Default)]
pub struct Serving {
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<TlsFiles>,
    /// Round trip added to every connection (`--round-trip`).
    pub round_trip: Duration,
    /// Bytes a second each connection may send (`--bandwidth-mbps`); `None`: no cap.
    pub bandwidth: Option<u64>,
}

/// PEM files of the simulator's certificate (leaf first) and its key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Serving {
    /// `http` or `https`, for the credentials' base URL.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The TLS acceptor, read before anything listens so a bad file stops the start.
    pub(crate) fn acceptor(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, SimError> {
        let Some(files) = &self.tls else {
            return Ok(None);
        };
        let bad = |flag: &'static str, path: &Path, problem: String| SimError::InvalidOption {
            flag,
            problem: format!("{}: {problem}; give a PEM file", path.display()),
        };
        let certs = CertificateDer::pem_file_iter(&files.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| bad("--tls-cert-file", &files.cert, e.to_string()))?;
        if certs.is_empty() {
            let problem = "holds no certificate".to_owned();
            return Err(bad("--tls-cert-file", &files.cert, problem));
        }
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .map_err(|e| bad("--tls-key-file", &files.key, e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| bad("--tls-key-file", &files.key, e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }
}

/// Whether a request's `accept-encoding` takes gzip (`q=0` refuses it).
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                matches!(
                    p.replace(' ', "").as_str(),
                    "q=0" | "q=0.0" | "q=0.00" | "q=0.000"
                )
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `body` gzipped (fastest level: the simulator's CPU is not what is measured),
/// or `None` when it is too short to be worth it.
pub(crate) fn gzip(body: &[u8]) -> Option<Bytes> {
    if body.len() < MIN_COMPRESSED {
        return None;
    }
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    enc.write_all(body).ok()?;
    enc.finish().ok().map(Bytes::from)
}

/// The headers of a gzipped response.
pub(crate) fn mark_gzipped(headers: &mut HeaderMap) {
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
}
