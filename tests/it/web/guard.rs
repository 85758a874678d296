//! What every request goes through (`src/server/guard.rs`), over real
//! HTTP: `/probe` needs credentials like `/metrics`, refusals carry the
//! configured security headers, a probe 404 echoes nothing, and the web
//! configuration's `rate_limit` answers 429 past its burst (health exempt),
//! applied and lifted by a reload.

use super::pki::{hash, Files};
use super::serve;

#[tokio::test]
async fn refusals_carry_the_security_headers_and_a_probe_404_echoes_nothing() {
    let f = Files::new();
    let config = f.write(
        "web.yml",
        &format!("http_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  prometheus: {}\n", hash("pw")),
    );
    let (_pair, addr) = serve(&config).await;
    let c = reqwest::Client::new();
    let r = c
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-frame-options"], "deny", "on a 401 too");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = c
        .get(format!(
            "http://{addr}/probe?environment=%3Cscript%3Ealert(1)%3C/script%3E"
        ))
        .basic_auth("prometheus", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "deny");
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("script") && !body.contains("alert"),
        "{body}"
    );
}

#[tokio::test]
async fn rate_limit_answers_429_past_its_burst_and_a_reload_lifts_it() {
    let f = Files::new();
    let users = format!("basic_auth_users:\n  prometheus: {}\n", hash("pw"));
    let config = f.write(
        "web.yml",
        &format!("{users}rate_limit:\n  interval: 1h\n  burst: 2\n"),
    );
    let (_pair, addr) = serve(&config).await;
    let c = reqwest::Client::new();
    let get = |path: &str| {
        c.get(format!("http://{addr}{path}"))
            .basic_auth("prometheus", Some("pw"))
            .send()
    };
    assert_eq!(get("/metrics").await.unwrap().status(), 200);
    assert_eq!(get("/metrics").await.unwrap().status(), 200);
    let limited = get("/metrics").await.unwrap();
    assert_eq!(limited.status(), 429, "the burst of 2 is spent");
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(
        get("/-/healthy").await.unwrap().status(),
        200,
        "health is exempt"
    );
    f.write("web.yml", &users);
    assert_eq!(
        get("/metrics").await.unwrap().status(),
        200,
        "lifted by a reload"
    );
    let bad = format!("{users}rate_limit:\n  interval: soon\n");
    let e =
        work_exporter::config::web::WebServerConfig::load(&f.write("bad.yml", &bad)).unwrap_err();
    assert!(e.problem.contains("rate_limit.interval"), "{e}");
}
