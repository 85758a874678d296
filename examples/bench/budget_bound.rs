//! The "budget-bound fleet" cell (`--budget-bound`): 1,000 environments on a
//! budget of 10 requests/s, one cadence (everything every 30 s) versus two
//! (stats every 30 s, lists every 5 minutes). For each: requests per minute,
//! the planned intervals, and the time from a scenario switch (workers-down
//! on half the environments, backlog on the other half) to the gauge showing
//! it. Both modes run at once, each with its own simulator and exporter, so
//! the whole cell takes about ten minutes of wall time.

use crate::probe::{self, counters, quantile};
use crate::procs::{self, ExporterRun};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const ENVIRONMENTS: usize = 1000;
const BUDGET_RPS: f64 = 10.0;

/// One way of running the fleet.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub name: &'static str,
    pub flags: &'static [&'static str],
}

pub const MODES: [Mode; 2] = [
    Mode {
        name: "one cadence (30 s)",
        flags: &[],
    },
    Mode {
        name: "stats 30 s, lists 5 min",
        flags: &["--refresh.list-interval", "5m"],
    },
];

/// Seconds from the switch to the gauge showing it, over the environments switched.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub seen: usize,
    pub of: usize,
    pub median_s: f64,
    pub p90_s: f64,
    pub max_s: f64,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub mode: Mode,
    pub all_up_s: f64,
    pub requests_per_minute: f64,
    pub stats_effective_s: f64,
    pub list_effective_s: f64,
    pub demand_ratio: f64,
    pub used_ratio: f64,
    pub workers_down: Latency,
    pub backlog: Latency,
    pub failures: f64,
}

/// `name{environment_id="…",…} value` for every environment.
fn per_environment(text: &str, name: &str) -> HashMap<String, f64> {
    let prefix = format!("{name}{{environment_id=\"");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (id, _) = rest.split_once('"')?;
            let (_, v) = l.rsplit_once(' ')?;
            Some((id.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn gauge(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn latency(mut seconds: Vec<f64>, of: usize) -> Latency {
    seconds.sort_by(f64::total_cmp);
    if seconds.is_empty() {
        return Latency {
            of,
            ..Default::default()
        };
    }
    Latency {
        seen: seconds.len(),
        of,
        median_s: quantile(&seconds, 0.5),
        p90_s: quantile(&seconds, 0.9),
        max_s: seconds[seconds.len() - 1],
    }
}

async fn switch(client: &reqwest::Client, sim: &procs::Sim, id: &str, scenario: &str) {
    let r = client
        .post(format!("{}/_sim/scenario", sim.creds.base_url))
        .bearer_auth(&sim.creds.admin_token)
        .json(&serde_json::json!({ "scenario": scenario, "environment": id }))
        .send()
        .await
        .expect("the simulator answers");
    assert!(r.status().is_success(), "switch {id}: {}", r.status());
}

/// Run one mode to the end.
pub async fn run_mode(dir: &Path, mode: Mode) -> Outcome {
    std::fs::create_dir_all(dir).expect("create the mode's directory");
    let sim = procs::start_sim_with(dir, ENVIRONMENTS, 20, 2, 6.0);
    let run = ExporterRun {
        interval: "30s",
        budget_rps: BUDGET_RPS,
        timeout: "25s",
        extra: mode.flags,
    };
    let mut exp = procs::start_exporter(dir, &sim, &run);
    let client = reqwest::Client::new();
    probe::wait_healthy(&client, &exp.base).await;
    let started = Instant::now();
    let scrape = |c: &reqwest::Client, base: &str| {
        let (c, base) = (c.clone(), base.to_string());
        async move { probe::scrape(&c, &base).await.unwrap_or_default() }
    };
    // The first cycle: every environment read once.
    loop {
        let text = scrape(&client, &exp.base).await;
        if counters(&text).up >= ENVIRONMENTS {
            break;
        }
        assert!(
            exp.child.alive(),
            "the exporter exited; see {}",
            dir.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(480),
            "{}: not all up in 8 min",
            mode.name
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let all_up_s = started.elapsed().as_secs_f64();

    // Requests per minute over two steady minutes.
    let before = scrape(&client, &exp.base).await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(120)).await;
    let after = scrape(&client, &exp.base).await;
    let requests_per_minute = (counters(&after).requests - counters(&before).requests)
        / t0.elapsed().as_secs_f64()
        * 60.0;

    // Switch half the fleet to workers-down and half to backlog; watch the gauges.
    let polling = per_environment(&after, "anthropic_work_queue_workers_polling");
    let depth = per_environment(&after, "anthropic_work_queue_depth");
    let ids: Vec<String> = sim
        .creds
        .environments
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let (down_ids, backlog_ids) = ids.split_at(ids.len() / 2);
    let mut switched: HashMap<String, (Instant, bool)> = HashMap::new();
    for id in down_ids {
        switch(&client, &sim, id, "workers-down").await;
        // Only environments whose gauge did not already show it count.
        if polling.get(id).is_some_and(|p| *p > 0.0) {
            switched.insert(id.clone(), (Instant::now(), true));
        }
    }
    for id in backlog_ids {
        switch(&client, &sim, id, "backlog").await;
        if depth.get(id).is_some_and(|d| *d < 3.0) {
            switched.insert(id.clone(), (Instant::now(), false));
        }
    }
    let (mut down_s, mut backlog_s) = (Vec::new(), Vec::new());
    let watch = Instant::now();
    while !switched.is_empty() && watch.elapsed() < Duration::from_secs(420) {
        let text = scrape(&client, &exp.base).await;
        let now = Instant::now();
        let polling = per_environment(&text, "anthropic_work_queue_workers_polling");
        let depth = per_environment(&text, "anthropic_work_queue_depth");
        switched.retain(|id, (at, down)| {
            let shown = if *down {
                polling.get(id).is_some_and(|p| *p == 0.0)
            } else {
                depth.get(id).is_some_and(|d| *d >= 3.0)
            };
            if shown {
                let s = (now - *at).as_secs_f64();
                if *down {
                    down_s.push(s)
                } else {
                    backlog_s.push(s)
                }
            }
            !shown
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let down_of = down_s.len() + switched.values().filter(|(_, d)| *d).count();
    let backlog_of = backlog_s.len() + switched.values().filter(|(_, d)| !*d).count();
    let last = scrape(&client, &exp.base).await;
    Outcome {
        mode,
        all_up_s,
        requests_per_minute,
        stats_effective_s: gauge(
            &last,
            "anthropic_work_exporter_refresh_interval_effective_seconds{cadence=\"stats\"}",
        ),
        list_effective_s: gauge(
            &last,
            "anthropic_work_exporter_refresh_interval_effective_seconds{cadence=\"list\"}",
        ),
        demand_ratio: gauge(&last, "anthropic_work_exporter_api_budget_demand_ratio"),
        used_ratio: gauge(&last, "anthropic_work_exporter_api_budget_used_ratio"),
        workers_down: latency(down_s, down_of),
        backlog: latency(backlog_s, backlog_of),
        failures: counters(&last).failures,
    }
}

/// Both modes at once; the report as Markdown.
pub fn run(out: &Path, rt: &tokio::runtime::Runtime) -> String {
    let outcomes = rt.block_on(async {
        let runs = MODES.iter().enumerate().map(|(i, m)| {
            let dir = out.join(format!("budget-bound-{i}"));
            async move { run_mode(&dir, *m).await }
        });
        futures_util::future::join_all(runs).await
    });
    let mut md = String::from(
        "| mode | first cycle done (s) | requests/min | stats every (s) | lists every (s) | demand / budget | planned use | workers-down seen after (median / p90 / max s) | backlog seen after (median / p90 / max s) | failed refreshes |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for o in &outcomes {
        let l = |l: &Latency| {
            format!(
                "{:.0} / {:.0} / {:.0} ({} of {})",
                l.median_s, l.p90_s, l.max_s, l.seen, l.of
            )
        };
        md.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} | {:.0} |\n",
            o.mode.name,
            o.all_up_s,
            o.requests_per_minute,
            o.stats_effective_s,
            o.list_effective_s,
            o.demand_ratio,
            o.used_ratio,
            l(&o.workers_down),
            l(&o.backlog),
            o.failures
        ));
    }
    std::fs::write(out.join("budget-bound.md"), &md).expect("write budget-bound.md");
    md
}
