//! What the benchmark reads from the exporter over HTTP: its own counters
//! (requests, refreshes, failures) and `/metrics` latency under concurrent
//! scrapers.

use std::time::{Duration, Instant};

/// The exporter's counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub requests: f64,
    pub requests_not_ok: f64,
    pub stats_requests: f64,
    pub refreshes: f64,
    pub refresh_seconds: f64,
    pub failures: f64,
    pub up: usize,
    pub truncated: usize,
}

fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |l| {
        let rest = l.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        let (series, value) = l.rsplit_once(' ')?;
        Some((series, value.parse().ok()?))
    })
}

pub fn counters(text: &str) -> Counters {
    let mut c = Counters::default();
    for (series, v) in samples(text, "anthropic_work_exporter_api_requests_total") {
        c.requests += v;
        if !series.contains("code=\"200\"") {
            c.requests_not_ok += v;
        }
        if series.contains("endpoint=\"stats\"") {
            c.stats_requests += v;
        }
    }
    let one = |name| samples(text, name).map(|(_, v)| v).next().unwrap_or(0.0);
    c.refreshes = one("anthropic_work_exporter_refresh_duration_seconds_count");
    c.refresh_seconds = one("anthropic_work_exporter_refresh_duration_seconds_sum");
    c.failures = samples(text, "anthropic_work_exporter_refresh_failures_total")
        .map(|(_, v)| v)
        .sum();
    c.up = samples(text, "anthropic_work_up")
        .filter(|(_, v)| *v == 1.0)
        .count();
    c.truncated = samples(text, "anthropic_work_exporter_list_truncated")
        .filter(|(_, v)| *v == 1.0)
        .count();
    c
}

pub async fn scrape(client: &reqwest::Client, base: &str) -> Option<String> {
    let r = client.get(format!("{base}/metrics")).send().await.ok()?;
    r.text().await.ok()
}

pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = client.get(format!("{base}/-/healthy")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the exporter did not come up at {base}");
}

/// Latencies (seconds) of `/metrics` with `scrapers` clients scraping back to
/// back for `secs`, and the body size each got.
pub async fn scrape_load(base: &str, scrapers: usize, secs: f64, gzip: bool) -> (Vec<f64>, usize) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..scrapers {
        let url = format!("{base}/metrics");
        tasks.push(tokio::spawn(async move {
            // One client each: one keep-alive connection per scraper, as Prometheus has.
            // No transparent decoding: "plain" stays plain, gzip is timed as received.
            let client = reqwest::Client::builder()
                .no_gzip()
                .no_deflate()
                .build()
                .expect("a client");
            let mut lat = Vec::new();
            let mut size = 0;
            while Instant::now() < deadline {
                let mut req = client.get(&url);
                if gzip {
                    req = req.header("accept-encoding", "gzip");
                }
                let t0 = Instant::now();
                let Ok(resp) = req.send().await else { continue };
                let Ok(body) = resp.bytes().await else {
                    continue;
                };
                lat.push(t0.elapsed().as_secs_f64());
                size = body.len();
            }
            (lat, size)
        }));
    }
    let mut all = Vec::new();
    let mut size = 0;
    for t in tasks {
        if let Ok((lat, s)) = t.await {
            all.extend(lat);
            size = size.max(s);
        }
    }
    all.sort_by(f64::total_cmp);
    (all, size)
}

/// The `q` quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(v, 0.5)
}
