//! The idle deadline, on an in-memory pipe with paused time; the health and
//! page budgets (503 past them, scrapes unaffected).

use super::*;
use crate::metrics::{ExporterMetrics, Settings};
use tokio::io::AsyncWriteExt;
use work_api::clock::ManualClock;

fn site() -> Arc<Site> {
    let metrics = Arc::new(
        ExporterMetrics::new(&Settings {
            budget_rps: 5.0,
            cadences: crate::config::Cadences::every(Duration::from_secs(30)),
            lease_ttl: Duration::from_secs(90),
            discovery: false,
        })
        .unwrap(),
    );
    let store = crate::snapshot::Store::default();
    let clock: work_api::clock::SharedClock = Arc::new(ManualClock::new(0));
    let client = work_api::ApiClient::new(
        url::Url::parse("http://127.0.0.1:1").unwrap(),
        None,
        1,
        1 << 20,
        Arc::new(work_api::RequestBudget::new(1.0)),
        metrics.clone(),
    )
    .unwrap();
    let settings = crate::config::RefreshSettings {
        cadences: crate::config::Cadences::every(Duration::from_secs(30)),
        timeout: Duration::from_secs(1),
        stale_after: crate::config::StaleAfter::fixed(Duration::from_secs(90)),
        lease_ttl: Duration::from_secs(90),
        page_size: 1000,
        max_pages: 1,
    };
    let refresher = crate::refresh::Refresher::new(
        Arc::new(client),
        store.clone(),
        settings,
        None,
        crate::config::CredentialKind::EnvironmentKey,
        clock.clone(),
        metrics.clone(),
    );
    Arc::new(Site {
        store,
        metrics,
        clock,
        telemetry_path: "/metrics".into(),
        lease_ttl: Duration::from_secs(90),
        stale_after: crate::config::StaleAfter::fixed(Duration::from_secs(90)),
        external_url: "http://x".into(),
        refresher: Arc::new(refresher),
        probe_only: false,
    })
}

fn connection(idle: Duration) -> (Connection, hyper_util::server::graceful::GracefulShutdown) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let conn = Connection {
        guard: Arc::new(Guard::new(site(), None)),
        limits: Limits {
            idle_timeout: idle,
            ..Limits::default()
        },
        watcher: graceful.watcher(),
    };
    (conn, graceful)
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_its_response_is_dropped_after_the_idle_timeout() {
    // A pipe of 64 bytes: the response fills it, and the client never reads.
    let (mut client, server) = tokio::io::duplex(64);
    let (conn, _graceful) = connection(Duration::from_secs(30));
    client
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    let (ticket, _) = Table::new(1, 1).admit([127, 0, 0, 1].into());
    tokio::time::timeout(Duration::from_secs(300), conn.serve(server, &ticket))
        .await
        .expect("the stalled connection was closed");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_keeps_moving_is_not_idle() {
    let (client, server) = tokio::io::duplex(64);
    let (conn, _graceful) = connection(Duration::from_secs(30));
    let (mut rd, mut wr) = tokio::io::split(client);
    let (ticket, _) = Table::new(1, 1).admit([127, 0, 0, 1].into());
    let served = tokio::spawn(async move { conn.serve(server, &ticket).await });
    // A request every 5 s (within the header deadline) for 40 s, longer
    // in all than the idle timeout; each answer read in full.
    for _ in 0..8 {
        wr.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains("Healthy\n") {
            let n = tokio::io::AsyncReadExt::read(&mut rd, &mut buf)
                .await
                .unwrap();
            assert!(n > 0, "closed while in use");
            got.extend_from_slice(&buf[..n]);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(!served.is_finished());
}

/// The answer to one request sent on a fresh connection of `guard`.
async fn answer(guard: Arc<Guard>, request: &[u8]) -> String {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let conn = Connection {
        guard,
        limits: Limits::default(),
        watcher: graceful.watcher(),
    };
    let (ticket, _) = Table::new(1, 1).admit([127, 0, 0, 1].into());
    tokio::spawn(async move { conn.serve(server, &ticket).await });
    client.write_all(request).await.unwrap();
    let mut got = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut client, &mut got)
        .await
        .unwrap();
    String::from_utf8_lossy(&got[..n]).into_owned()
}

#[tokio::test]
async fn past_their_budgets_health_and_page_requests_get_503_and_scrapes_do_not() {
    let guard = Arc::new(Guard::new(site(), None));
    let _health = guard
        .health
        .try_acquire_many(super::super::HEALTH_BUDGET as u32)
        .unwrap();
    let _pages = guard
        .pages
        .try_acquire_many(super::super::PAGES_BUDGET as u32)
        .unwrap();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    for path in ["/-/healthy", "/", "/environments/env_x"] {
        let a = answer(guard.clone(), &get(path)).await;
        assert!(a.starts_with("HTTP/1.1 503"), "{path}: {a}");
        assert!(a.to_ascii_lowercase().contains("retry-after: 1"), "{a}");
    }
    let a = answer(guard.clone(), &get("/metrics")).await;
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    let own = guard.site.metrics.render_own();
    assert!(
        own.contains("anthropic_work_exporter_http_shed_total{reason=\"health_budget\"} 1"),
        "{own}"
    );
    assert!(
        own.contains("anthropic_work_exporter_http_shed_total{reason=\"pages_budget\"} 2"),
        "{own}"
    );
    assert!(
        own.contains(
            "anthropic_work_exporter_http_requests_total{code=\"503\",handler=\"healthy\"} 1"
        ),
        "{own}"
    );
}
