//! `/metrics` under load and abuse: many scrapers at once while the upstream
//! hangs are all answered quickly; a slow-loris client is cut off without
//! holding up anyone; connections beyond the cap wait, then are served; an
//! idle keep-alive connection is closed. Limits are shortened for the tests.
//!
//! Each test asserts an order of events (answered before the hang ended,
//! served while the slow client still held on, closed by the idle timeout
//! before the header timeout) and lower bounds, which a timer never beats;
//! upper bounds are only the next event's time, so a busy two-core CI machine
//! does not fail them. Latencies are measured by the benchmarks (BENCHMARKS.md).

use crate::pair::{At, Fault, Options, Pair};
use crate::upstream::Reply;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use work_exporter::server::{Limits, ServeOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_scrapers_are_answered_while_the_upstream_hangs() {
    let pair = std::sync::Arc::new(Pair::start(Options::default()).await);
    assert_eq!(
        pair.refresh_both(Duration::from_secs(2)).await,
        (true, true)
    );
    pair.set_fault(Some(
        Fault::always("hang", At::Stats, Some("timeout"), Reply::Hang)
            .timeout(Duration::from_secs(20)),
    ));
    let refreshing = {
        let pair = pair.clone();
        tokio::spawn(async move { pair.refresh_both(Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 200 connections first (connecting is the kernel's business, and on
    // some machines a burst of connects waits a SYN retransmission), then
    // 200 requests at once, each timed from its first byte to its last.
    let addr = pair.url.trim_start_matches("http://").to_string();
    let conns = (0..200).map(|_| {
        let addr = addr.clone();
        tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() })
    });
    let conns = futures_util::future::join_all(conns).await;
    let started = Instant::now();
    let scrapes = conns.into_iter().map(|c| {
        let mut s = c.unwrap();
        tokio::spawn(async move {
            let t = Instant::now();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut body = Vec::new();
            s.read_to_end(&mut body).await.unwrap();
            let text = String::from_utf8_lossy(&body);
            (
                t.elapsed(),
                text.starts_with("HTTP/1.1 200")
                    && text.contains("anthropic_work_up{environment_id=\"env_bad\"} 1"),
            )
        })
    });
    let results = futures_util::future::join_all(scrapes).await;
    let all = started.elapsed();
    assert!(
        !refreshing.is_finished(),
        "the upstream was hanging the whole time"
    );
    let slowest = results.iter().map(|r| r.as_ref().unwrap().0).max().unwrap();
    assert!(
        results.iter().all(|r| r.as_ref().unwrap().1),
        "every scrape got the last good numbers"
    );
    let mut lat: Vec<Duration> = results.iter().map(|r| r.as_ref().unwrap().0).collect();
    lat.sort();
    eprintln!("200 scrapes while the upstream hangs: median {:?}, 90th {:?}, 99th {:?}, slowest {slowest:?}, all {all:?}", lat[100], lat[180], lat[198]);
    // Answered before the 20 s hang ended (checked above), and well before it:
    // a scrape that waited for the refresh would take the whole 20 s.
    assert!(
        slowest < Duration::from_secs(10),
        "slowest scrape {slowest:?} (all {all:?})"
    );
    refreshing.abort();
}

/// Bytes of a request head that never ends.
const ENDLESS_HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Send a request head one byte every 50 ms until the server hangs up; how long that took.
async fn slow_loris(addr: std::net::SocketAddr) -> Duration {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    let mut bytes = ENDLESS_HEAD.iter().cycle();
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return t.elapsed(),
                Ok(_) => {} // a 408 or the like: keep going until it closes
            },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if s.write_all(&[*bytes.next().unwrap()]).await.is_err() {
                    return t.elapsed();
                }
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the slow client was never cut off"
        );
    }
}

#[tokio::test]
async fn a_slow_loris_client_is_cut_off_and_scrapes_go_on_meanwhile() {
    let pair = Pair::start(Options::default()).await;
    let header_read_timeout = Duration::from_secs(2);
    let limits = Limits {
        header_read_timeout,
        ..Limits::default()
    };
    let addr = pair
        .serve_with(ServeOptions {
            limits,
            ..Default::default()
        })
        .await;
    let loris = tokio::spawn(slow_loris(addr));
    let c = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(
            c.get(format!("http://{addr}/metrics"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Served while the slow client still held its connection: it held up nobody.
    assert!(
        !loris.is_finished(),
        "the scrapes were served before the slow client was cut off"
    );
    let cut_after = loris.await.unwrap();
    assert!(
        cut_after >= header_read_timeout - Duration::from_millis(100),
        "cut after {cut_after:?}, not before the header timeout"
    );
}

#[tokio::test]
async fn past_the_cap_the_idlest_connection_is_closed_and_the_scrape_served_at_once() {
    let pair = Pair::start(Options::default()).await;
    let limits = Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let addr = pair
        .serve_with(ServeOptions {
            limits,
            ..Default::default()
        })
        .await;
    // Two clients take both places and say nothing.
    let mut a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let resp = c
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("served");
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    let waited = t.elapsed();
    // Not after the 5 s header timeout freed a place: at once.
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    // The idlest, the first, was closed to make room, and counted.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(1), a.read(&mut buf))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "the idlest connection was shed");
    let shed = c
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shed.contains("anthropic_work_exporter_http_shed_total{reason=\"connection_limit\"} 2")
            || shed
                .contains("anthropic_work_exporter_http_shed_total{reason=\"connection_limit\"} 1"),
        "{shed}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let pair = Pair::start(Options::default()).await;
    let limits = Limits {
        idle_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let addr = pair
        .serve_with(ServeOptions {
            limits,
            ..Default::default()
        })
        .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("Healthy") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let t = Instant::now();
    // Closed by the 1 s idle timeout: after it, and before the 5 s header timeout could.
    let n = tokio::time::timeout(Duration::from_secs(4), s.read(&mut buf))
        .await
        .expect("closed before the header timeout")
        .unwrap_or(0);
    assert_eq!(n, 0, "the server hung up");
    let idle = t.elapsed();
    assert!(idle >= Duration::from_millis(900), "{idle:?}");
}

#[test]
fn the_default_limits_are_the_documented_ones() {
    let l = Limits::default();
    assert_eq!(l.max_connections, work_exporter::server::MAX_CONNECTIONS);
    assert_eq!(
        l.header_read_timeout,
        work_exporter::server::HEADER_READ_TIMEOUT
    );
    assert_eq!(l.max_header_bytes, work_exporter::server::MAX_HEADER_BYTES);
    assert_eq!(l.idle_timeout, work_exporter::server::IDLE_TIMEOUT);
    assert_eq!(
        l.tls_handshake_timeout,
        work_exporter::server::TLS_HANDSHAKE_TIMEOUT
    );
}

#[tokio::test]
async fn a_request_head_over_the_size_limit_is_refused_and_the_server_goes_on() {
    let pair = Pair::start(Options::default()).await;
    let addr = pair.serve_with(ServeOptions::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = s.write_all(huge.as_bytes()).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut got))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    assert_eq!(
        reqwest::get(format!("http://{addr}/-/healthy"))
            .await
            .unwrap()
            .status(),
        200
    );
}
