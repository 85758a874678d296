//! The exporter in an enterprise network, against the simulator as a remote
//! API (TLS with a private CA, a round trip and a bandwidth cap): the CA comes
//! from `--api.ca-file`, a bad bundle stops the program naming the flag, and
//! `HTTPS_PROXY` / `NO_PROXY` route the API connection through a proxy.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use work_exporter::config::Config;
use work_sim::{Credentials, Serving, TlsFiles};

/// A private CA and a simulator certificate it signed for 127.0.0.1, as files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "enterprise test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &ca).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("sim.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("sim.key"), key.serialize_pem()).unwrap();
        Pki { dir }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }
}

/// A simulator over TLS with a 40 ms round trip and 50 Mbit/s per connection.
async fn remote_sim(pki: &Pki, shutdown: &CancellationToken) -> Credentials {
    let mut opts = crate::ground_truth::options(2, 1500, 0, 0.0, "steady");
    opts.paging = work_sim::Paging::default();
    let serving = Serving {
        tls: Some(TlsFiles {
            cert: pki.path("sim.pem").into(),
            key: pki.path("sim.key").into(),
        }),
        round_trip: Duration::from_millis(40),
        bandwidth: Some(50_000_000 / 8),
    };
    let sim = work_sim::start_serving(opts, serving, shutdown.clone())
        .await
        .unwrap();
    assert!(sim.credentials.base_url.starts_with("https://127.0.0.1:"));
    sim.credentials
}

/// Scrapes until every environment is up with its 1,500 items counted, or
/// returns the last scrape after `tries` attempts.
async fn wait_up(metrics: &str, tries: usize) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..tries {
        last = reqwest::get(format!("{metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let up = last
            .lines()
            .filter(|l| l.starts_with("anthropic_work_up{") && l.ends_with(" 1"))
            .count();
        let counted: f64 = last
            .lines()
            .filter(|l| l.starts_with("anthropic_work_items{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if up == 2 && counted + healthchecks(&last) == 3000.0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

fn healthchecks(scrape: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with("anthropic_work_healthcheck_items{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An environment-list request that got no HTTP answer (the handshake failed).
const CONNECT_REFUSED: &str = r#"api_requests_total{code="connect",endpoint="list_environments"}"#;

#[tokio::test]
async fn the_exporter_reads_a_tls_api_signed_by_a_private_ca_given_with_api_ca_file() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let creds = remote_sim(&pki, &shutdown).await;
    let keys = crate::exporter::keys_dir(&creds, &[]);

    // The compiled-in roots (and this machine's SSL_CERT_FILE, if any) do not know the CA.
    let cfg = crate::exporter::discovering(&creds, &keys, &[], &[]);
    let without = crate::exporter::start(cfg, None, &shutdown).await;
    let ca = pki.path("ca.pem");
    let cfg = crate::exporter::discovering(&creds, &keys, &["--api.ca-file", &ca], &[]);
    let with = crate::exporter::start(cfg, None, &shutdown).await;

    wait_up(&with, 100).await.expect("up over TLS with the CA");
    // Each attempt is refused at the handshake (retried within the deadline): counted as `connect`.
    let mut refused = String::new();
    for _ in 0..100 {
        refused = reqwest::get(format!("{without}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if refused.contains(CONNECT_REFUSED) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused.contains(CONNECT_REFUSED),
        "an unknown CA fails as connect:\n{refused}"
    );
    assert!(wait_up(&without, 1).await.is_err());
    shutdown.cancel();
}

#[test]
fn a_bad_ca_bundle_stops_the_program_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    for (path, problem) in [
        (&garbage, "holds no usable CA certificate"),
        (&broken, "is not valid PEM"),
        (&missing, "cannot read"),
    ] {
        let cli: work_exporter::cli::Cli = clap::Parser::parse_from([
            "x",
            "--api.ca-file",
            path.to_str().unwrap(),
            "--discovery.enabled",
        ]);
        let err = Config::from_args(&cli.serve, &|name| {
            (name == "ANTHROPIC_API_KEY").then(|| "k".to_string())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--api.ca-file") && err.contains(problem),
            "{err}"
        );
    }
}

/// A CONNECT proxy on loopback that records where it was asked to go.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(tunnel(client, log.clone()));
        }
    });
    (url, seen)
}

async fn tunnel(mut client: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let Some(target) = line
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split(' ').next())
    else {
        let _ = client.write_all(b"HTTP/1.1 405 CONNECT only\r\n\r\n").await;
        return;
    };
    seen.lock().unwrap().push(target.to_owned());
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    let _ = client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[tokio::test]
async fn https_proxy_routes_the_api_connection_and_no_proxy_bypasses_it() {
    let pki = Pki::new();
    let shutdown = CancellationToken::new();
    let creds = remote_sim(&pki, &shutdown).await;
    let keys = crate::exporter::keys_dir(&creds, &[]);
    let ca = pki.path("ca.pem");
    let (proxy, seen) = connect_proxy().await;
    let sim_addr = creds.base_url.trim_start_matches("https://").to_owned();

    // reqwest reads the variables when the client is built, as httpx does;
    // nextest runs each test in a process of its own, so setting them here
    // reaches no other test.
    std::env::set_var("HTTPS_PROXY", &proxy);
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let proxied = crate::exporter::discovering(&creds, &keys, &["--api.ca-file", &ca], &[]);
    let proxied = crate::exporter::start(proxied, None, &shutdown).await;
    wait_up(&proxied, 100).await.expect("up through the proxy");
    let tunnels = seen.lock().unwrap().clone();
    assert!(!tunnels.is_empty(), "the exporter went through the proxy");
    assert!(tunnels.iter().all(|t| *t == sim_addr), "{tunnels:?}");

    // The second exporter gets a proxy of its own, so tunnels the first one
    // keeps opening in the background (its refreshes go on) cannot be
    // mistaken for the second's: with NO_PROXY naming the API, it opens none.
    let (proxy2, seen2) = connect_proxy().await;
    std::env::set_var("HTTPS_PROXY", &proxy2);
    std::env::set_var("NO_PROXY", "127.0.0.1");
    let direct = crate::exporter::discovering(&creds, &keys, &["--api.ca-file", &ca], &[]);
    let direct = crate::exporter::start(direct, None, &shutdown).await;
    wait_up(&direct, 100).await.expect("up without the proxy");
    std::env::remove_var("HTTPS_PROXY");
    std::env::remove_var("NO_PROXY");
    assert_eq!(
        seen2.lock().unwrap().clone(),
        Vec::<String>::new(),
        "NO_PROXY bypassed it"
    );
    shutdown.cancel();
}
