//! `tls_server_config` of the web configuration, turned into a rustls server
//! configuration (ring provider; TLS 1.2 and 1.3 only, rustls' safe suites).

use super::error;
use crate::config::ConfigError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsFile {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_ca_file: Option<String>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    /// A no-op in Go since 1.17; accepted for compatibility.
    #[allow(dead_code)]
    prefer_server_cipher_suites: Option<bool>,
    // Known to the exporter-toolkit, refused here with a reason (see `unsupported`).
    cipher_suites: Option<serde_yaml_ng::Value>,
    curve_preferences: Option<serde_yaml_ng::Value>,
    client_allowed_sans: Option<serde_yaml_ng::Value>,
    cert: Option<serde_yaml_ng::Value>,
    key: Option<serde_yaml_ng::Value>,
}

pub(super) struct Built {
    pub config: Arc<rustls::ServerConfig>,
    pub client_cert_required: bool,
}

fn unsupported(t: &TlsFile) -> Result<(), ConfigError> {
    let refused = [
        (
            "cipher_suites",
            t.cipher_suites.is_some(),
            "remove it: rustls offers only modern AEAD suites",
        ),
        (
            "curve_preferences",
            t.curve_preferences.is_some(),
            "remove it: rustls picks X25519 or P-256/P-384",
        ),
        (
            "client_allowed_sans",
            t.client_allowed_sans.is_some(),
            "remove it and give each client its own CA, or filter clients in a proxy",
        ),
        (
            "cert",
            t.cert.is_some(),
            "write the certificate to a file and use cert_file",
        ),
        (
            "key",
            t.key.is_some(),
            "write the key to a file and use key_file",
        ),
    ];
    for (name, set, fix) in refused {
        if set {
            return Err(error(
                format!("tls_server_config.{name} is not supported"),
                fix,
            ));
        }
    }
    Ok(())
}

fn version(field: &str, v: &str) -> Result<u8, ConfigError> {
    match v {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(error(
            format!("tls_server_config.{field}: {v} is not offered (TLS 1.0 and 1.1 are broken)"),
            "use TLS12 or TLS13",
        )),
        other => Err(error(
            format!("tls_server_config.{field}: {other:?} is not a TLS version"),
            "use TLS12 or TLS13",
        )),
    }
}

fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// The bytes of a certificate or key file, bounded (`config::files`).
fn read_pem(field: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    use crate::config::files;
    files::read_bounded(path, files::MAX_WEB_FILE_BYTES)
        .map_err(|e| error(format!("tls_server_config.{field}: {e}"), e.fix()))
}

fn read_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read_pem(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            error(
                format!(
                    "tls_server_config.{field}: cannot read certificates from {}: {e}",
                    path.display()
                ),
                "give a PEM file of certificates",
            )
        })?;
    if certs.is_empty() {
        return Err(error(
            format!(
                "tls_server_config.{field}: no certificate in {}",
                path.display()
            ),
            "give a PEM file of certificates",
        ));
    }
    Ok(certs)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ClientAuth {
    None,
    IfGiven,
    Required,
}

/// `client_auth_type`, checked against `client_ca_file` before any file is read.
fn client_auth(t: &TlsFile) -> Result<ClientAuth, ConfigError> {
    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let mode = match auth_type {
        "" | "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::IfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::Required,
        "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
            return Err(error(format!("tls_server_config.client_auth_type {auth_type} accepts client certificates without verifying them"), "use RequireAndVerifyClientCert or VerifyClientCertIfGiven with client_ca_file"));
        }
        other => {
            return Err(error(
                format!("tls_server_config.client_auth_type {other:?} is not known"),
                "use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            ));
        }
    };
    match (mode, &t.client_ca_file) {
        (ClientAuth::None, Some(_)) => Err(error("tls_server_config.client_ca_file is set but client_auth_type is NoClientCert", "set client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven), or remove client_ca_file")),
        (ClientAuth::IfGiven | ClientAuth::Required, None) => Err(error(format!("tls_server_config.client_auth_type {auth_type} needs client_ca_file"), "name the PEM file of the CA that signs client certificates")),
        _ => Ok(mode),
    }
}

pub(super) fn build(
    t: &TlsFile,
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Built, ConfigError> {
    unsupported(t)?;
    let (Some(cert_file), Some(key_file)) = (&t.cert_file, &t.key_file) else {
        return Err(error(
            "tls_server_config needs both cert_file and key_file",
            "name the PEM certificate chain and its private key",
        ));
    };
    let versions = protocol_versions(t)?;
    let client_auth = client_auth(t)?;

    let cert_path = resolve(dir, cert_file);
    let key_path = resolve(dir, key_file);
    let certs = read_certs("cert_file", &cert_path)?;
    let key = PrivateKeyDer::from_pem_slice(&read_pem("key_file", &key_path)?).map_err(|e| {
        error(
            format!(
                "tls_server_config.key_file: cannot read a private key from {}: {e}",
                key_path.display()
            ),
            "give the PEM private key of cert_file",
        )
    })?;
    files.push(cert_path);
    files.push(key_path);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| error(format!("tls_server_config: {e}"), "use TLS12 or TLS13"))?;

    let (builder, client_cert_required) = match (client_auth, &t.client_ca_file) {
        (ClientAuth::None, _) => (builder.with_no_client_auth(), false),
        (mode, ca) => {
            let ca_path = resolve(dir, ca.as_deref().unwrap_or_default());
            let verifier = client_verifier(mode, ca_path, provider, files)?;
            let required = mode == ClientAuth::Required;
            (builder.with_client_cert_verifier(verifier), required)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        error(
            format!("tls_server_config: the certificate and key do not make a pair: {e}"),
            "give the key that belongs to cert_file",
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Built {
        config: Arc::new(config),
        client_cert_required,
    })
}

/// The TLS versions from `min_version` to `max_version` (1.2 and 1.3 by default).
fn protocol_versions(
    t: &TlsFile,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConfigError> {
    let min = version("min_version", t.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = version("max_version", t.max_version.as_deref().unwrap_or("TLS13"))?;
    if min > max {
        return Err(error(
            "tls_server_config: min_version is above max_version",
            "swap them or remove one",
        ));
    }
    Ok(
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect(),
    )
}

/// The verifier of client certificates signed by the CAs of `ca_path`:
/// required, or checked only when a client offers one.
fn client_verifier(
    mode: ClientAuth,
    ca_path: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    files: &mut Vec<PathBuf>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, ConfigError> {
    let not_ca = |e: &dyn std::fmt::Display| {
        error(
            format!("tls_server_config.client_ca_file: {e}"),
            "give CA certificates",
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in read_certs("client_ca_file", &ca_path)? {
        roots.add(c).map_err(|e| not_ca(&e))?;
    }
    files.push(ca_path);
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let verifier = if mode == ClientAuth::Required {
        verifier
    } else {
        verifier.allow_unauthenticated()
    };
    verifier.build().map_err(|e| not_ca(&e))
}
