//! Fail closed: the web configuration of a running TLS + basic-auth
//! exporter (the binary) is truncated, emptied, left as whitespace, cut off
//! after `basic_auth_users:` or inside `tls_server_config`, cut inside a
//! hash, written in place as editors do. After each, a request without
//! credentials gets 401 over TLS and plain HTTP gets 400, never 200; the
//! right password still gets 200; the log says why the old version stayed,
//! and the reload counter counts each reason.

use super::pki::{client, hash, Ca, Files};
use super::proc::{command, Exporter};
use std::time::Duration;

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

#[tokio::test]
async fn an_empty_blank_or_half_written_web_config_keeps_tls_and_basic_auth_on() {
    let ca = Ca::new("test CA");
    let f = Files::new();
    f.server_cert(&ca);
    let full = format!("{TLS}basic_auth_users:\n  prometheus: {}\n", hash("s3cret"));
    let config = f.write("web.yml", &full);
    let exporter = Exporter::start(command(&["--web.config.file", config.to_str().unwrap()]));
    let port = exporter.addr.rsplit(':').next().unwrap().to_string();
    let https = format!("https://127.0.0.1:{port}/metrics");
    let tls = client(&ca).build().unwrap();
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let code = |r: reqwest::RequestBuilder| async move {
        r.send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    };
    let cut_hash = &full[..full.len() - 20];
    let versions: [(&str, String); 6] = [
        ("truncated", String::new()),
        ("whitespace", " \n\t\n  \n".into()),
        (
            "cut after basic_auth_users:",
            format!("{TLS}basic_auth_users:\n"),
        ),
        (
            "cut inside tls_server_config",
            "tls_server_config:\n".into(),
        ),
        ("cut inside a hash", cut_hash.to_string()),
        ("TLS alone", TLS.into()),
    ];
    for (what, text) in &versions {
        // In place, as `: > web.yml` or an editor saving over it does.
        std::fs::write(&config, text).unwrap();
        assert_eq!(
            code(tls.get(&https)).await,
            Ok(401),
            "{what}: no credentials"
        );
        assert_eq!(
            code(tls.get(&https).basic_auth("prometheus", Some("wrong"))).await,
            Ok(401),
            "{what}: a wrong password"
        );
        let plain_code = code(plain.get(format!("http://127.0.0.1:{port}/metrics"))).await;
        assert_ne!(plain_code, Ok(200), "{what}: plain HTTP");
        assert_eq!(plain_code, Ok(400), "{what}: plain HTTP is told to use TLS");
        assert_eq!(
            code(tls.get(&https).basic_auth("prometheus", Some("s3cret"))).await,
            Ok(200),
            "{what}: the right password"
        );
    }
    // Scrapes within a second share one body (metrics::shared): a fresh one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let metrics = tls
        .get(&https)
        .basic_auth("prometheus", Some("s3cret"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (result, at_least) in [
        ("blank", 2),
        ("disables_basic_auth", 2),
        ("disables_tls", 1),
        ("invalid", 1),
    ] {
        let line =
            format!("anthropic_work_exporter_web_config_reloads_total{{result=\"{result}\"}} ");
        let n: u32 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("no {line}"))
            .parse()
            .unwrap();
        assert!(n >= at_least, "{result}: {n}\n{}", exporter.log());
    }
    assert!(metrics
        .contains("anthropic_work_exporter_http_auth_denied_total{reason=\"no_credentials\"} 6"));
    let log = exporter.log();
    for why in [
        "empty or only whitespace",
        "switch basic auth off",
        "switch TLS off",
    ] {
        assert!(
            log.contains("web configuration not reloaded, the previous one stays in force")
                && log.contains(why),
            "the log says why ({why}):\n{log}"
        );
    }
    assert!(!log.contains("s3cret"));
    drop(exporter); // killed: stopping on SIGTERM is tested in hostile_files.rs
}

#[test]
fn a_renegotiation_attempt_leaves_no_rustls_warning_with_a_build_path_in_the_log() {
    let ca = Ca::new("test CA");
    let f = Files::new();
    f.server_cert(&ca);
    let config = f.write("web.yml", TLS);
    let exporter = Exporter::start(command(&["--web.config.file", config.to_str().unwrap()]));
    // openssl's s_client asks to renegotiate on a line holding "R" (TLS 1.2).
    let mut client = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &exporter.addr, "-tls1_2"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (scripts/test installs it)");
    let mut stdin = client.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::io::Write::write_all(&mut stdin, b"R\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(stdin);
    let out = client.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("RENEGOTIATING"),
        "the attempt was made:\n{said}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let log = exporter.log();
    assert!(
        !log.contains("rustls") && !log.contains("log.file") && !log.contains(".cargo"),
        "{log}"
    );
    drop(exporter); // killed: stopping on SIGTERM is tested in hostile_files.rs
}
