//! The exporter against the simulator over real HTTP: its numbers agree with
//! the simulator's ground truth, and scenario switches show up in the metrics.
//!
//! The simulator runs on a manual clock that the exporter reads too, so a
//! test moves simulated time at once (`Stack::advance`) and ages agree to
//! the millisecond. The exporter's refreshes run on real (tokio) time, every
//! 250 ms here: after an advance a test waits for the exporter to refresh
//! (`wait_for`), never for simulated time to pass.

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_sim::{self as sim, Credentials, RunningSim, SimOptions};

/// The longest a test waits for the exporter to refresh and show a change.
/// Only a failing test waits this long: a refresh comes every 250 ms.
pub const EXPORTER_WAIT: Duration = Duration::from_secs(20);

pub struct Stack {
    pub metrics_url: String,
    pub creds: Credentials,
    pub sim: RunningSim,
    pub shutdown: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Start a simulator and an exporter reading it, on the simulator's clock.
pub async fn stack(opts: SimOptions, extra_flags: &[&str]) -> Stack {
    let shutdown = CancellationToken::new();
    let running = sim::start(opts, shutdown.clone()).await.unwrap();
    let creds = running.credentials.clone();
    let mut flags = vec!["--api.base-url", &creds.base_url];
    // Defaults a test may override with its own `extra_flags`.
    for (flag, value) in [
        ("--web.listen-address", "127.0.0.1:0"),
        ("--refresh.interval", "250ms"),
        // Wider than the interval: a debug build's list walk of a few thousand items fits.
        ("--refresh.timeout", "2s"),
        ("--api.max-requests-per-second", "500"),
    ] {
        if !extra_flags.contains(&flag) {
            flags.extend_from_slice(&[flag, value]);
        }
    }
    flags.extend_from_slice(extra_flags);
    let envs = work_exporter::app::demo::environments(&creds);
    let cfg = crate::exporter::given(&flags, &creds.api_key, envs);
    let metrics_url =
        crate::exporter::start(cfg, Some(running.clock()), &shutdown).await + "/metrics";
    Stack {
        metrics_url,
        creds,
        sim: running,
        shutdown,
    }
}

/// A simulator on a manual clock: nothing moves until a test advances it.
pub fn options(
    environments: usize,
    items: usize,
    workers: usize,
    arrivals: f64,
    scenario: &str,
) -> SimOptions {
    SimOptions {
        environments,
        scenario: scenario.into(),
        seed: 7,
        items_per_environment: items,
        workers,
        arrivals_per_minute: arrivals,
        // The whole suite reads SDK-shaped lists: `""` endings and empty pages.
        paging: sim::Paging::SDK_SHAPED,
        clock: sim::SimClock::manual(),
        // Healthchecks stay off unless a test turns them on: their arrivals would move the numbers.
        ..SimOptions::loopback()
    }
}

impl Stack {
    pub async fn scrape(&self) -> String {
        reqwest::get(&self.metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn truth(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/_sim/state", self.creds.base_url))
            .bearer_auth(&self.creds.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn switch(&self, scenario: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/_sim/scenario", self.creds.base_url))
            .bearer_auth(&self.creds.admin_token)
            .json(&serde_json::json!({ "scenario": scenario }))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "switch to {scenario}: {}",
            r.status()
        );
    }

    /// Moves simulated time on by `seconds` at once, the workload with it.
    pub fn advance(&self, seconds: u64) {
        self.sim.advance(Duration::from_secs(seconds)).unwrap();
    }

    /// Poll the metrics until `f` holds (the exporter has refreshed since
    /// the simulator changed), for at most `EXPORTER_WAIT`.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        self.settle(what, |m| f(m).then_some(()).ok_or_else(String::new))
            .await
    }

    /// Poll the metrics until `check` passes, for at most `EXPORTER_WAIT`;
    /// on time-out, fail with what `check` said of the last scrape. With the
    /// simulator held still, "the exporter shows exactly the ground truth
    /// after a refresh" is as strict as comparing one well-timed scrape.
    pub async fn settle(&self, what: &str, check: impl Fn(&str) -> Result<(), String>) -> String {
        let start = std::time::Instant::now();
        loop {
            let m = self.scrape().await;
            let problem = match check(&m) {
                Ok(()) => return m,
                Err(p) => p,
            };
            assert!(
                start.elapsed() < EXPORTER_WAIT,
                "timed out waiting for {what}: {problem}\nlast scrape:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn value(text: &str, name: &str, env: &str, extra: &str) -> Option<f64> {
    let series = if extra.is_empty() {
        format!("{name}{{environment_id=\"{env}\"}}")
    } else {
        format!("{name}{{environment_id=\"{env}\",{extra}}}")
    };
    crate::rig::value(text, &series)
}

#[tokio::test]
async fn exporter_numbers_match_the_simulators_ground_truth() {
    // SDK-shaped paging (the suite's default): `""` endings and empty pages.
    numbers_match(options(3, 2500, 0, 0.0, "steady")).await;
}

#[tokio::test]
async fn exporter_numbers_match_the_ground_truth_when_lists_end_with_null() {
    let mut opts = options(3, 2500, 0, 0.0, "steady");
    opts.paging = sim::Paging {
        last_cursor: sim::LastCursor::Null,
        empty_page_every: 0,
    };
    numbers_match(opts).await;
}

async fn numbers_match(opts: SimOptions) {
    // A static population over three list pages per environment, on a clock
    // nobody moves: not even a lease crosses its TTL between two reads. One
    // refresh is all it takes: no need to walk 7,500 items four times a second.
    let s = stack(opts, &["--refresh.interval", "1s"]).await;
    let ids: Vec<String> = s.creds.environments.iter().map(|e| e.id.clone()).collect();
    s.wait_for("every environment up", |m| {
        ids.iter()
            .all(|id| value(m, "anthropic_work_up", id, "") == Some(1.0))
    })
    .await;
    let before = s.truth().await;
    let m = s.scrape().await;
    let after = s.truth().await;
    assert_eq!(before, after, "the simulator held still");
    for env in after["environments"].as_array().unwrap() {
        let id = env["id"].as_str().unwrap();
        for state in ["queued", "starting", "active", "stopping", "stopped"] {
            let want = env["counts"][state].as_f64().unwrap_or(0.0);
            assert_eq!(
                value(
                    &m,
                    "anthropic_work_items",
                    id,
                    &format!("state=\"{state}\"")
                ),
                Some(want),
                "{id} {state}"
            );
            // The seeded population holds healthchecks too (every 50th stopped or queued).
            // `active` and `stopping` are written only while above 0: absent reads as 0.
            assert_eq!(
                value(
                    &m,
                    "anthropic_work_healthcheck_items",
                    id,
                    &format!("state=\"{state}\"")
                )
                .or((state == "active" || state == "stopping").then_some(0.0)),
                env["healthchecks"][state].as_f64(),
                "{id} healthchecks {state}"
            );
        }
        assert!(env["healthchecks"]["stopped"].as_f64() > Some(0.0), "{env}");
        for (metric, field) in [
            ("anthropic_work_queue_depth", "depth"),
            ("anthropic_work_queue_pending", "pending"),
            ("anthropic_work_queue_workers_polling", "workers_polling"),
            ("anthropic_work_leases_expired", "expired_leases"),
            ("anthropic_work_heartbeats_stale", "stale_heartbeats"),
        ] {
            assert_eq!(
                value(&m, metric, id, ""),
                env[field].as_f64(),
                "{id} {field}"
            );
        }
        assert!(env["expired_leases"].as_f64() > Some(0.0), "{env}");
        assert!(
            env["stale_heartbeats"].as_f64() > env["expired_leases"].as_f64(),
            "stale before lost: {env}"
        );
        assert_eq!(env["total"].as_f64(), Some(2500.0));
    }
    // Every metric of the contract is served (the rate-limit gauge only once the API sends its header).
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    for name in docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
    {
        // Only when the API sends its header, only with discovery, only on /probe,
        // only for thresholds a config file sets (tests/it/thresholds.rs).
        if name == "anthropic_work_exporter_api_ratelimit_remaining"
            || name == "anthropic_work_alert_threshold"
            || name.starts_with("anthropic_work_exporter_discover")
            || name.starts_with("anthropic_work_exporter_probe_")
        {
            continue;
        }
        assert!(
            m.contains(&format!("# TYPE {name} ")),
            "{name} missing from a live scrape"
        );
    }
}

#[tokio::test]
async fn workers_down_drops_workers_polling_to_zero_and_depth_climbs() {
    let s = stack(options(1, 0, 3, 240.0, "steady"), &[]).await;
    let id = s.creds.environments[0].id.clone();
    let shown = |m: &str, metric| value(m, metric, &id, "");
    s.advance(10);
    s.wait_for("workers polling", |m| {
        shown(m, "anthropic_work_queue_workers_polling").unwrap_or(0.0) > 0.0
    })
    .await;
    s.switch("workers-down").await;
    // The API counts workers that polled in the last 30 s.
    s.advance(31);
    let truth = s.truth().await;
    let env = &truth["environments"][0];
    assert_eq!(env["workers_polling"], 0, "{env}");
    let depth = env["depth"].as_f64().unwrap();
    s.wait_for("workers_polling 0 and the depth of the simulator", |m| {
        shown(m, "anthropic_work_queue_workers_polling") == Some(0.0)
            && shown(m, "anthropic_work_queue_depth") == Some(depth)
    })
    .await;
    // Ten more seconds at four arrivals a second, nobody polling.
    s.advance(10);
    let climbed = s.truth().await["environments"][0]["depth"]
        .as_f64()
        .unwrap();
    assert!(climbed > depth + 1.0, "depth {depth} -> {climbed}");
    s.wait_for("the depth climbing with the simulator's", |m| {
        shown(m, "anthropic_work_queue_depth") == Some(climbed)
    })
    .await;
}

#[tokio::test]
async fn killing_the_upstream_turns_up_to_zero_and_recovery_is_automatic() {
    // A failed refresh (up to four attempts, 0.5 s backoff and up) ends at its 1 s deadline.
    let s = stack(
        options(2, 50, 0, 0.0, "steady"),
        &["--refresh.timeout", "1s"],
    )
    .await;
    let id = s.creds.environments[0].id.clone();
    s.wait_for("up", |m| {
        value(m, "anthropic_work_up", &id, "") == Some(1.0)
    })
    .await;
    s.switch("api-down").await;
    let m = s
        .wait_for("up 0", |m| {
            value(m, "anthropic_work_up", &id, "") == Some(0.0)
        })
        .await;
    assert!(m.contains("anthropic_work_exporter_refresh_failures_total{environment_id=\""));
    s.switch("steady").await;
    s.wait_for("up again", |m| {
        value(m, "anthropic_work_up", &id, "") == Some(1.0)
    })
    .await;
}
