//! Thresholds read from a whole config file: served values, overrides, and
//! every bad case stopping the program with the field and the fix.

use super::*;
use crate::cli::ServeArgs;

use crate::config::Config;

/// The configuration of a file with `yaml` appended to one environment's
/// entry (`env_a`, indented under it) and `top` at the top level.
fn load(top: &str, env_a: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    let text = format!(
        "{top}\nenvironments:\n  - id: env_a\n    key: {{env: KEY}}\n{env_a}\n  - id: env_b\n    key: {{env: KEY}}\n"
    );
    std::fs::write(&path, text).unwrap();
    let args = ServeArgs {
        config_file: Some(path),
        ..<crate::cli::Cli as clap::Parser>::parse_from(["anthropic-work-exporter"]).serve
    };
    Config::from_args(&args, &|name| (name == "KEY").then(|| "k".to_string()))
}

fn served(cfg: &Config, id: &str) -> Vec<(&'static str, f64, &'static str)> {
    cfg.exposition
        .thresholds
        .served(id)
        .map(|s| (s.threshold.label(), s.value, s.source.as_str()))
        .collect()
}

#[test]
fn only_thresholds_set_in_the_file_are_served_and_an_environment_overrides_the_top_level() {
    let cfg = load(
        "thresholds: {queue_lag_warning: 5m, queue_lag_critical: 30m, backlog_depth: 100}",
        "    thresholds: {queue_lag_warning: 1m, pending: 0, time_to_drain: 2h}",
    )
    .unwrap();
    assert_eq!(
        served(&cfg, "env_a"),
        vec![
            ("queue_lag_warning_seconds", 60.0, "environment"),
            ("queue_lag_critical_seconds", 1800.0, "exporter default"),
            ("backlog_depth_items", 100.0, "exporter default"),
            ("pending_items", 0.0, "environment"),
            ("time_to_drain_seconds", 7200.0, "environment"),
        ]
    );
    // No block of its own, or not listed at all (discovered): the top-level block.
    let defaults = vec![
        ("queue_lag_warning_seconds", 300.0, "exporter default"),
        ("queue_lag_critical_seconds", 1800.0, "exporter default"),
        ("backlog_depth_items", 100.0, "exporter default"),
    ];
    assert_eq!(served(&cfg, "env_b"), defaults);
    assert_eq!(served(&cfg, "env_discovered"), defaults);
}

#[test]
fn no_thresholds_block_serves_none() {
    let misplaced = load("", "    stuck_stopping: 1m").unwrap_err();
    assert!(
        misplaced.problem.contains("unknown field `stuck_stopping`"),
        "{misplaced}"
    );
    let cfg = load("", "").unwrap();
    assert_eq!(served(&cfg, "env_a"), vec![]);
    let cfg = load("", "    thresholds: {stuck_stopping: 10m}").unwrap();
    assert_eq!(
        served(&cfg, "env_a"),
        vec![("stuck_stopping_seconds", 600.0, "environment")]
    );
    assert_eq!(served(&cfg, "env_b"), vec![]);
}

/// Loading fails naming `field`, with `problem` and `fix` in the message.
fn fails(top: &str, env_a: &str, field: &str, problem: &str, fix: &str) {
    let e = load(top, env_a).unwrap_err();
    assert_eq!(e.field, field, "{e}");
    assert!(e.problem.contains(problem), "{e}");
    assert!(e.fix.contains(fix), "{e}");
}

#[test]
fn an_unknown_threshold_names_the_key_and_lists_the_known_ones() {
    fails(
        "thresholds: {queue_lag: 5m}",
        "",
        "thresholds.queue_lag",
        "is not a threshold",
        "queue_lag_warning, queue_lag_critical, backlog_depth, pending, stuck_stopping, time_to_drain",
    );
    fails(
        "",
        "    thresholds: {backlog: 10}",
        "environments[0].thresholds.backlog",
        "is not a threshold",
        "backlog_depth",
    );
}

#[test]
fn durations_must_be_longer_than_zero_and_written_with_a_unit() {
    fails(
        "thresholds: {stuck_stopping: 0s}",
        "",
        "thresholds.stuck_stopping",
        "longer than zero",
        "30s",
    );
    fails(
        "",
        "    thresholds: {time_to_drain: -5m}",
        "environments[0].thresholds.time_to_drain",
        "is not a duration",
        "30s",
    );
    fails(
        "thresholds: {queue_lag_critical: 300}",
        "",
        "thresholds.queue_lag_critical",
        "300 is not a duration",
        "90s, 5m or 1h",
    );
}

#[test]
fn item_counts_must_be_whole_and_not_negative() {
    fails(
        "thresholds: {backlog_depth: -1}",
        "",
        "thresholds.backlog_depth",
        "-1 is not a number of work items",
        "whole number",
    );
    fails(
        "",
        "    thresholds: {pending: 2.5}",
        "environments[0].thresholds.pending",
        "2.5 is not a number of work items",
        "0 or more",
    );
    fails(
        "thresholds: {pending: 10m}",
        "",
        "thresholds.pending",
        "10m is not a number of work items",
        "such as 100",
    );
}

#[test]
fn a_warning_later_than_the_critical_threshold_is_refused_where_it_is_served() {
    fails(
        "thresholds: {queue_lag_warning: 10m, queue_lag_critical: 5m}",
        "",
        "thresholds.queue_lag_warning",
        "600 s is longer than queue_lag_critical (300 s)",
        "at most queue_lag_critical",
    );
    // Each block is fine alone; together they would serve warning > critical.
    fails(
        "thresholds: {queue_lag_warning: 10m}",
        "    thresholds: {queue_lag_critical: 2m}",
        "environments[0].thresholds.queue_lag_warning",
        "600 s is longer than queue_lag_critical (120 s)",
        "at most queue_lag_critical",
    );
    assert!(load(
        "thresholds: {queue_lag_warning: 1m, queue_lag_critical: 1m}",
        ""
    )
    .is_ok());
}

#[test]
fn an_environment_label_may_not_take_the_name_of_a_label_the_exporter_sets() {
    // A configured `threshold` label would give the threshold family two.
    fails(
        "",
        "    labels: {threshold: high}",
        "environments[0].labels",
        "set by the exporter itself",
        "another label name",
    );
    for family in crate::metrics::families::FAMILIES {
        for label in family.labels {
            assert!(
                crate::config::file::RESERVED_LABELS.contains(label),
                "{label} of {} is not reserved in config/file.rs",
                family.name
            );
        }
    }
}

#[test]
fn stale_heartbeat_is_a_duration_per_environment_defaulting_to_three_missed_heartbeats() {
    let cfg = load(
        "thresholds: {stale_heartbeat: 2m}",
        "    thresholds: {stale_heartbeat: 45s}",
    )
    .unwrap();
    let t = &cfg.exposition.thresholds;
    assert_eq!(
        (t.stale_heartbeat_ms("env_a"), t.stale_heartbeat_ms("env_b")),
        (45_000, 120_000)
    );
    assert_eq!(
        served(&cfg, "env_a"),
        vec![("stale_heartbeat_seconds", 45.0, "environment")]
    );
    let none = load("", "").unwrap();
    assert_eq!(
        none.exposition.thresholds.stale_heartbeat_ms("env_a"),
        90_000
    );
    assert!(
        served(&none, "env_a").is_empty(),
        "the default is not served: the rules have their own"
    );
    let err = load("thresholds: {stale_heartbeat: 3}", "")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("thresholds.stale_heartbeat") && err.contains("duration"),
        "{err}"
    );
}

#[test]
fn the_pick_up_slo_keys_sit_beside_the_thresholds_and_override_the_flags() {
    let cfg = load(
        "thresholds: {pickup_latency: 2m, backlog_depth: 100}",
        "    thresholds: {pickup_objective: 0.995, pickup_window: 7d}",
    )
    .unwrap();
    let slos = &cfg.exposition.thresholds.pickup;
    let a = slos.get("env_a");
    assert_eq!(
        (a.latency_seconds, a.objective, a.window_seconds),
        (120.0, 0.995, 7 * 86_400)
    );
    let b = slos.get("env_b");
    assert_eq!(
        (b.latency_seconds, b.objective, b.window_seconds),
        (120.0, 0.99, 28 * 86_400)
    );
    // The SLO keys are not alert thresholds: only backlog_depth is served as one.
    assert_eq!(
        served(&cfg, "env_b"),
        [("backlog_depth_items", 100.0, "exporter default")]
    );
    let e = load("", "    thresholds: {pickup_objective: 1.0}").unwrap_err();
    assert_eq!(e.field, "environments[0].thresholds.pickup_objective");
    let e = load("thresholds: {pickup_window: 90d}", "").unwrap_err();
    assert_eq!(e.field, "thresholds.pickup_window");
}
