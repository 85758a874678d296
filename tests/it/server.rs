//! The whole exporter over real HTTP on loopback: `/metrics` (plain and gzip),
//! readiness, the drill-down page, and graceful shutdown.

use crate::rig::{environment, API_KEY};
use crate::upstream::{page, work, Reply, Upstream, STATS};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_api::clock::SystemClock;
use work_exporter::app::run_exporter;

async fn start(upstream: &Upstream) -> (String, CancellationToken, tokio::task::JoinHandle<()>) {
    let cfg = crate::exporter::given(
        &[
            "--refresh.interval",
            "1s",
            "--api.base-url",
            &upstream.base_url,
        ],
        API_KEY,
        vec![environment("env_mock")],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let token = CancellationToken::new();
    let t = token.clone();
    let task = tokio::spawn(async move {
        run_exporter(cfg, listener, Arc::new(SystemClock), t)
            .await
            .unwrap();
    });
    (url, token, task)
}

fn healthy_upstream() -> impl Fn(&crate::upstream::Seen, usize) -> Reply + Send + Sync + 'static {
    |seen, _| {
        if seen.path.ends_with("/stats") {
            Reply::json(200, STATS)
        } else {
            Reply::json(
                200,
                page(&[work("w1", "queued", "2026-01-01T00:00:00Z", None)], None),
            )
        }
    }
}

async fn wait_ready(url: &str) {
    for _ in 0..100 {
        if reqwest::get(format!("{url}/-/ready"))
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("exporter never became ready");
}

#[tokio::test]
async fn metrics_pages_and_health_are_served_and_shutdown_is_graceful() {
    let up = Upstream::start(healthy_upstream()).await;
    let (url, token, task) = start(&up).await;
    assert_eq!(
        reqwest::get(format!("{url}/-/healthy"))
            .await
            .unwrap()
            .status(),
        200
    );
    wait_ready(&url).await;

    let resp = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(r#"anthropic_work_up{environment_id="env_mock",team="queues"} 1"#),
        "{text}"
    );
    assert!(text.contains("anthropic_work_exporter_build_info{"));
    assert!(text.contains("process_resident_memory_bytes"));

    // reqwest's own decoding off (the workspace enables it for the API client), to see the bytes.
    let gz = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(format!("{url}/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let bytes = gz.bytes().await.unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain)
        .unwrap();
    assert!(plain.contains("anthropic_work_queue_depth{"));

    let landing = reqwest::get(format!("{url}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(landing.contains("/environments/env_mock"));
    let drill = crate::rig::drilldown_json(&url, "env_mock").await;
    assert_eq!(drill["environment_id"], "env_mock");
    assert_eq!(drill["oldest_queued"][0]["work_id"], "w1");
    assert_eq!(drill["oldest_queued"][0]["session_id"], "session_w1");
    assert_eq!(
        reqwest::get(format!("{url}/environments/env_nope"))
            .await
            .unwrap()
            .status(),
        404
    );

    token.cancel();
    tokio::time::timeout(Duration::from_secs(8), task)
        .await
        .expect("shut down within the grace")
        .unwrap();
    assert!(
        reqwest::get(format!("{url}/-/healthy")).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn each_scrape_gets_the_format_its_accept_header_prefers_plain_or_gzip() {
    let up = Upstream::start(healthy_upstream()).await;
    let (url, token, task) = start(&up).await;
    wait_ready(&url).await;
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let get = |accept: &'static str, gzip: bool| {
        let mut req = client
            .get(format!("{url}/metrics"))
            .header("accept", accept);
        if gzip {
            req = req.header("accept-encoding", "gzip");
        }
        async move {
            let resp = req.send().await.unwrap();
            let h = resp.headers().clone();
            let body = resp.bytes().await.unwrap().to_vec();
            assert_eq!(h.get("content-encoding").is_some(), gzip, "{accept}");
            let body = if gzip {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
                    .unwrap();
                out
            } else {
                body
            };
            (h["content-type"].to_str().unwrap().to_string(), body)
        }
    };
    const PROTOBUF: &str = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    for gzip in [false, true] {
        // What Prometheus 2.42 sends with native histograms on, and without.
        let (ct, body) = get("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2", gzip).await;
        assert_eq!(ct, PROTOBUF);
        assert!(body.windows(17).any(|w| w == b"anthropic_work_up"));
        let (ct, body) = get("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", gzip).await;
        assert_eq!(
            ct,
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert!(String::from_utf8(body).unwrap().ends_with("# EOF\n"));
        let (ct, body) = get("text/plain;q=0.9,application/openmetrics-text;q=0.1", gzip).await;
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
        assert!(!String::from_utf8(body).unwrap().contains("# EOF"));
    }
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(8), task).await;
}

#[tokio::test]
async fn metrics_keep_answering_while_the_upstream_hangs() {
    let up = Upstream::start(|_, _| Reply::Hang).await;
    let (url, token, task) = start(&up).await;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let text = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("anthropic_work_exporter_build_info"));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a scrape never waits for the API"
        );
    }
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("shutdown with requests in flight")
        .unwrap();
}

#[test]
fn sigterm_stops_the_binary_with_status_zero() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(Upstream::start(healthy_upstream()));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.base-url",
            &up.base_url,
        ])
        .env("ANTHROPIC_ENVIRONMENT_ID", "env_mock")
        .env("ANTHROPIC_ENVIRONMENT_KEY", "k")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it serves (it logs "serving metrics"), then ask it to stop.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0
        && !line.contains("serving metrics")
    {
        line.clear();
    }
    assert!(line.contains("serving metrics"), "{line}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
