//! `--deployed CELLS`: the exporter as a user runs it, beside today's loopback
//! cell, measured in one run of one build. The simulator is served as a
//! remote API (TLS with a private CA, a round trip and a bandwidth cap per
//! connection: `simulate --tls-* --round-trip --bandwidth-mbps`); the exporter
//! runs at a 30 s interval with and without compression; the Python peer
//! (`peer.py`: the official SDK and prometheus_client) reads the same
//! simulator flat out. A meter, a TCP relay in this process between each
//! client and the simulator, counts the bytes the client receives (TLS
//! records included), so every client is counted the same way.

use crate::meter::{meter, pki, Meter};
use crate::probe::{self, counters};
use crate::procs::{self, Child, ExporterRun};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use work_sim::Credentials;

/// A network between a client and the simulator.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    pub name: &'static str,
    pub tls: bool,
    pub round_trip_ms: u64,
    pub bandwidth_mbps: u64,
}

/// Today's cells: plain HTTP on loopback.
pub const LOOPBACK: Network = Network {
    name: "loopback, plain HTTP",
    tls: false,
    round_trip_ms: 0,
    bandwidth_mbps: 0,
};
/// As deployed: TLS, 40 ms round trip, 100 Mbit/s per connection.
pub const DEPLOYED: Network = Network {
    name: "TLS, 40 ms round trip, 100 Mbit/s per connection",
    tls: true,
    round_trip_ms: 40,
    bandwidth_mbps: 100,
};

/// How long each run lasts.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The exporter's `--refresh.interval`, seconds.
    pub interval: u64,
    /// The measurement window of each run, seconds.
    pub window: f64,
}

/// One client in one network: what it cost over the window.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub network: String,
    pub client: String,
    pub compression: bool,
    pub window_s: f64,
    pub refreshes: f64,
    /// Share of one core over the window (the exporter at its interval, the peer flat out).
    pub core_share: f64,
    pub cpu_per_refresh_ms: f64,
    /// Bytes received from the API per cycle (every environment refreshed once).
    pub bytes_per_cycle: f64,
    pub refresh_wall_ms: f64,
    pub peak_rss_mib: f64,
    pub requests_per_cycle: Option<f64>,
    pub failures: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployedCell {
    pub environments: usize,
    pub items_per_environment: usize,
    pub runs: Vec<Run>,
}

/// The client name of the runs of `--crowd-baseline`'s binary.
const BASELINE: &str = "exporter, baseline build";

/// Every run of one cell: per network, the exporter without and with
/// compression (each followed by the baseline build's run, if given), then
/// the peer (which always asks for it, as httpx does).
pub async fn run_cell(
    dir: &Path,
    (environments, items): (usize, usize),
    timing: Timing,
    python: &Path,
    baseline: Option<&Path>,
) -> DeployedCell {
    let (ca, cert, key) = pki(dir);
    let mut runs = Vec::new();
    for net in [LOOPBACK, DEPLOYED] {
        let mut flags = vec![
            "--round-trip".to_string(),
            format!("{}ms", net.round_trip_ms),
            "--bandwidth-mbps".to_string(),
            net.bandwidth_mbps.to_string(),
        ];
        if net.tls {
            flags.extend(
                ["--tls-cert-file", path(&cert), "--tls-key-file", path(&key)].map(String::from),
            );
        }
        let sim = procs::start_sim_flags(dir, environments, items, 0, 0.0, &flags);
        let target = sim
            .creds
            .base_url
            .rsplit("//")
            .next()
            .unwrap_or("")
            .parse()
            .expect("sim address");
        let m = meter(target).await;
        let scheme = if net.tls { "https" } else { "http" };
        let mut creds = sim.creds.clone();
        creds.base_url = format!("{scheme}://{}", m.addr);
        for compression in [false, true] {
            let mut extra = vec![format!("--api.compression={compression}")];
            if net.tls {
                extra.extend(["--api.ca-file".to_string(), path(&ca).to_string()]);
            }
            let builds = [(None, "exporter")]
                .into_iter()
                .chain(baseline.map(|b| (Some(b), BASELINE)));
            for (program, client) in builds {
                eprintln!(
                    "bench: {environments} x {items}, {}, {client}, compression {compression}",
                    net.name
                );
                let how = ExporterHow {
                    program,
                    client,
                    compression,
                    extra: &extra,
                };
                runs.push(exporter_run(dir, &creds, &m, net, &how, timing).await);
                eprintln!("bench: {:?}", runs.last());
            }
        }
        eprintln!("bench: {environments} x {items}, {}, Python peer", net.name);
        let ca = net.tls.then_some(ca.as_path());
        runs.push(peer_run(dir, &creds, &m, net, ca, timing, python).await);
        eprintln!("bench: {:?}", runs.last());
        drop(sim);
    }
    DeployedCell {
        environments,
        items_per_environment: items,
        runs,
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Which exporter a run starts, and how.
struct ExporterHow<'a> {
    /// Another build's binary, or this one's.
    program: Option<&'a Path>,
    client: &'static str,
    compression: bool,
    extra: &'a [String],
}

async fn exporter_run(
    dir: &Path,
    creds: &Credentials,
    m: &Meter,
    net: Network,
    how: &ExporterHow<'_>,
    timing: Timing,
) -> Run {
    let environments = creds.environments.len();
    let extra: Vec<&str> = how.extra.iter().map(String::as_str).collect();
    let interval = format!("{}s", timing.interval);
    let run = ExporterRun {
        interval: &interval,
        budget_rps: 1_000_000.0,
        timeout: "25s",
        extra: &extra,
    };
    let started = Instant::now();
    let mut exp = procs::start_exporter_at(how.program, dir, creds, &run);
    let client = reqwest::Client::new();
    probe::wait_healthy(&client, &exp.base).await;
    let read = |base: String| async move {
        counters(
            &probe::scrape(&reqwest::Client::new(), &base)
                .await
                .unwrap_or_default(),
        )
    };
    // The first cycle packs every environment into the start window; from the
    // second on, refreshes spread over the interval: measure from there.
    loop {
        assert!(
            exp.child.alive(),
            "the exporter exited; see {}",
            dir.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no first cycle in 10 min"
        );
        let c = read(exp.base.clone()).await;
        if c.up >= environments && c.refreshes >= environments as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settle = Duration::from_secs(timing.interval + 2).saturating_sub(started.elapsed());
    tokio::time::sleep(settle).await;
    let (c0, cpu0, bytes0, t0) = (
        read(exp.base.clone()).await,
        exp.child.cpu_seconds(),
        m.received.load(Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs_f64(timing.window)).await;
    let (cpu1, bytes1, wall) = (
        exp.child.cpu_seconds(),
        m.received.load(Relaxed),
        t0.elapsed().as_secs_f64(),
    );
    let c1 = read(exp.base.clone()).await;
    let refreshes = c1.refreshes - c0.refreshes;
    let cycles = refreshes / environments as f64;
    let cpu = cpu1 - cpu0;
    Run {
        network: net.name.into(),
        client: how.client.into(),
        compression: how.compression,
        window_s: wall,
        refreshes,
        core_share: cpu / wall,
        cpu_per_refresh_ms: cpu / refreshes * 1e3,
        bytes_per_cycle: (bytes1 - bytes0) as f64 / cycles,
        refresh_wall_ms: (c1.refresh_seconds - c0.refresh_seconds) / refreshes * 1e3,
        peak_rss_mib: exp.child.memory_mib().0,
        requests_per_cycle: Some((c1.requests - c0.requests) / cycles),
        failures: c1.failures,
    }
}

/// `peer_refresh_seconds` (count, sum) and failures from the peer's metrics.
async fn peer_counters(port: u16) -> Option<(f64, f64, f64)> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let one = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
    };
    Some((
        one("peer_refresh_seconds_count")?,
        one("peer_refresh_seconds_sum")?,
        one("peer_refresh_failures_total").unwrap_or(0.0),
    ))
}

async fn peer_run(
    dir: &Path,
    creds: &Credentials,
    m: &Meter,
    net: Network,
    ca: Option<&Path>,
    timing: Timing,
    python: &Path,
) -> Run {
    let environments = creds.environments.len();
    let creds_path = dir.join("peer-credentials.json");
    std::fs::write(&creds_path, serde_json::to_vec(creds).expect("json"))
        .expect("write peer credentials");
    let port = procs::free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench/peer.py");
    let args = [
        path(&script),
        path(&creds_path),
        &port.to_string(),
        "4",
        &creds.base_url,
    ]
    .map(String::from);
    // httpx2 trusts SSL_CERT_FILE (httpcore2/_ssl.py); a proxy in the environment would skew the bytes.
    let mut envs = vec![("NO_PROXY".to_string(), "*".to_string())];
    if let Some(ca) = ca {
        envs.push(("SSL_CERT_FILE".to_string(), path(ca).to_string()));
    }
    let log = dir.join(format!(
        "peer-{}.log",
        if net.tls { "tls" } else { "loopback" }
    ));
    let mut peer = Child::spawn_program(python, &args, &envs, &log);
    // Warm up: imports, the pool's connections, a few refreshes.
    let warm = Instant::now();
    loop {
        assert!(
            peer.alive(),
            "the Python peer exited; see {}",
            log.display()
        );
        if let Some((count, _, failures)) = peer_counters(port).await {
            assert!(
                failures == 0.0,
                "the Python peer fails; see {}",
                log.display()
            );
            if count >= 8.0 && warm.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        assert!(
            warm.elapsed() < Duration::from_secs(300),
            "the Python peer made no progress; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (c0, cpu0, bytes0, t0) = (
        peer_counters(port).await.expect("peer metrics"),
        peer.cpu_seconds(),
        m.received.load(Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs_f64(timing.window)).await;
    let (cpu1, bytes1, wall) = (
        peer.cpu_seconds(),
        m.received.load(Relaxed),
        t0.elapsed().as_secs_f64(),
    );
    let c1 = peer_counters(port).await.expect("peer metrics");
    let refreshes = c1.0 - c0.0;
    let cpu = cpu1 - cpu0;
    Run {
        network: net.name.into(),
        client: "Python peer (SDK + prometheus_client)".into(),
        compression: true,
        window_s: wall,
        refreshes,
        core_share: cpu / wall,
        cpu_per_refresh_ms: cpu / refreshes * 1e3,
        bytes_per_cycle: (bytes1 - bytes0) as f64 / refreshes * environments as f64,
        refresh_wall_ms: (c1.1 - c0.1) / refreshes * 1e3,
        peak_rss_mib: peer.memory_mib().0,
        requests_per_cycle: None,
        failures: c1.2,
    }
}

/// The SDK version the peer runs.
pub fn sdk_version(python: &Path) -> String {
    std::process::Command::new(python)
        .args(["-c", "import anthropic, prometheus_client; print(anthropic.__version__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| panic!("{} cannot import anthropic and prometheus_client: give --python a venv's python (tests/requirements.txt)", python.display()))
}

/// The cells as a markdown table, with the CPU per refresh of the peer (and
/// of the baseline build) over this build's with compression in the same network.
pub fn markdown(cells: &[DeployedCell]) -> String {
    let mut out = String::from(
        "| environments × items | network | client | compression | CPU share of one core | CPU per environment refresh | ÷ exporter with gzip | bytes received per cycle | refresh wall per environment | peak RSS | requests/cycle | failures |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for cell in cells {
        for r in &cell.runs {
            let exporter = cell
                .runs
                .iter()
                .find(|e| e.network == r.network && e.client == "exporter" && e.compression);
            let ratio = match exporter {
                Some(e) if r.client == BASELINE && r.compression => {
                    format!("{:.2}×", r.cpu_per_refresh_ms / e.cpu_per_refresh_ms)
                }
                Some(e) if r.client != "exporter" && r.client != BASELINE => {
                    format!("{:.0}×", r.cpu_per_refresh_ms / e.cpu_per_refresh_ms)
                }
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {} × {} | {} | {} | {} | {:.2}% | {:.2} ms | {} | {:.1} MB | {:.0} ms | {:.1} MiB | {} | {} |\n",
                cell.environments,
                cell.items_per_environment,
                r.network,
                r.client,
                if r.compression { "gzip" } else { "off" },
                r.core_share * 100.0,
                r.cpu_per_refresh_ms,
                ratio,
                r.bytes_per_cycle / 1e6,
                r.refresh_wall_ms,
                r.peak_rss_mib,
                r.requests_per_cycle.map_or("".into(), |v| format!("{v:.0}")),
                r.failures,
            ));
        }
    }
    out
}
