//! `--web.config.file` with a real TLS client: TLS with a certificate made in
//! the test, minimum version, client certificates, bcrypt basic auth (wrong
//! password → 401, health endpoints open), reloading when the file or a
//! certificate changes (a bad new version keeps the old one), configuration
//! errors at start, and the `healthcheck` subcommand over TLS.

use crate::pair::{Options, Pair};
use std::path::Path;
use std::sync::Arc;
use work_exporter::config::web::WebServerConfig;
use work_exporter::server::ServeOptions;

mod guard;
mod pki;
pub mod proc;
mod reload;

use pki::{client, hash, Ca, Files};

pub async fn serve(config: &Path) -> (Pair, std::net::SocketAddr) {
    let pair = Pair::start(Options::default()).await;
    let web = Arc::new(WebServerConfig::load(config).unwrap());
    let addr = pair
        .serve_with(ServeOptions {
            web: Some(web),
            ..Default::default()
        })
        .await;
    (pair, addr)
}

async fn status(req: reqwest::RequestBuilder) -> Result<u16, String> {
    req.send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn tls_serves_metrics_to_a_client_that_trusts_the_certificate() {
    let ca = Ca::new("test CA");
    let f = Files::new();
    f.server_cert(&ca);
    let config = f.write("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nhttp_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n");
    let (_pair, addr) = serve(&config).await;
    let c = client(&ca).build().unwrap();
    let resp = c
        .get(format!("https://127.0.0.1:{}/metrics", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("anthropic_work_exporter_build_info"));
    // Plain HTTP to a TLS port gets nothing.
    let plain = reqwest::get(format!("http://{addr}/metrics")).await;
    assert!(!plain.is_ok_and(|r| r.status().is_success()));
    // A client that does not trust the certificate refuses it.
    let stranger = client(&Ca::new("another CA")).build().unwrap();
    assert!(stranger
        .get(format!("https://127.0.0.1:{}/metrics", addr.port()))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn min_version_tls13_refuses_a_tls12_client() {
    let ca = Ca::new("test CA");
    let f = Files::new();
    f.server_cert(&ca);
    let config = f.write("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n");
    let (_pair, addr) = serve(&config).await;
    let url = format!("https://127.0.0.1:{}/metrics", addr.port());
    let old = client(&ca)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(
        old.get(&url).send().await.is_err(),
        "a TLS 1.2 client is refused"
    );
    let new = client(&ca)
        .min_tls_version(reqwest::tls::Version::TLS_1_3)
        .build()
        .unwrap();
    assert_eq!(new.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn client_certificates_are_required_and_verified_when_configured() {
    let ca = Ca::new("server CA");
    let clients = Ca::new("clients CA");
    let f = Files::new();
    f.server_cert(&ca);
    f.write("clients.crt", &clients.pem);
    let config = f.write("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.crt\n");
    let (_pair, addr) = serve(&config).await;
    let url = format!("https://127.0.0.1:{}/metrics", addr.port());
    let none = client(&ca).build().unwrap();
    assert!(
        status(none.get(&url)).await.is_err(),
        "no client certificate: refused"
    );
    let foreign = client(&ca)
        .identity(Ca::new("rogue CA").client())
        .build()
        .unwrap();
    assert!(
        status(foreign.get(&url)).await.is_err(),
        "a certificate from another CA: refused"
    );
    let good = client(&ca).identity(clients.client()).build().unwrap();
    assert_eq!(status(good.get(&url)).await, Ok(200));

    // Relaxed to VerifyClientCertIfGiven while running: refused (it takes a
    // restart), so a client without a certificate is still turned away.
    let if_given = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: clients.crt\n";
    f.write("web.yml", if_given);
    let none = client(&ca).build().unwrap();
    assert!(status(none.get(&url)).await.is_err(), "still required");

    // Started with VerifyClientCertIfGiven: none is fine, a bad one is not.
    let (_pair, addr) = serve(&config).await;
    let url = format!("https://127.0.0.1:{}/metrics", addr.port());
    assert_eq!(status(none.get(&url)).await, Ok(200));
    let foreign = client(&ca)
        .identity(Ca::new("rogue CA").client())
        .build()
        .unwrap();
    assert!(status(foreign.get(&url)).await.is_err());
}

#[tokio::test]
async fn basic_auth_wants_the_right_password_except_on_health_endpoints() {
    let f = Files::new();
    let config = f.write(
        "web.yml",
        &format!(
            "basic_auth_users:\n  prometheus: {}\n  grafana: {}\n",
            hash("s3cret"),
            hash("other")
        ),
    );
    let (_pair, addr) = serve(&config).await;
    let c = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");
    assert_eq!(
        status(c.get(&url).basic_auth("prometheus", Some("s3cret"))).await,
        Ok(200)
    );
    assert_eq!(
        status(c.get(&url).basic_auth("grafana", Some("other"))).await,
        Ok(200)
    );
    let denied = c
        .get(&url)
        .basic_auth("prometheus", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert!(denied.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(
        status(c.get(&url).basic_auth("grafana", Some("s3cret"))).await,
        Ok(401),
        "another user's password"
    );
    assert_eq!(
        status(c.get(&url).basic_auth("nobody", Some("s3cret"))).await,
        Ok(401)
    );
    assert_eq!(status(c.get(&url)).await, Ok(401), "no credentials");
    assert_eq!(
        status(c.get(&url).bearer_auth("s3cret")).await,
        Ok(401),
        "not basic"
    );
    for path in ["/", "/environments/env_bad", "/nope"] {
        assert_eq!(
            status(c.get(format!("http://{addr}{path}"))).await,
            Ok(401),
            "{path}"
        );
    }
    for path in ["/-/healthy", "/-/ready"] {
        assert_ne!(
            status(c.get(format!("http://{addr}{path}"))).await,
            Ok(401),
            "{path} is open to probes"
        );
    }
}

#[tokio::test]
async fn changes_to_the_file_and_certificates_apply_to_new_requests_and_a_bad_version_is_ignored() {
    let f = Files::new();
    let config = f.write(
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: {}\n", hash("one")),
    );
    let (_pair, addr) = serve(&config).await;
    let c = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");
    assert_eq!(
        status(c.get(&url).basic_auth("prometheus", Some("one"))).await,
        Ok(200)
    );

    // The password changes: the old one stops working on the next request.
    f.write(
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: {}\n", hash("two")),
    );
    assert_eq!(
        status(c.get(&url).basic_auth("prometheus", Some("one"))).await,
        Ok(401)
    );
    assert_eq!(
        status(c.get(&url).basic_auth("prometheus", Some("two"))).await,
        Ok(200)
    );

    // A broken version (a password instead of a hash) changes nothing.
    f.write("web.yml", "basic_auth_users:\n  prometheus: two\n");
    assert_eq!(
        status(c.get(&url).basic_auth("prometheus", Some("two"))).await,
        Ok(200)
    );
    assert_eq!(
        status(c.get(&url)).await,
        Ok(401),
        "authentication stays on"
    );
    f.write("web.yml", "tls_server_config: [not, a, map]\n");
    assert_eq!(status(c.get(&url)).await, Ok(401));

    // TLS is switched on (the users kept): new connections need it.
    let ca = Ca::new("test CA");
    f.server_cert(&ca);
    f.write(
        "web.yml",
        &format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: {}\n", hash("two")),
    );
    let https = format!("https://127.0.0.1:{}/metrics", addr.port());
    let authed = |c: reqwest::Client| c.get(&https).basic_auth("prometheus", Some("two"));
    assert_eq!(status(authed(client(&ca).build().unwrap())).await, Ok(200));
    assert_eq!(
        status(reqwest::Client::new().get(&url)).await,
        Ok(400),
        "plain HTTP is over, and told so"
    );

    // The certificate is rotated to one from a new CA: new connections get it.
    let next = Ca::new("next CA");
    f.server_cert(&next);
    assert!(
        status(authed(client(&ca).build().unwrap())).await.is_err(),
        "the old certificate is gone"
    );
    assert_eq!(
        status(authed(client(&next).build().unwrap())).await,
        Ok(200)
    );
}

fn start_fails(yaml: &str, needles: &[&str]) {
    let f = Files::new();
    f.write("server.crt", "not a certificate");
    let config = f.write("web.yml", yaml);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
        .args(["--web.listen-address", "127.0.0.1:0", "--web.config.file"])
        .arg(&config)
        .env("ANTHROPIC_ENVIRONMENT_ID", "env_x")
        .env("ANTHROPIC_ENVIRONMENT_KEY", "k")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{yaml}\n{stderr}");
    for n in std::iter::once(&"--web.config.file").chain(needles) {
        assert!(
            stderr.contains(n),
            "{yaml}: stderr should mention {n:?}:\n{stderr}"
        );
    }
}

#[test]
fn a_bad_web_configuration_stops_the_program_before_it_serves() {
    start_fails(
        "basic_auth_users:\n  prometheus: plaintext\n",
        &[
            "basic_auth_users.prometheus",
            "not a bcrypt hash",
            "htpasswd",
        ],
    );
    start_fails(
        "tls_server_config:\n  cert_file: server.crt\n",
        &["cert_file and key_file"],
    );
    start_fails(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n",
        &["cert_file"],
    );
    start_fails("tls_server_confg: {}\n", &["unknown field"]);
    start_fails(
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
        &["TLS12"],
    );
    start_fails(
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
        &["client_auth_type"],
    );
    start_fails("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n", &["without verifying"]);
    start_fails("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", &["cipher_suites"]);
    start_fails(
        "http_server_config:\n  headers:\n    Content-Type: text/html\n",
        &["may not be set"],
    );
    start_fails(
        "http_server_config:\n  headers:\n    X-Frame-Options: allow-from x\n",
        &["X-Frame-Options", "deny, sameorigin"],
    );
}

#[tokio::test]
async fn the_healthcheck_subcommand_works_over_tls_with_basic_auth_on() {
    let ca = Ca::new("test CA");
    let f = Files::new();
    f.server_cert(&ca);
    let config = f.write("web.yml", &format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: {}\n", hash("x")));
    let (_pair, addr) = serve(&config).await;
    let run = |with_config: bool| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"));
        c.args(["healthcheck", "--web.listen-address", &addr.to_string()]);
        if with_config {
            c.arg("--web.config.file").arg(&config);
        }
        c.output()
    };
    let out = run(true).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !run(false).await.unwrap().status.success(),
        "plain http to a TLS port is unhealthy"
    );
}
