//! The table of docs/runbooks.md from promtool's firing times, and the limits
//! each drill must meet.

use std::time::Duration;

use crate::promtool::{episodes, Firing};
use crate::{Drill, BEGIN, END, WARMUP};

fn minutes(s: u64) -> String {
    format!("{}m {:02}s", s / 60, s % 60)
}

/// (alert, seconds after the fault) for every firing episode that began after it.
fn after_fault(firing: &Firing, fault_at: u64, step: u64) -> Vec<(String, u64)> {
    firing
        .iter()
        .flat_map(|(name, (_, times))| {
            episodes(times, step)
                .into_iter()
                .filter(|&t| t >= fault_at)
                .map(move |t| (name.clone(), t - fault_at))
        })
        .collect()
}

/// "Name (3m 00s), ..." for every episode but those of `skip`.
fn others(after: &[(String, u64)], skip: &str) -> String {
    let mut names: Vec<String> = after
        .iter()
        .filter(|(n, _)| n != skip)
        .map(|(n, t)| {
            format!(
                "{} ({})",
                n.trim_start_matches("AnthropicWork"),
                minutes(*t)
            )
        })
        .collect();
    names.dedup();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// One table row, and the limits the drill missed.
pub fn row(drill: &Drill, firing: &Firing, wait: Duration) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let before: Vec<&String> = firing
        .iter()
        .filter(|(_, (_, times))| times.iter().any(|&t| t < drill.fault_at()))
        .map(|(n, _)| n)
        .collect();
    if !before.is_empty() {
        problems.push(format!(
            "{}: alerts fired during the steady warm-up: {before:?}",
            drill.name
        ));
    }
    let after = after_fault(firing, drill.fault_at(), drill.step());
    problems.extend(slow_burn_paged(drill, firing));
    let line = match drill.expect {
        Some((alert, limit)) => {
            alert_row(&drill.label(), alert, limit, &after, wait, &mut problems)
        }
        None => quiet_row(drill, firing, &after, &mut problems),
    };
    (line, problems)
}

/// An SLO drill whose alert is a ticket (a slow burn) must not page: the
/// point of the burn-rate pairs is that a slow burn does not wake anyone.
fn slow_burn_paged(drill: &Drill, firing: &Firing) -> Option<String> {
    let (alert, _) = drill.expect?;
    let ticket = firing.get(alert).is_some_and(|(sev, _)| sev == "warning");
    if drill.history.is_zero() || !ticket {
        return None;
    }
    let pages: Vec<&String> = firing
        .iter()
        .filter(|(_, (sev, times))| {
            sev == "critical" && times.iter().any(|&t| t >= drill.fault_at())
        })
        .map(|(n, _)| n)
        .collect();
    (!pages.is_empty()).then(|| format!("{}: a slow burn paged: {pages:?}", drill.name))
}

/// A fault drill: when its alert fired, and whether it was in time.
fn alert_row(
    name: &str,
    alert: &str,
    limit: Option<Duration>,
    after: &[(String, u64)],
    wait: Duration,
    problems: &mut Vec<String>,
) -> String {
    let first = after
        .iter()
        .filter(|(n, _)| n == alert)
        .map(|(_, t)| *t)
        .min();
    let sent = first.map(|t| t + wait.as_secs());
    match (sent, limit) {
        (None, _) => problems.push(format!("{name}: {alert} never fired")),
        (Some(t), Some(l)) if t > l.as_secs() => problems.push(format!(
            "{name}: {alert} reached the receiver after {} (limit {})",
            minutes(t),
            minutes(l.as_secs())
        )),
        _ => {}
    }
    let cell = |t: Option<u64>| t.map_or("never".to_string(), minutes);
    format!(
        "| {name} | {alert} | {} | {} | {} | {} |",
        cell(first),
        cell(sent),
        limit.map_or("-".into(), |l| format!("≤ {}", minutes(l.as_secs()))),
        others(after, alert)
    )
}

/// A load that must not page: the pages (critical episodes) in the run, and
/// CapacityExhausted firing once at most (it flapped before it was steadied).
fn quiet_row(
    drill: &Drill,
    firing: &Firing,
    after: &[(String, u64)],
    problems: &mut Vec<String>,
) -> String {
    let run_min = drill.run.as_secs() / 60;
    let step = drill.step();
    let pages: usize = firing
        .values()
        .filter(|(severity, _)| severity == "critical")
        .map(|(_, times)| episodes(times, step).len())
        .sum();
    if pages > 0 {
        problems.push(format!("{}: {pages} page(s) in {run_min} min", drill.name));
    }
    let capacity = firing
        .get("AnthropicWorkCapacityExhausted")
        .map_or(0, |(_, t)| episodes(t, step).len());
    if capacity > 1 {
        problems.push(format!(
            "{}: CapacityExhausted flapped ({capacity} firing episodes)",
            drill.name
        ));
    }
    format!(
        "| {} for {run_min} min{} | pages (critical) | **{pages}** | - | 0 | warnings: {} |",
        drill.name,
        drill.cadence_note(),
        others(after, "")
    )
}

pub fn table(rows: &[String], wait: Duration) -> String {
    format!(
        "{BEGIN}\n| drill (fault after {} min steady; scrape and evaluation every 15 s unless it says 30 s) | alert | firing in Prometheus after | notification sent after (+ group_wait {}s) | limit | other alerts firing (after) |\n|---|---|---|---|---|---|\n{}\n{END}\n",
        WARMUP.as_secs() / 60,
        wait.as_secs(),
        rows.join("\n")
    )
}
