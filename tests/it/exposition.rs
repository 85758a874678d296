//! The exposition three ways: a golden file, `promtool check metrics`, and
//! the metrics documentation compared with a live render.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use work_api::ApiError;
use work_exporter::config::{Cadence, Cadences, Environment, StaleAfter};
use work_exporter::metrics::families::FAMILIES;
use work_exporter::metrics::{
    render_environments, render_probe, ExporterMetrics, RenderContext, Settings,
};
use work_exporter::snapshot::{
    Healthchecks, ItemSample, Lifecycle, QueueSnapshot, Snapshot, Store, WorkSnapshot,
};

pub(crate) const NOW: i64 = 1_767_225_600_000;

fn environment(id: &str, name: &str, labels: &[(&str, &str)]) -> Environment {
    Environment {
        id: id.into(),
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        key: None,
        scope: Default::default(),
        cadence: Default::default(),
    }
}

/// Every data gauge of `env_a` set: waiting work, expired leases, a stop request.
fn snapshot_a() -> Snapshot {
    Snapshot {
        queue: QueueSnapshot {
            depth: 4,
            pending: 1,
            workers_polling: Some(0),
            oldest_queued_at_ms: Some(NOW - 125_000),
        },
        work: WorkSnapshot {
            states: [4, 1, 3, 1, 7],
            unknown_state: 1,
            other_type: 0,
            healthchecks: Healthchecks {
                states: [1, 0, 0, 0, 3],
                oldest_waiting_ms: Some(NOW - 130_000),
                oldest_waiting: vec![],
            },
            heartbeats_ms: vec![NOW - 200_000, NOW - 20_000, NOW - 5_000, NOW - 1_000],
            oldest_stop_requested_ms: Some(NOW - 61_500),
            truncated: false,
            pages: 1,
            oldest_queued: vec![ItemSample {
                work_id: "work_1".into(),
                session_id: "session_1".into(),
                state: "queued",
                created_at_ms: Some(NOW - 125_000),
                acknowledged_at_ms: None,
                started_at_ms: None,
                latest_heartbeat_at_ms: None,
                stop_requested_at_ms: None,
            }],
            oldest_heartbeats: vec![],
            oldest_stopping: vec![],
        },
        queue_finished_at_ms: Some(NOW - 3_000),
        work_finished_at_ms: Some(NOW - 3_000),
    }
}

pub(crate) fn store() -> Store {
    let store = Store::default();
    let envs = [
        environment("env_a", "prod \"eu\"", &[("team", "core")]),
        environment("env_b", "staging", &[]),
        environment("env_c", "never-refreshed", &[]),
    ];
    store.set_environments(&envs);
    let mut life = Lifecycle::default();
    life.queue_wait.observe(0.7);
    life.queue_wait.observe(42.0);
    life.run.observe(600.0);
    life.created = 5;
    life.stopped = 2;
    store.commit_success("env_a", snapshot_a(), &life);
    let b = Snapshot {
        queue: QueueSnapshot {
            depth: 0,
            pending: 0,
            workers_polling: None,
            oldest_queued_at_ms: None,
        },
        queue_finished_at_ms: Some(NOW - 2_000),
        work_finished_at_ms: Some(NOW - 2_000),
        ..Default::default()
    };
    store.commit_success("env_b", b, &Lifecycle::default());
    store.commit_failure(
        "env_b",
        &[Cadence::List],
        &ApiError::RateLimited {
            endpoint: "list_work",
            request_id: "req_1".into(),
            message: "slow".into(),
        },
        NOW - 1_000,
    );
    store
}

/// A text render at `NOW` with a 90 s lease and staleness.
pub(crate) fn context(drilldown_base: &str) -> RenderContext {
    RenderContext {
        now_ms: NOW,
        lease_ttl: Duration::from_secs(90),
        stale_after: StaleAfter::fixed(Duration::from_secs(90)),
        drilldown_base: drilldown_base.into(),
        ..Default::default()
    }
}

fn render() -> String {
    render_environments(&store(), &context("http://exporter.test:9781"))
}

#[test]
fn exposition_matches_the_golden_file() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/environments.prom"
    );
    let got = render();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &got).unwrap();
    }
    let want = std::fs::read_to_string(path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        got, want,
        "exposition changed; if intended, rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}

fn full_render() -> String {
    let m = ExporterMetrics::new(&Settings {
        budget_rps: 5.0,
        cadences: Cadences::every(Duration::from_secs(30)),
        lease_ttl: Duration::from_secs(90),
        discovery: true,
    })
    .unwrap();
    use work_api::RequestObserver;
    m.request_done("stats", "200", 0.01);
    m.ratelimit_remaining(100.0);
    let ctx =
        super::thresholds::with_thresholds(context("http://x"), super::thresholds::thresholds());
    String::from_utf8(m.render(&store(), &ctx)).unwrap()
}

pub(crate) fn promtool_check(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.prom");
    std::fs::write(&p, text).unwrap();
    let out = std::process::Command::new("promtool")
        .arg("check")
        .arg("metrics")
        .stdin(std::fs::File::open(&p).unwrap())
        .output()
        .expect("promtool is installed by scripts/test");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

#[test]
fn promtool_finds_nothing_to_report() {
    promtool_check(&full_render());
}

#[test]
fn promtool_finds_nothing_to_report_in_a_probe() {
    let text =
        String::from_utf8(render_probe(&store(), "env_a", 0.25, &context("http://x"))).unwrap();
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.contains("environment_id=\"env_a\"")
                || l.starts_with("anthropic_work_exporter_build_info{")),
        "{text}"
    );
    promtool_check(&text);
}

#[test]
fn docs_list_exactly_the_metrics_served() {
    // /metrics (with discovery on) and what /probe adds.
    let probe =
        String::from_utf8(render_probe(&store(), "env_a", 0.25, &context("http://x"))).unwrap();
    let served: BTreeSet<String> = (full_render() + &probe)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|n| !n.starts_with("process_"))
        .map(String::from)
        .collect();
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let documented: BTreeSet<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect();
    assert_eq!(
        served, documented,
        "docs/metrics.md and the live output disagree"
    );
}

/// docs/metrics.md's rows: name → (type, labels, meaning).
fn documented() -> BTreeMap<String, (String, String, String)> {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    docs.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells.first()?.strip_suffix('`')?;
            let cell = |i: usize| {
                cells
                    .get(i)
                    .map_or(String::new(), |c| c.trim_end_matches(" |").to_string())
            };
            Some((name.to_string(), (cell(1), cell(2), cell(3))))
        })
        .collect()
}

#[test]
fn docs_list_exactly_the_families_of_the_table_with_their_type_and_labels() {
    let docs = documented();
    let mut per_environment = BTreeSet::new();
    for f in FAMILIES {
        let labels = std::iter::once("environment_id").chain(f.labels.iter().copied());
        let want = (
            f.kind.as_str().to_string(),
            labels.collect::<Vec<_>>().join(", "),
        );
        let row = docs
            .get(f.name)
            .map(|(kind, labels, _)| (kind.clone(), labels.clone()));
        assert_eq!(
            row,
            Some(want),
            "docs/metrics.md row of {} (type, labels)",
            f.name
        );
        per_environment.insert(f.name.to_string());
    }
    // Every documented per-environment family is in the table, but for what
    // only `/probe` adds to its answer (not a family of the environment's state).
    let documented: BTreeSet<String> = docs
        .iter()
        .filter(|(_, (_, labels, meaning))| {
            labels.starts_with("environment_id")
                && !meaning.starts_with("only in a `/probe` answer")
        })
        .map(|(name, _)| name.clone())
        .collect();
    assert_eq!(
        documented, per_environment,
        "docs/metrics.md and metrics/families.rs disagree"
    );
}

#[test]
fn a_never_refreshed_environment_has_up_zero_and_no_data_series() {
    let text = render();
    assert!(text.contains("anthropic_work_up{environment_id=\"env_c\",team=\"\"} 0"));
    assert!(!text
        .lines()
        .any(|l| l.starts_with("anthropic_work_queue_depth{environment_id=\"env_c\"")));
    let _ = Arc::new(());
}
