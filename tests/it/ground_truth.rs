//! The exporter against the simulator over real HTTP: its numbers agree with
//! the simulator's ground truth, and scenario switches show up in the metrics.

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_api::clock::SystemClock;
use work_api::secret::Secret;
use work_exporter::app::run_exporter;
use work_exporter::config::Config;
use work_sim::{self as sim, Credentials, SimOptions};

pub struct Stack {
    pub metrics_url: String,
    pub creds: Credentials,
    pub shutdown: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Start a simulator and an exporter reading it.
pub async fn stack(opts: SimOptions, extra_flags: &[&str]) -> Stack {
    let shutdown = CancellationToken::new();
    let running = sim::start(opts, shutdown.clone()).await.unwrap();
    let creds = running.credentials.clone();
    let mut flags = vec![
        "x",
        "--web.listen-address",
        "127.0.0.1:0",
        "--refresh.interval",
        "1s",
        "--api.max-requests-per-second",
        "200",
        "--api.base-url",
        &creds.base_url,
    ];
    flags.extend_from_slice(extra_flags);
    let cli: work_exporter::cli::Cli = clap::Parser::parse_from(flags);
    let envs = work_exporter::app::demo::environments(&creds);
    let cfg = Config::new(
        &cli.serve,
        work_exporter::config::Sources::given(Some(Secret::new(creds.api_key.clone())), envs),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(run_exporter(
        cfg,
        listener,
        Arc::new(SystemClock),
        shutdown.clone(),
    ));
    Stack {
        metrics_url,
        creds,
        shutdown,
    }
}

pub fn options(
    environments: usize,
    items: usize,
    workers: usize,
    arrivals: f64,
    scenario: &str,
) -> SimOptions {
    SimOptions {
        listen_address: "127.0.0.1:0".parse().unwrap(),
        environments,
        scenario: scenario.into(),
        seed: 7,
        items_per_environment: items,
        workers,
        arrivals_per_minute: arrivals,
        // Static unless a test turns them on: healthcheck arrivals would move the numbers.
        healthcheck_interval: Duration::ZERO,
        credentials_out: None,
        // The whole suite reads SDK-shaped lists: `""` endings and empty pages.
        paging: sim::Paging::SDK_SHAPED,
        clock: Default::default(),
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

    /// Poll the metrics until `f` holds, for at most `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, f: impl Fn(&str) -> bool) -> String {
        let start = std::time::Instant::now();
        loop {
            let m = self.scrape().await;
            if f(&m) {
                return m;
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}; last scrape:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
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
    // A static population over three list pages per environment: nothing moves.
    let s = stack(opts, &[]).await;
    let ids: Vec<String> = s.creds.environments.iter().map(|e| e.id.clone()).collect();
    let m = s
        .wait_for(Duration::from_secs(30), "every environment up", |m| {
            ids.iter()
                .all(|id| value(m, "anthropic_work_up", id, "") == Some(1.0))
        })
        .await;
    let _ = m;
    for _attempt in 0..5 {
        let before = s.truth().await;
        let m = s.scrape().await;
        let after = s.truth().await;
        if before["environments"] != after["environments"] {
            continue; // a lease crossed the TTL between the reads; look again
        }
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
            assert_eq!(
                value(&m, "anthropic_work_queue_depth", id, ""),
                env["depth"].as_f64(),
                "{id} depth"
            );
            assert_eq!(
                value(&m, "anthropic_work_queue_pending", id, ""),
                env["pending"].as_f64(),
                "{id} pending"
            );
            assert_eq!(
                value(&m, "anthropic_work_queue_workers_polling", id, ""),
                env["workers_polling"].as_f64(),
                "{id} workers"
            );
            assert_eq!(
                value(&m, "anthropic_work_leases_expired", id, ""),
                env["expired_leases"].as_f64(),
                "{id} expired leases"
            );
            assert_eq!(env["total"].as_f64(), Some(2500.0));
        }
        // Every metric of the contract is served (the rate-limit gauge only once the API sends its header).
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
            .unwrap();
        for name in docs
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
        {
            // Only when the API sends its header, only with discovery, only on /probe.
            if name == "anthropic_work_exporter_api_ratelimit_remaining"
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
        return;
    }
    panic!("the simulator's state never held still long enough to compare");
}

#[tokio::test]
async fn workers_down_drops_workers_polling_to_zero_and_depth_climbs() {
    let s = stack(options(1, 0, 3, 240.0, "steady"), &[]).await;
    let id = s.creds.environments[0].id.clone();
    s.wait_for(Duration::from_secs(30), "workers polling", |m| {
        value(m, "anthropic_work_queue_workers_polling", &id, "").unwrap_or(0.0) > 0.0
    })
    .await;
    s.switch("workers-down").await;
    // The API counts workers that polled in the last 30 s.
    let m = s
        .wait_for(Duration::from_secs(50), "workers_polling 0", |m| {
            value(m, "anthropic_work_queue_workers_polling", &id, "") == Some(0.0)
        })
        .await;
    let depth = value(&m, "anthropic_work_queue_depth", &id, "").unwrap();
    s.wait_for(Duration::from_secs(20), "depth climbing", |m| {
        value(m, "anthropic_work_queue_depth", &id, "").unwrap_or(0.0) > depth + 1.0
    })
    .await;
}

#[tokio::test]
async fn killing_the_upstream_turns_up_to_zero_and_recovery_is_automatic() {
    let s = stack(
        options(2, 50, 0, 0.0, "steady"),
        &["--refresh.timeout", "2s"],
    )
    .await;
    let id = s.creds.environments[0].id.clone();
    s.wait_for(Duration::from_secs(20), "up", |m| {
        value(m, "anthropic_work_up", &id, "") == Some(1.0)
    })
    .await;
    s.switch("api-down").await;
    let m = s
        .wait_for(Duration::from_secs(30), "up 0", |m| {
            value(m, "anthropic_work_up", &id, "") == Some(0.0)
        })
        .await;
    assert!(m.contains("anthropic_work_exporter_refresh_failures_total{environment_id=\""));
    s.switch("steady").await;
    s.wait_for(Duration::from_secs(30), "up again", |m| {
        value(m, "anthropic_work_up", &id, "") == Some(1.0)
    })
    .await;
}
