//! `--auth-flood`: what 16 clients guessing basic-auth passwords cost the
//! exporter (issue 23 measured 193% CPU, both cores), and how a scrape with
//! the right password fares meanwhile. Side by side in one run: guesses all
//! different (each needs a bcrypt), the same wrong guess repeated (this
//! build remembers it), and, with `--crowd-baseline BIN`, another build with
//! different guesses. The users' hash has cost 10, as `htpasswd -nBC 10`
//! makes it.

use crate::procs::{self, ExporterRun, Sim};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const GUESSERS: usize = 16;
const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, serde::Serialize)]
pub struct Row {
    pub build: String,
    pub guesses: String,
    pub refused_per_second: f64,
    pub cpu_percent: f64,
    pub scrape_median_seconds: f64,
    pub scrape_worst_seconds: f64,
}

async fn guesser(
    base: String,
    n: usize,
    distinct: bool,
    refused: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    let client = reqwest::Client::new();
    let mut i = 0usize;
    while !stop.is_cancelled() {
        i += 1;
        let password = if distinct {
            format!("guess-{n}-{i}")
        } else {
            "guess".into()
        };
        let sent = client
            .get(format!("{base}/metrics"))
            .basic_auth("prometheus", Some(password))
            .send();
        let r = tokio::select! {
            _ = stop.cancelled() => return,
            r = sent => r,
        };
        if r.is_ok_and(|r| r.status() == 401) {
            refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Scrapes with the right password, one a second, for the window: seconds each.
async fn scraper(base: &str) -> Vec<f64> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let mut out = Vec::new();
    let end = Instant::now() + WINDOW;
    while Instant::now() < end {
        let t = Instant::now();
        let ok = client
            .get(format!("{base}/metrics"))
            .basic_auth("prometheus", Some("right"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        out.push(if ok { t.elapsed().as_secs_f64() } else { 30.0 });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    out
}

async fn one(dir: &Path, sim: &Sim, build: &str, program: Option<&Path>, distinct: bool) -> Row {
    let web = dir.join("web.yml");
    let hash = bcrypt::hash("right", 10).expect("a bcrypt hash");
    std::fs::write(&web, format!("basic_auth_users:\n  prometheus: {hash}\n")).expect("web.yml");
    let web_arg = web.to_string_lossy().into_owned();
    let extra = ["--web.config.file", web_arg.as_str()];
    let run = ExporterRun {
        interval: "30s",
        budget_rps: 5.0,
        timeout: "10s",
        extra: &extra,
    };
    let exporter = procs::start_exporter_at(program, dir, &sim.creds, &run);
    crate::probe::wait_healthy(&reqwest::Client::new(), &exporter.base).await;
    // The scraper's first check (one bcrypt) before the flood starts.
    let _ = scraper_once(&exporter.base).await;
    let stop = CancellationToken::new();
    let refused = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..GUESSERS)
        .map(|n| {
            let (base, refused, stop) = (exporter.base.clone(), refused.clone(), stop.clone());
            tokio::spawn(guesser(base, n, distinct, refused, stop))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu0, n0, t0) = (
        exporter.child.cpu_seconds(),
        refused.load(Ordering::Relaxed),
        Instant::now(),
    );
    let mut scrapes = scraper(&exporter.base).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = exporter.child.cpu_seconds() - cpu0;
    let n = refused.load(Ordering::Relaxed) - n0;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    scrapes.sort_by(f64::total_cmp);
    Row {
        build: build.into(),
        guesses: if distinct {
            "all different"
        } else {
            "one, repeated"
        }
        .into(),
        refused_per_second: n as f64 / secs,
        cpu_percent: 100.0 * cpu / secs,
        scrape_median_seconds: scrapes[scrapes.len() / 2],
        scrape_worst_seconds: scrapes[scrapes.len() - 1],
    }
}

async fn scraper_once(base: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .basic_auth("prometheus", Some("right"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// Run the cells; the Markdown table, also written to `auth-flood.md` and `.json`.
pub fn run(out: &Path, rt: &tokio::runtime::Runtime, baseline: Option<&Path>) -> String {
    let dir = out.join("auth-flood");
    std::fs::create_dir_all(&dir).expect("create the directory");
    let sim = procs::start_sim(&dir, 10, 100);
    let mut cells: Vec<(&str, Option<&Path>, bool)> =
        vec![("this build", None, true), ("this build", None, false)];
    if let Some(b) = baseline {
        cells.push(("baseline", Some(b), true));
        cells.push(("baseline", Some(b), false));
    }
    let mut rows = Vec::new();
    for (build, program, distinct) in cells {
        eprintln!("bench: auth flood, {build}, distinct={distinct} ...");
        rows.push(rt.block_on(one(&dir, &sim, build, program, distinct)));
    }
    let mut md = String::from("| build | 16 clients' guesses | 401s per second | exporter CPU | scrape with the right password: median | worst |\n|---|---|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.0}% | {:.3} s | {:.3} s |\n",
            r.build,
            r.guesses,
            r.refused_per_second,
            r.cpu_percent,
            r.scrape_median_seconds,
            r.scrape_worst_seconds
        ));
    }
    crate::crowd::save(&dir, "auth-flood", &md, &rows);
    md
}
