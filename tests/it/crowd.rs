//! Out of file descriptors: the binary run under `ulimit -n 64` with more
//! idle connections open than it has descriptors; a new scrape is still
//! answered, because the idlest connection is closed to make room, and the
//! shed is counted.

use crate::web::proc::Exporter;
use std::time::Duration;

#[tokio::test]
async fn out_of_descriptors_the_idlest_connection_makes_room_for_a_scrape() {
    let bin = env!("CARGO_BIN_EXE_anthropic-work-exporter");
    let mut c = std::process::Command::new("sh");
    c.args([
        "-c",
        &format!("ulimit -n 64 && exec {bin} --web.listen-address 127.0.0.1:0 --api.base-url http://127.0.0.1:9"),
    ])
    .env("ANTHROPIC_ENVIRONMENT_ID", "env_x")
    .env("ANTHROPIC_ENVIRONMENT_KEY", "k")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    let exporter = Exporter::start(c);
    let mut idle = Vec::new();
    for _ in 0..100 {
        if let Ok(s) = tokio::net::TcpStream::connect(&exporter.addr).await {
            idle.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("http://{}/metrics", exporter.addr);
    let body = client
        .get(&url)
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("anthropic_work_exporter_build_info"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await; // a fresh render
    let body = client.get(&url).send().await.unwrap().text().await.unwrap();
    let shed: f64 = body
        .lines()
        .find_map(|l| {
            l.strip_prefix("anthropic_work_exporter_http_shed_total{reason=\"connection_limit\"} ")
        })
        .unwrap()
        .parse()
        .unwrap();
    assert!(shed >= 1.0, "{body}");
}
