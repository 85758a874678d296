//! Soak: thousands of refreshes against the simulator with constant churn of
//! work ids, printing the exporter's resident memory over time, so one can
//! see that it stays flat (issue 7). Not a test: it runs for minutes.
//!
//! ```sh
//! cargo run --release --example soak -- --minutes 10
//! cargo run --release --example soak -- --minutes 2 --environments 20 --interval 100ms
//! ```
//!
//! The simulator runs in a child process (this program, started again with
//! `--simulator`), so the memory read from `/proc/self/status` is the
//! exporter's alone: its refreshes, snapshots, trackers, metrics and server.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use work_api::clock::SystemClock;
use work_api::secret::Secret;
use work_exporter::app::run_exporter;
use work_exporter::config::Config;
use work_sim::{self as sim, Credentials, SimOptions};

struct Args {
    minutes: f64,
    environments: usize,
    interval: String,
    arrivals_per_minute: f64,
    workers: usize,
    sample_seconds: u64,
    simulator: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        minutes: 10.0,
        environments: 10,
        interval: "250ms".into(),
        arrivals_per_minute: 600.0,
        workers: 100,
        sample_seconds: 30,
        simulator: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let num = |v: String| {
            v.parse::<f64>()
                .unwrap_or_else(|_| usage(&format!("{flag}: {v} is not a number")))
        };
        match flag.as_str() {
            "--minutes" => a.minutes = num(value()),
            "--environments" => a.environments = num(value()) as usize,
            "--interval" => a.interval = value(),
            "--arrivals-per-minute" => a.arrivals_per_minute = num(value()),
            "--workers" => a.workers = num(value()) as usize,
            "--sample-seconds" => a.sample_seconds = num(value()).max(1.0) as u64,
            "--simulator" => a.simulator = Some(value()),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    a
}

fn usage(problem: &str) -> ! {
    eprintln!("soak: {problem}\nflags: --minutes N (10) --environments N (10) --interval D (250ms) --arrivals-per-minute N (600, per environment) --workers N (100, per environment) --sample-seconds N (30)");
    std::process::exit(2)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The sum of every sample of `name` (any labels) in an exposition.
fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>()
        + 0.0 // an empty sum is -0.0
}

/// Child mode: run the simulator until killed, credentials written to `path`.
fn simulator(a: &Args, path: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let opts = SimOptions {
            environments: a.environments,
            seed: 7,
            workers: a.workers,
            arrivals_per_minute: a.arrivals_per_minute,
            healthcheck_interval: std::time::Duration::from_secs(60),
            credentials_out: Some(path.into()),
            ..SimOptions::loopback()
        };
        let running = sim::start(opts, CancellationToken::new())
            .await
            .expect("simulator");
        let _ = running.task.await;
    });
}

fn main() {
    let a = parse_args();
    if let Some(path) = &a.simulator {
        return simulator(&a, path);
    }
    let dir = std::env::temp_dir().join(format!("soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let creds_path = dir.join("credentials.json");
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--simulator", &creds_path.to_string_lossy()])
        .args([
            "--environments",
            &a.environments.to_string(),
            "--workers",
            &a.workers.to_string(),
        ])
        .args(["--arrivals-per-minute", &a.arrivals_per_minute.to_string()])
        .spawn()
        .expect("start the simulator");
    let creds: Credentials = loop {
        if let Some(c) = std::fs::read(&creds_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            break c;
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(soak(&a, creds));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        eprintln!("soak: {e}");
        std::process::exit(1);
    }
}

async fn soak(a: &Args, creds: Credentials) -> Result<(), String> {
    let cli: work_exporter::cli::Cli = clap::Parser::parse_from([
        "soak",
        "--web.listen-address",
        "127.0.0.1:0",
        "--refresh.interval",
        &a.interval,
        "--api.max-requests-per-second",
        "1000",
        "--api.max-concurrency",
        "8",
        "--api.base-url",
        &creds.base_url,
    ]);
    let envs = work_exporter::app::demo::environments(&creds);
    let cfg = Config::new(
        &cli.serve,
        work_exporter::config::Sources::given(Some(Secret::new(creds.api_key.clone())), envs),
    )
    .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/metrics",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let shutdown = CancellationToken::new();
    let exporter = tokio::spawn(run_exporter(
        cfg,
        listener,
        Arc::new(SystemClock),
        shutdown.clone(),
    ));

    let duration = Duration::from_secs_f64(a.minutes * 60.0);
    println!("soak: {} environments, refresh every {}, {} arrivals/min and {} workers per environment, {:.1} min", a.environments, a.interval, a.arrivals_per_minute, a.workers, a.minutes);
    println!(
        "{:>7} {:>10} {:>12} {:>12} {:>10} {:>6} {:>9}",
        "minute", "refreshes", "ids created", "ids stopped", "items", "up", "RSS MiB"
    );
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut rows: Vec<(f64, f64)> = Vec::new();
    let last = loop {
        let elapsed = start.elapsed();
        let m = client
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let rss = rss_kib() as f64 / 1024.0;
        let minute = elapsed.as_secs_f64() / 60.0;
        println!(
            "{:>7.1} {:>10} {:>12} {:>12} {:>10} {:>6} {:>9.1}",
            minute,
            total(&m, "anthropic_work_exporter_refresh_duration_seconds_count"),
            total(&m, "anthropic_work_items_created_total"),
            total(&m, "anthropic_work_items_stopped_total"),
            total(&m, "anthropic_work_items"),
            total(&m, "anthropic_work_up"),
            rss
        );
        rows.push((minute, rss));
        if elapsed >= duration {
            break m;
        }
        tokio::time::sleep(
            Duration::from_secs(a.sample_seconds)
                .min(duration.saturating_sub(elapsed))
                .max(Duration::from_millis(100)),
        )
        .await;
    };
    shutdown.cancel();
    let _ = exporter.await;

    // Memory after the first fifth (warm-up: allocator pools, buffers) against the end.
    let warm = rows
        .iter()
        .find(|(m, _)| *m >= a.minutes / 5.0)
        .map_or(rows[0].1, |r| r.1);
    let end = rows.last().map_or(0.0, |r| r.1);
    let peak = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let refreshes = total(
        &last,
        "anthropic_work_exporter_refresh_duration_seconds_count",
    );
    let created = total(&last, "anthropic_work_items_created_total");
    println!("\nsummary: {refreshes} refreshes, {created} work ids created and tracked, RSS {warm:.1} MiB after warm-up, {end:.1} MiB at the end, peak {peak:.1} MiB ({:+.1}% after warm-up)", (end - warm) / warm * 100.0);
    let flat = end <= warm * 1.10 + 2.0;
    println!("memory {}", if flat { "flat" } else { "GREW" });
    if flat {
        Ok(())
    } else {
        Err("resident memory grew by more than 10% + 2 MiB after warm-up".into())
    }
}
