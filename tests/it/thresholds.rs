//! Per-environment alert thresholds: served as `anthropic_work_alert_threshold`
//! only where the config file sets them (an environment's own block over the
//! top-level one), with the environment's labels; shown on the drill-down page
//! with their source; and the whole path from a config file to `/metrics` and
//! the page, with the binary against the simulator over real HTTP.

use super::exposition::{context, store, NOW};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use work_exporter::config::RenderOptions;
use work_exporter::config::{ThresholdSet, Thresholds};
use work_exporter::metrics::{render_environments, RenderContext};

fn block(yaml: &str) -> BTreeMap<String, serde_yaml_ng::Value> {
    serde_yaml_ng::from_str(yaml).unwrap()
}

/// Top-level `queue_lag_warning: 5m, backlog_depth: 100`; `env_a` overrides
/// the warning with 1m and adds `stuck_stopping: 10m`.
pub(crate) fn thresholds() -> Thresholds {
    let mut t = Thresholds {
        defaults: ThresholdSet::parse(
            "thresholds",
            &block("{queue_lag_warning: 5m, backlog_depth: 100}"),
        )
        .unwrap(),
        ..Default::default()
    };
    let own = ThresholdSet::parse(
        "env_a",
        &block("{queue_lag_warning: 1m, stuck_stopping: 10m}"),
    )
    .unwrap();
    t.add_environment("env_a", "env_a", own).unwrap();
    t
}

pub(crate) fn with_thresholds(ctx: RenderContext, thresholds: Thresholds) -> RenderContext {
    RenderContext {
        options: Arc::new(RenderOptions {
            thresholds: Arc::new(thresholds),
            ..RenderOptions::default()
        }),
        ..ctx
    }
}

/// The lines of the threshold family in a text exposition.
fn family(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("anthropic_work_alert_threshold"))
        .collect()
}

#[test]
fn no_threshold_in_the_file_serves_no_threshold_family() {
    let text = render_environments(&store(), &context("http://x"));
    assert!(family(&text).is_empty(), "{text}");
}

#[test]
fn an_environments_own_threshold_beats_the_top_level_and_carries_its_labels() {
    let text = render_environments(
        &store(),
        &with_thresholds(context("http://x"), thresholds()),
    );
    let series = |id: &str, team: &str, t: &str, v: &str| {
        format!("anthropic_work_alert_threshold{{environment_id=\"{id}\",team=\"{team}\",threshold=\"{t}\"}} {v}")
    };
    let mut want = vec![
        "# HELP anthropic_work_alert_threshold Alert thresholds set for the environment in the exporter's config file (its own, or the file's top-level thresholds), in base units; the alert rules use their own default for a threshold not served.".to_string(),
        "# TYPE anthropic_work_alert_threshold gauge".to_string(),
        series("env_a", "core", "queue_lag_warning_seconds", "60"),
        series("env_a", "core", "backlog_depth_items", "100"),
        series("env_a", "core", "stuck_stopping_seconds", "600"),
    ];
    // No block of their own (env_c never refreshed: thresholds are configuration).
    for id in ["env_b", "env_c"] {
        want.push(series(id, "", "queue_lag_warning_seconds", "300"));
        want.push(series(id, "", "backlog_depth_items", "100"));
    }
    assert_eq!(family(&text), want);
    super::exposition::promtool_check(&text);
}

#[test]
fn an_environment_block_alone_serves_that_environment_only() {
    let mut t = Thresholds::default();
    let own = ThresholdSet::parse("env_b", &block("{pending: 0}")).unwrap();
    t.add_environment("env_b", "env_b", own).unwrap();
    let text = render_environments(&store(), &with_thresholds(context("http://x"), t));
    assert_eq!(
        family(&text)[2..],
        ["anthropic_work_alert_threshold{environment_id=\"env_b\",team=\"\",threshold=\"pending_items\"} 0"]
    );
}

#[test]
fn the_drilldown_shows_every_threshold_with_its_source() {
    let (store, t) = (store(), thresholds());
    let map = store.read();
    let json = work_exporter::pages::drilldown::json(&map["env_a"], NOW, 90_000, &t);
    let rows: Vec<(String, Option<f64>, String)> = json["alert_thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["threshold"].as_str().unwrap().into(),
                r["value"].as_f64(),
                r["source"].as_str().unwrap().into(),
            )
        })
        .collect();
    let row = |t: &str, v: Option<f64>, s: &str| (t.to_string(), v, s.to_string());
    assert_eq!(
        rows,
        vec![
            row("queue_lag_warning_seconds", Some(60.0), "environment"),
            row("queue_lag_critical_seconds", None, "rules' default"),
            row("backlog_depth_items", Some(100.0), "exporter default"),
            row("pending_items", None, "rules' default"),
            row("stuck_stopping_seconds", Some(600.0), "environment"),
            row("time_to_drain_seconds", None, "rules' default"),
            row("stale_heartbeat_seconds", None, "rules' default"),
        ]
    );
    let html = work_exporter::pages::drilldown::html(&map["env_a"], NOW, 90_000, &t);
    assert!(html.contains("<h2>Alert thresholds</h2>"), "{html}");
    assert!(
        html.contains(
            "<td><code>queue_lag_warning_seconds</code></td><td>60</td><td>environment</td>"
        ),
        "{html}"
    );
    assert!(
        html.contains(
            "<td><code>backlog_depth_items</code></td><td>100</td><td>exporter default</td>"
        ),
        "{html}"
    );
    assert!(
        html.contains("<td><code>pending_items</code></td><td>-</td><td>rules&#39; default</td>"),
        "{html}"
    );
}

/// The exporter binary, stopped when dropped.
struct Exporter(std::process::Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the binary with `config` (keys in `ENV_KEY_0`, `ENV_KEY_1`); its base URL once it serves.
fn start_exporter(config: &std::path::Path, creds: &work_sim::Credentials) -> (Exporter, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.base-url",
            &creds.base_url,
        ])
        .arg("--config.file")
        .arg(config)
        .env("ENV_KEY_0", &creds.environments[0].key)
        .env("ENV_KEY_1", &creds.environments[1].key)
        .env_remove("ANTHROPIC_API_KEY")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let exporter = Exporter(child);
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(at) = line.split(' ').find_map(|f| f.strip_prefix("address=")) {
            return (exporter, format!("http://{at}"));
        }
    }
    panic!("the exporter stopped before serving");
}

/// A simulator of two environments with three items each and no workers.
async fn start_sim(shutdown: &tokio_util::sync::CancellationToken) -> work_sim::RunningSim {
    let opts = work_sim::SimOptions {
        environments: 2,
        items_per_environment: 3,
        ..work_sim::SimOptions::loopback()
    };
    work_sim::start(opts, shutdown.clone()).await.unwrap()
}

/// Top-level `queue_lag_critical: 30m, backlog_depth: 500`; `a` (label
/// `tier: prod`) has its own warning 1m and critical 5m; `b` none.
fn write_config(dir: &tempfile::TempDir, a: &str, b: &str) -> std::path::PathBuf {
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "thresholds: {{queue_lag_critical: 30m, backlog_depth: 500}}\n\
             environments:\n\
             \x20 - id: {a}\n    key: {{env: ENV_KEY_0}}\n    labels: {{tier: prod}}\n\
             \x20   thresholds: {{queue_lag_warning: 1m, queue_lag_critical: 5m}}\n\
             \x20 - id: {b}\n    key: {{env: ENV_KEY_1}}\n"
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_from_a_config_file_reach_metrics_and_the_drilldown_over_http() {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = start_sim(&shutdown).await;
    let (a, b) = (
        &sim.credentials.environments[0].id,
        &sim.credentials.environments[1].id,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, a, b);
    let (_exporter, url) = start_exporter(&config, &sim.credentials);
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = |id: &str, tier: &str, t: &str, v: &str| {
        format!("anthropic_work_alert_threshold{{environment_id=\"{id}\",tier=\"{tier}\",threshold=\"{t}\"}} {v}")
    };
    let of_a = [
        series(a, "prod", "queue_lag_warning_seconds", "60"),
        series(a, "prod", "queue_lag_critical_seconds", "300"),
        series(a, "prod", "backlog_depth_items", "500"),
    ];
    let of_b = [
        series(b, "", "queue_lag_critical_seconds", "1800"),
        series(b, "", "backlog_depth_items", "500"),
    ];
    // Environments in id order, as every family is written.
    let want = match a < b {
        true => [&of_a[..], &of_b[..]].concat(),
        false => [&of_b[..], &of_a[..]].concat(),
    };
    assert_eq!(family(&metrics)[2..], want, "{metrics}");
    let page: serde_json::Value = reqwest::get(format!("{url}/environments/{b}?format=json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sources: Vec<&str> = page["alert_thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    let (d, r) = ("exporter default", "rules' default");
    assert_eq!(sources, [r, d, d, r, r, r, r]);
    let html = reqwest::get(format!("{url}/environments/{a}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(
            "<td><code>queue_lag_critical_seconds</code></td><td>300</td><td>environment</td>"
        ),
        "{html}"
    );
    shutdown.cancel();
}
