//! A recording as a `promtool test rules` file whose every check expects no
//! alert: promtool's virtual clock evaluates the shipped rules every 15 s,
//! and its report of each unexpected alert says which fired, and when.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::record::Recording;

/// Firing (not pending) alerts: name -> (severity, seconds at which it fired).
pub type Firing = BTreeMap<String, (String, Vec<u64>)>;

/// The names of every alert in a rules file (`- alert: Name` lines).
pub fn alert_names(rules: &str) -> Vec<String> {
    let mut names: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The rule groups of a rules file, recording groups last. Real Prometheus
/// runs each group on its own offset, so an alert may read a recorded series
/// up to one evaluation old; promtool runs them in a random order unless told.
/// Recording last makes every alert read the previous evaluation's recording:
/// the slow case, every run alike.
pub fn group_order(rules: &str) -> Vec<String> {
    let mut names: Vec<String> = rules
        .lines()
        .filter_map(|l| l.strip_prefix("- name: "))
        .map(|n| n.trim().to_string())
        .collect();
    names.sort_by_key(|n| n.ends_with("-recording"));
    names
}

/// The expression whose result must stay empty up to `quiet_until`: every
/// critical alert, pending or firing (promtool's alert checks see only firing ones).
pub const CRITICAL: &str = "last_over_time(ALERTS{severity=\"critical\"}";

/// A promtool file evaluating the rules every `step` seconds over the
/// recording, expecting no alert at any step (promtool reports each one), and,
/// with `quiet_until`, no critical alert even pending before that second.
pub fn test_file(
    rules_path: &Path,
    groups: &[String],
    rec: &Recording,
    alerts: &[String],
    step: u64,
    quiet_until: Option<u64>,
) -> String {
    let mut out = header(rules_path, groups, step);
    let _ = writeln!(out, "tests:");
    input_series(&mut out, rec, step);
    if let Some(t) = quiet_until {
        let _ = writeln!(
            out,
            "    promql_expr_test:\n      - expr: '{CRITICAL}[{t}s])'\n        eval_time: {t}s\n        exp_samples: []"
        );
    }
    let _ = writeln!(out, "    alert_rule_test:");
    for i in 0..rec.scrapes {
        for alert in alerts {
            let _ = writeln!(
                out,
                "      - eval_time: {}s\n        alertname: {alert}\n        exp_alerts: []",
                i as u64 * step
            );
        }
    }
    out
}

/// The head of a promtool file: the rules, evaluated every `step` seconds
/// in `groups`' order.
pub fn header(rules_path: &Path, groups: &[String], step: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rule_files:\n  - '{}'\nevaluation_interval: {step}s\ngroup_eval_order:",
        rules_path.display()
    );
    for g in groups {
        let _ = writeln!(out, "  - {g}");
    }
    out
}

/// One test's interval and its input series: the recording, a sample every
/// `step` seconds, `stale` where a series vanished, `_` where it was absent.
pub fn input_series(out: &mut String, rec: &Recording, step: u64) {
    let _ = writeln!(out, "  - interval: {step}s\n    input_series:");
    for (name, values) in &rec.series {
        let values: Vec<&str> = values
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(v) => v.as_str(),
                None if rec.stale.contains(&(name.clone(), i)) => "stale",
                None => "_",
            })
            .collect();
        let _ = writeln!(
            out,
            "      - series: '{}'\n        values: '{}'",
            name.replace('\'', "''"),
            values.join(" ")
        );
    }
}

/// Runs promtool on the file: the alerts it reports as firing, and the
/// critical alerts it found pending or firing before `quiet_until` (its
/// report, empty when none).
pub fn firing(promtool: &str, file: &Path) -> Result<(Firing, String), String> {
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {promtool}: {e} (Debian: apt-get install prometheus)"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let quiet = critical_report(&text);
    if !out.status.success() && !text.contains("alertname:") && quiet.is_empty() {
        return Err(format!(
            "promtool test rules failed without an alert report:\n{text}"
        ));
    }
    let mut firing = Firing::new();
    let mut current: Option<(String, u64)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("alertname: ") {
            let (name, rest) = rest
                .split_once(", time: ")
                .ok_or(format!("unexpected line {line:?}"))?;
            let time = rest.trim_end_matches([',', ' ']);
            current = Some((
                name.to_string(),
                seconds(time).ok_or(format!("bad time in {line:?}"))?,
            ));
        } else if let (Some((name, at)), Some(i)) = (&current, line.find("severity=\"")) {
            let severity = line[i + 10..].split('"').next().unwrap_or("").to_string();
            let entry = firing.entry(name.clone()).or_insert((severity, Vec::new()));
            if entry.1.last() != Some(at) {
                entry.1.push(*at);
            }
        }
    }
    Ok((firing, quiet))
}

/// promtool's report on the `CRITICAL` expression: its lines up to the next check.
fn critical_report(text: &str) -> String {
    // promtool quotes the expression: look for its start only.
    let Some(at) = text.find(&CRITICAL[..CRITICAL.find('{').unwrap_or(0)]) else {
        return String::new();
    };
    let rest = &text[at..];
    let end = rest.find("alertname:").unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

/// A Prometheus duration as promtool prints it ("1d2h15s", "45s", "0s").
pub fn seconds(text: &str) -> Option<u64> {
    let mut total = 0;
    let mut num = String::new();
    for ch in text.chars() {
        match ch {
            '0'..='9' => num.push(ch),
            'd' | 'h' | 'm' | 's' => {
                let n: u64 = num.parse().ok()?;
                total += n * match ch {
                    'd' => 86_400,
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                num.clear();
            }
            _ => return None,
        }
    }
    num.is_empty().then_some(total)
}

/// Start times of the firing episodes: a new one after any gap in the firing.
pub fn episodes(times: &[u64], step: u64) -> Vec<u64> {
    let mut starts = Vec::new();
    let mut prev: Option<u64> = None;
    for &t in times {
        if prev.is_none_or(|p| t > p + step) {
            starts.push(t);
        }
        prev = Some(t);
    }
    starts
}
