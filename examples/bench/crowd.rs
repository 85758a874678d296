//! `--crowd`: is a new scrape of `/metrics` answered promptly while 300
//! keep-alive connections ask `/-/healthy` every 8 s and 2,000 more sit idle,
//! or while 600 slow-loris clients send request heads a byte a second (the
//! probes of issue 23)? Side by side in one run: this build with the idle
//! and busy crowd spread over five client addresses (no limit reached), the
//! same crowd from one address (past the per-client cap of 1,024, so the
//! idlest connections are shed), the slow-loris crowd, and, with
//! `--crowd-baseline BIN`, another build (main before the change) with the
//! spread and the slow-loris crowds.
//!
//! The crowd is kept at full size: a client whose connection is closed
//! (shed, or timed out) opens a new one, as the probe's slowloris with
//! reconnects did. Each scrape is a new connection, as a Prometheus that
//! just restarted or a second Prometheus would open. Reported: each
//! scrape's latency (median and worst), the crowd's open connections before
//! and after, what the exporter counted as shed, its open connections, peak
//! memory and file descriptors.

use crate::procs::{self, ExporterRun, Sim};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

const IDLE: usize = 2_000;
const BUSY: usize = 300;
const BUSY_EVERY: Duration = Duration::from_secs(8);
const SLOWLORIS: usize = 600;
const SCRAPES: usize = 5;
/// A scrape not answered in this long is recorded at this value (Prometheus gives up at 10 s).
const SCRAPE_GIVE_UP: Duration = Duration::from_secs(40);

#[derive(Debug, serde::Serialize)]
pub struct Row {
    pub build: String,
    pub clients: String,
    /// Idle connections open when the scrapes began.
    pub idle_open_before: usize,
    /// `/-/healthy` answers the busy clients got while the scrapes ran.
    pub busy_answers: usize,
    pub scrape_seconds: Vec<f64>,
    pub idle_open_at_end: usize,
    pub exporter_connections: String,
    pub shed: String,
    pub peak_rss_mib: f64,
    pub fds: usize,
}

fn source(spread: bool, i: usize, busy: bool) -> IpAddr {
    let last = match (spread, busy) {
        (false, _) => 1,
        (true, true) => 6,
        (true, false) => 2 + (i / 500) as u8,
    };
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn connect_from(src: IpAddr, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(src, 0)).ok()?;
    tokio::time::timeout(Duration::from_secs(3), socket.connect(to))
        .await
        .ok()?
        .ok()
}

/// One idle client: holds a connection open saying nothing, and opens a
/// new one whenever the exporter closes it (the crowd stays at full size).
async fn idle_client(src: IpAddr, to: SocketAddr, open: Arc<AtomicUsize>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let Some(mut s) = connect_from(src, to).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        open.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 64];
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = s.read(&mut buf) => {}
        }
        open.fetch_sub(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One slow-loris client: a request head sent a byte a second, never
/// finished; a new connection when the exporter closes this one.
async fn slow_client(src: IpAddr, to: SocketAddr, open: Arc<AtomicUsize>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let Some(mut s) = connect_from(src, to).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        open.fetch_add(1, Ordering::Relaxed);
        let mut ok = s
            .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
            .await
            .is_ok();
        while ok && !stop.is_cancelled() {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => ok = s.write_all(b"a").await.is_ok(),
            }
        }
        open.fetch_sub(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One answer to `GET /-/healthy` on `s`; false when the connection ended.
async fn healthy(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let (mut got, mut buf) = (Vec::new(), [0u8; 1024]);
    while !String::from_utf8_lossy(&got).contains("Healthy") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// One keep-alive client asking `/-/healthy` every 8 s, reconnecting when closed; counts answers.
async fn busy_client(
    src: IpAddr,
    to: SocketAddr,
    answers: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let Some(mut s) = connect_from(src, to).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        loop {
            let ok = tokio::select! {
                _ = stop.cancelled() => return,
                ok = healthy(&mut s) => ok,
            };
            if !ok {
                break;
            }
            answers.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(BUSY_EVERY) => {}
            }
        }
    }
}

/// `/metrics` on a new connection each time: seconds each took.
async fn scrapes(base: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..SCRAPES {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(SCRAPE_GIVE_UP)
            .build()
            .expect("a client");
        let t = Instant::now();
        let ok = match client.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.bytes().await.is_ok(),
            Err(_) => false,
        };
        out.push(if ok {
            t.elapsed().as_secs_f64()
        } else {
            SCRAPE_GIVE_UP.as_secs_f64()
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    out
}

fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Who crowds the exporter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Crowd {
    /// 2,000 idle and 300 busy, from five addresses.
    Spread,
    /// The same from one address.
    OneAddress,
    /// 600 slow-loris clients, each sending a request head a byte a second.
    Slowloris,
}

async fn one(dir: &Path, sim: &Sim, build: &str, program: Option<&Path>, crowd: Crowd) -> Row {
    let run = ExporterRun {
        interval: "30s",
        budget_rps: 5.0,
        timeout: "10s",
        extra: &[],
    };
    let mut exporter = procs::start_exporter_at(program, dir, &sim.creds, &run);
    let probe = reqwest::Client::new();
    crate::probe::wait_healthy(&probe, &exporter.base).await;
    let to: SocketAddr = exporter
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let stop = CancellationToken::new();
    let (idle_open, answers) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    let spread = crowd == Crowd::Spread;
    if crowd == Crowd::Slowloris {
        for _ in 0..SLOWLORIS {
            let (open, stop) = (idle_open.clone(), stop.clone());
            let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7));
            tasks.push(tokio::spawn(slow_client(src, to, open, stop)));
        }
    } else {
        for i in 0..IDLE {
            let (open, stop) = (idle_open.clone(), stop.clone());
            tasks.push(tokio::spawn(idle_client(
                source(spread, i, false),
                to,
                open,
                stop,
            )));
        }
        for i in 0..BUSY {
            let (answers, stop) = (answers.clone(), stop.clone());
            tasks.push(tokio::spawn(busy_client(
                source(spread, i, true),
                to,
                answers,
                stop,
            )));
        }
    }
    // Let the crowd form (connects past a full listen queue retry for seconds).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_open_before = idle_open.load(Ordering::Relaxed);
    let answers_before = answers.load(Ordering::Relaxed);
    let scrape_seconds = scrapes(&exporter.base).await;
    let idle_open_at_end = idle_open.load(Ordering::Relaxed);
    let busy_answers = answers.load(Ordering::Relaxed) - answers_before;
    let own = crate::probe::scrape(&probe, &exporter.base)
        .await
        .unwrap_or_default();
    let served = own.contains("anthropic_work_exporter_http_connections ");
    let (exporter_connections, shed) = if served {
        (
            format!(
                "{}",
                sample(&own, "anthropic_work_exporter_http_connections ")
            ),
            format!(
                "{} (client_limit {}, connection_limit {})",
                sample(&own, "anthropic_work_exporter_http_shed_total"),
                sample(
                    &own,
                    "anthropic_work_exporter_http_shed_total{reason=\"client_limit\"}"
                ),
                sample(
                    &own,
                    "anthropic_work_exporter_http_shed_total{reason=\"connection_limit\"}"
                )
            ),
        )
    } else {
        ("not reported".into(), "not reported".into())
    };
    let fds =
        std::fs::read_dir(format!("/proc/{}/fd", exporter.child.pid)).map_or(0, |d| d.count());
    let (peak_rss_mib, _) = exporter.child.memory_mib();
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    assert!(
        exporter.child.alive(),
        "the exporter died; see {}",
        dir.display()
    );
    Row {
        build: build.into(),
        clients: match crowd {
            Crowd::Spread => "2,000 idle + 300 busy, 5 addresses",
            Crowd::OneAddress => "2,000 idle + 300 busy, 1 address",
            Crowd::Slowloris => "600 slow-loris",
        }
        .into(),
        idle_open_before,
        busy_answers,
        scrape_seconds,
        idle_open_at_end,
        exporter_connections,
        shed,
        peak_rss_mib,
        fds,
    }
}

/// Run the cells; the Markdown table, also written to `crowd.md` and `crowd.json`.
pub fn run(out: &Path, rt: &tokio::runtime::Runtime, baseline: Option<&Path>) -> String {
    let dir = out.join("crowd");
    std::fs::create_dir_all(&dir).expect("create the directory");
    let sim = procs::start_sim(&dir, 10, 100);
    let mut rows = Vec::new();
    let mut cells: Vec<(&str, Option<&Path>, Crowd)> = vec![
        ("this build", None, Crowd::Spread),
        ("this build", None, Crowd::OneAddress),
        ("this build", None, Crowd::Slowloris),
    ];
    if let Some(b) = baseline {
        cells.push(("baseline", Some(b), Crowd::Spread));
        cells.push(("baseline", Some(b), Crowd::Slowloris));
    }
    for (build, program, crowd) in cells {
        eprintln!("bench: crowd, {build}, {crowd:?} ...");
        rows.push(rt.block_on(one(&dir, &sim, build, program, crowd)));
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut md = String::from("| build | crowd | crowd open at start | healthy answers meanwhile | new scrape: median | worst | crowd open at end | exporter's open connections | shed | peak RSS | fds |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &rows {
        let mut s = r.scrape_seconds.clone();
        s.sort_by(f64::total_cmp);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} s | {:.3} s | {} | {} | {} | {:.0} MiB | {} |\n",
            r.build,
            r.clients,
            r.idle_open_before,
            r.busy_answers,
            s[s.len() / 2],
            s[s.len() - 1],
            r.idle_open_at_end,
            r.exporter_connections,
            r.shed,
            r.peak_rss_mib,
            r.fds
        ));
    }
    save(&dir, "crowd", &md, &rows);
    md
}

/// Write a run's table as `NAME.md` and its rows as `NAME.json` into `dir`.
pub fn save<T: serde::Serialize>(dir: &Path, name: &str, md: &str, rows: &[T]) {
    std::fs::write(dir.join(format!("{name}.md")), md).expect("write the table");
    let json = serde_json::to_string_pretty(rows).expect("json");
    std::fs::write(dir.join(format!("{name}.json")), json).expect("write the rows");
}
