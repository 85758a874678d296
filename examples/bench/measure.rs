//! One cell of the grid: a simulator with a static population, the exporter
//! refreshing it, and what it costs per refresh cycle and per scrape.

use crate::floor::{self, Floor};
use crate::probe::{self, counters, quantile, Counters};
use crate::procs::{self, Exporter, ExporterRun, Sim};
use crate::render::{self, RenderCost};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest page the list endpoint accepts.
const PAGE: usize = 1000;

/// How long each phase lasts.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Measurement windows per cell (medians are reported).
    pub windows: usize,
    /// Each window lasts at least this long and at least one refresh cycle.
    pub window_secs: f64,
    pub scrape_secs: f64,
    pub scrapers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scrapes {
    pub scrapers: usize,
    pub gzip: bool,
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub body_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub environments: usize,
    pub items_per_environment: usize,
    pub sim_start_seconds: f64,
    pub min_requests_per_cycle: f64,
    pub requests_per_cycle: f64,
    pub request_ratio: f64,
    pub refreshes_measured: f64,
    pub requests_not_200: f64,
    pub refresh_failures: f64,
    pub lists_truncated: usize,
    /// Exporter CPU seconds per cycle (every environment refreshed once): median of the windows.
    pub cpu_per_cycle_s: f64,
    /// Every window's value, to show the noise.
    pub cpu_per_cycle_windows_s: Vec<f64>,
    /// Wall seconds per cycle, flat out (at least the 10 ms interval).
    pub wall_per_cycle_s: f64,
    /// Mean wall time of one environment's refresh (stats + whole list).
    pub refresh_wall_mean_ms: f64,
    pub peak_rss_mib: f64,
    pub rss_mib: f64,
    pub floor: Floor,
    /// The floor for a whole cycle: typed decode of every page and stats body.
    pub floor_per_cycle_s: f64,
    pub cpu_over_floor: f64,
    /// The simulator (the upstream): CPU per request it answered, flat out, in µs.
    pub sim_cpu_per_request_us: f64,
    /// Of which in the kernel (loopback TCP), in µs.
    pub sim_system_cpu_per_request_us: f64,
    /// The simulator's peak resident memory, in MiB, with the whole population.
    pub sim_peak_rss_mib: f64,
    /// One render in process (no HTTP): the exporter's own work per scrape.
    pub render_cost: RenderCost,
    pub production: Production,
}

fn scrapes(lat: &[f64], size: usize, scrapers: usize, gzip: bool) -> Scrapes {
    Scrapes {
        scrapers,
        gzip,
        count: lat.len(),
        p50_ms: quantile(lat, 0.5) * 1e3,
        p99_ms: quantile(lat, 0.99) * 1e3,
        max_ms: lat.last().copied().unwrap_or(f64::NAN) * 1e3,
        body_bytes: size,
    }
}

pub fn min_requests(environments: usize, items: usize) -> f64 {
    (environments * (1 + items.div_ceil(PAGE))) as f64
}

async fn read(client: &reqwest::Client, exp: &mut Exporter) -> Counters {
    assert!(
        exp.child.alive(),
        "the exporter exited; see its log in the output directory"
    );
    let text = probe::scrape(client, &exp.base).await.unwrap_or_default();
    counters(&text)
}

/// Scrape until every environment is up and `refreshes` refreshes completed.
async fn wait_for(
    client: &reqwest::Client,
    exp: &mut Exporter,
    environments: usize,
    refreshes: usize,
) {
    let start = Instant::now();
    loop {
        let c = read(client, exp).await;
        if c.up >= environments && c.refreshes >= refreshes as f64 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "no steady state after 30 min: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn run_cell(
    dir: &Path,
    environments: usize,
    items: usize,
    plan: Plan,
    steady_window: Option<f64>,
) -> Cell {
    let t = Instant::now();
    let sim = procs::start_sim(dir, environments, items);
    let sim_start_seconds = t.elapsed().as_secs_f64();

    // The floor and the render cost first, while nothing else of ours runs.
    let sample = floor::fetch(&sim.creds, items).await;
    // For instruction counts under callgrind (`bench __count KIND FILE`).
    let _ = floor::save(&sample, &dir.join("pages.bin"));
    let creds = sim.creds.clone();
    let (floor, render_cost) = tokio::task::spawn_blocking(move || {
        let floor = floor::measure(&sample);
        (floor, render::measure(&creds, &sample))
    })
    .await
    .expect("floor and render measurement");
    let total_items = (environments * items) as f64;
    let floor_per_cycle_s =
        floor.typed_per_item * total_items + floor.stats_per_env * environments as f64;

    // Phase A, flat out: a 10 ms interval and a budget that never binds, so a
    // cycle takes what the work takes, and even small cells run enough cycles
    // for the 10 ms resolution of the kernel's CPU accounting.
    let run = ExporterRun {
        interval: "10ms",
        budget_rps: 1_000_000.0,
        timeout: "300s",
        extra: &[],
    };
    let mut exp = procs::start_exporter(dir, &sim, &run);
    let client = reqwest::Client::new();
    probe::wait_healthy(&client, &exp.base).await;
    // Steady state: trackers are full after the first walk of every environment.
    wait_for(&client, &mut exp, environments, environments).await;
    let t1 = Instant::now();
    wait_for(&client, &mut exp, environments, 2 * environments).await;
    let cycle_estimate = t1.elapsed().as_secs_f64();

    let mut cpu_windows = Vec::new();
    let mut wall_windows = Vec::new();
    let (mut requests, mut refreshes, mut refresh_secs) = (0.0, 0.0, 0.0);
    let (mut sim_cpu, mut sim_system_cpu) = (0.0, 0.0);
    let mut last = Counters::default();
    for _ in 0..plan.windows {
        let c0 = read(&client, &mut exp).await;
        let cpu0 = exp.child.cpu_seconds();
        let sim_cpu0 = sim.child.cpu_split();
        let t0 = Instant::now();
        // Whole cycles where possible: at least one, at least `window_secs`.
        tokio::time::sleep(Duration::from_secs_f64(
            plan.window_secs.max(cycle_estimate * 1.05),
        ))
        .await;
        let cpu1 = exp.child.cpu_seconds();
        let sim_cpu1 = sim.child.cpu_split();
        sim_cpu += (sim_cpu1.0 + sim_cpu1.1) - (sim_cpu0.0 + sim_cpu0.1);
        sim_system_cpu += sim_cpu1.1 - sim_cpu0.1;
        let wall = t0.elapsed().as_secs_f64();
        let c1 = read(&client, &mut exp).await;
        let cycles = (c1.refreshes - c0.refreshes) / environments as f64;
        cpu_windows.push((cpu1 - cpu0) / cycles);
        wall_windows.push(wall / cycles);
        requests += c1.requests - c0.requests;
        refreshes += c1.refreshes - c0.refreshes;
        refresh_secs += c1.refresh_seconds - c0.refresh_seconds;
        last = c1;
    }
    let (peak_rss_mib, rss_mib) = exp.child.memory_mib();
    let cpu_per_cycle_s = probe::median(&mut cpu_windows.clone());
    let min_requests_per_cycle = min_requests(environments, items);
    let requests_per_cycle = requests / (refreshes / environments as f64);
    drop(exp);

    // Phase B, as deployed: a 30 s interval, scrapes while refreshes go on.
    let production = run_production(dir, &sim, steady_window, plan).await;
    let sim_peak_rss_mib = sim.child.memory_mib().0;
    drop(sim);

    Cell {
        environments,
        items_per_environment: items,
        sim_start_seconds,
        min_requests_per_cycle,
        requests_per_cycle,
        request_ratio: requests_per_cycle / min_requests_per_cycle,
        refreshes_measured: refreshes,
        requests_not_200: last.requests_not_ok,
        refresh_failures: last.failures,
        lists_truncated: last.truncated,
        cpu_per_cycle_s,
        cpu_per_cycle_windows_s: cpu_windows,
        wall_per_cycle_s: probe::median(&mut wall_windows),
        refresh_wall_mean_ms: refresh_secs / refreshes * 1e3,
        peak_rss_mib,
        rss_mib,
        floor,
        floor_per_cycle_s,
        cpu_over_floor: cpu_per_cycle_s / floor_per_cycle_s,
        // Window edges may count a request on one side and its CPU on the other: noise of a few in thousands.
        sim_cpu_per_request_us: sim_cpu / requests * 1e6,
        sim_system_cpu_per_request_us: sim_system_cpu / requests * 1e6,
        sim_peak_rss_mib,
        render_cost,
        production,
    }
}

/// Phase B: the exporter as deployed, at a 30 s interval.
#[derive(Debug, Clone, Serialize)]
pub struct Production {
    pub interval_s: f64,
    pub budget_rps: f64,
    /// The CPU window, when one was measured (the target cell).
    pub window_s: Option<f64>,
    pub cycles: Option<f64>,
    pub requests_per_cycle: Option<f64>,
    /// Average share of one core over the window (refreshes only, no scrapes).
    pub core_share: Option<f64>,
    pub peak_rss_mib: f64,
    pub rss_mib: f64,
    pub metrics_bytes: usize,
    /// One scraper, back to back: the time to render and serve.
    pub render: Scrapes,
    pub concurrent_plain: Scrapes,
    pub concurrent_gzip: Scrapes,
}

async fn run_production(dir: &Path, sim: &Sim, window: Option<f64>, plan: Plan) -> Production {
    let environments = sim.creds.environments.len();
    let interval = 30.0;
    // 1,000 environments need 67 requests/s at 30 s, above the default budget (5/s):
    // a budget that does not bind, so the interval holds.
    let budget_rps = 1_000_000.0;
    let run = ExporterRun {
        interval: "30s",
        budget_rps,
        timeout: "25s",
        extra: &[],
    };
    let mut exp = procs::start_exporter(dir, sim, &run);
    let client = reqwest::Client::new();
    probe::wait_healthy(&client, &exp.base).await;
    let started = Instant::now();
    wait_for(&client, &mut exp, environments, environments).await;
    let mut cpu = None;
    if let Some(w) = window {
        // Past the start window: from the second cycle on, refreshes spread over the interval.
        let settle = Duration::from_secs_f64(interval).saturating_sub(started.elapsed());
        tokio::time::sleep(settle).await;
        let c0 = read(&client, &mut exp).await;
        let cpu0 = exp.child.cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(w)).await;
        let cpu_seconds = exp.child.cpu_seconds() - cpu0;
        let window_s = t0.elapsed().as_secs_f64();
        let c1 = read(&client, &mut exp).await;
        let cycles = (c1.refreshes - c0.refreshes) / environments as f64;
        cpu = Some((
            window_s,
            cycles,
            (c1.requests - c0.requests) / cycles,
            cpu_seconds / window_s,
        ));
    } else {
        // Past the start window, where first refreshes are packed.
        let settle = Duration::from_secs(6).saturating_sub(started.elapsed());
        tokio::time::sleep(settle).await;
    }
    let (lat, metrics_bytes) = probe::scrape_load(&exp.base, 1, plan.scrape_secs, false).await;
    let render = scrapes(&lat, metrics_bytes, 1, false);
    let (lat, size) = probe::scrape_load(&exp.base, plan.scrapers, plan.scrape_secs, false).await;
    let concurrent_plain = scrapes(&lat, size, plan.scrapers, false);
    let (lat, size) = probe::scrape_load(&exp.base, plan.scrapers, plan.scrape_secs, true).await;
    let concurrent_gzip = scrapes(&lat, size, plan.scrapers, true);
    let (peak_rss_mib, rss_mib) = exp.child.memory_mib();
    Production {
        interval_s: interval,
        budget_rps,
        window_s: cpu.map(|c| c.0),
        cycles: cpu.map(|c| c.1),
        requests_per_cycle: cpu.map(|c| c.2),
        core_share: cpu.map(|c| c.3),
        peak_rss_mib,
        rss_mib,
        metrics_bytes,
        render,
        concurrent_plain,
        concurrent_gzip,
    }
}
