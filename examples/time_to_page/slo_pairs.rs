//! `--slo-pairs`: the pick-up SLO's four burn-rate window pairs, each shown
//! firing on its own, and the minimum-traffic guard holding, on series
//! recorded from the simulator: days of them, history included (no
//! extrapolation, unlike the time-to-page table's SLO rows).
//!
//! Each drill shapes the traffic with the simulator's scenario knobs
//! (`POST /_sim/scenario`: arrivals, `slow-pickups`' late share); the
//! exporter refreshes every 30 simulated seconds (stopped items stay listed
//! only 120 s), and one scrape in `step` is kept, promtool evaluating as
//! often. The expectations are written from each drill's design (the
//! comments give the arithmetic, a 99% objective: a 1% budget), never taken
//! from promtool: at chosen times, exactly which `burn_window` of which alert
//! fires, and that nothing fired before the onset.

use crate::promtool;
use crate::record::{Answer, Recording, REFRESH};
use crate::rig::{Rig, Setup};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use work_exporter::cli::HistogramMode;

const MIN: u64 = 60;
const HOUR: u64 = 60 * MIN;
const FAST: &str = "AnthropicWorkPickupBudgetFastBurn";
const SLOW: &str = "AnthropicWorkPickupBudgetSlowBurn";
/// The SLO alerts firing now, one sample per (alert, window pair).
const FIRING: &str = "sort(count by (alertname, burn_window) (ALERTS{alertname=~\"AnthropicWorkPickupBudget.*\",alertstate=\"firing\"}))";

/// A scenario switch (with its knobs) at a time after the start.
struct Phase {
    at: u64,
    switch: Value,
}

enum Expect {
    /// Exactly these (alert, burn_window) firing at the time.
    Firing(&'static [(&'static str, &'static str)]),
    /// No SLO alert fired from the start up to the time.
    QuietSoFar,
    /// An expression (one sample, no labels) has this value: the guard's premises.
    Value(&'static str, f64),
}

struct Check {
    at: u64,
    expect: Expect,
}

struct Drill {
    name: &'static str,
    /// Arrivals a minute from the start (4 workers).
    arrivals: f64,
    phases: Vec<Phase>,
    run: u64,
    /// Seconds between kept samples and between promtool's evaluations.
    step: u64,
    checks: Vec<Check>,
}

fn slow_pickups(late_one_in: u64) -> Value {
    json!({"scenario": "slow-pickups", "late_one_in": late_one_in})
}

fn drills() -> Vec<Drill> {
    let phase = |at, switch| Phase { at, switch };
    let at = |at, expect| Check { at, expect };
    vec![
        // 20 a minute for a day, then none picked up. 1h passes 14.4% when
        // ~173 of its ~1200 pick-ups are bad, ~10 min in; `for` 2m. At 17.5
        // min: 6h ~330/7200 = 4.6% (< 6%); 1d ~1.1% (< 3%); 3d (the day) passes 1%
        // ~16 min in, firing 15 min later only. Checked at 17.5 min.
        Drill {
            name: "1h/5m alone: pick-ups stop after a steady day",
            arrivals: 20.0,
            phases: vec![phase(24 * HOUR, json!({"scenario": "workers-down"}))],
            run: 24 * HOUR + 20 * MIN,
            // 150 s: three samples in the 5m window, one evaluation past `for`.
            step: 150,
            checks: vec![
                at(24 * HOUR, Expect::QuietSoFar),
                at(24 * HOUR + 17 * MIN + 30, Expect::Firing(&[(FAST, "1h/5m")])),
            ],
        },
        // Two steady days, then one session in ten late (10%: between 6x and
        // 14.4x). 6h passes 6% 3.6 h in; at 4.5 h: 6h 7.5%, 1h 10% (< 14.4%),
        // 1d 1.9% (< 3%), 3d 0.45/52.5 = 0.86% (< 1%).
        Drill {
            name: "6h/30m alone: a tenth of sessions late after two steady days",
            arrivals: 20.0,
            phases: vec![phase(48 * HOUR, slow_pickups(10))],
            run: 52 * HOUR + 30 * MIN,
            step: 5 * MIN,
            checks: vec![
                at(48 * HOUR, Expect::QuietSoFar),
                at(52 * HOUR + 30 * MIN, Expect::Firing(&[(FAST, "6h/30m")])),
            ],
        },
        // Two busy days (30 a minute, all good), then a light day (10 a
        // minute) with one session in twenty late (5%). At 23 h: 2h 5% (> 3%),
        // 1d 690/15600 = 4.4% (> 3%, passed ~20 h in), 6h 5% (< 6%), 3d
        // 690/(13800 + 88200) = 0.68% (< 1%): 3d/6h silent though its 6h burns.
        Drill {
            name: "1d/2h alone: a light day with 5% late after two busy days",
            arrivals: 30.0,
            phases: vec![phase(
                48 * HOUR,
                json!({"scenario": "slow-pickups", "late_one_in": 20, "arrivals_per_minute": 10.0}),
            )],
            run: 71 * HOUR,
            step: 5 * MIN,
            checks: vec![
                at(48 * HOUR, Expect::QuietSoFar),
                at(71 * HOUR, Expect::Firing(&[(SLOW, "1d/2h")])),
            ],
        },
        // Six steady hours, then one session in fifty late (2%: between 1x
        // and 3x). 3d (all 6 + T hours) passes 1% at T = 6 h; at T = 3 h it is
        // 0.67%: quiet; at T = 10 h 1.25%. 2h 2% (< 3%), 1d = 3d (< 3%).
        Drill {
            name: "3d/6h alone: 2% of sessions late after six steady hours",
            arrivals: 20.0,
            phases: vec![phase(6 * HOUR, slow_pickups(50))],
            run: 16 * HOUR,
            step: 5 * MIN,
            checks: vec![
                at(9 * HOUR, Expect::QuietSoFar),
                at(16 * HOUR, Expect::Firing(&[(SLOW, "3d/6h")])),
            ],
        },
        // Three sessions a day, every one left waiting 2 min (bad): every
        // window's ratio is 100% once it holds one, but none holds the
        // guard's 10 judged pick-ups in two days, so nothing fires.
        Drill {
            name: "guard: three sessions a day, all late, for two days",
            arrivals: 3.0 / 1440.0,
            phases: vec![phase(0, slow_pickups(1))],
            run: 48 * HOUR,
            step: 5 * MIN,
            checks: vec![
                at(48 * HOUR, Expect::QuietSoFar),
                at(
                    48 * HOUR,
                    Expect::Value(
                        "max(environment_id:anthropic_work_pickups_error:ratio_rate3d)",
                        1.0,
                    ),
                ),
                at(
                    48 * HOUR,
                    Expect::Value(
                        "count(sum without(outcome) (increase(anthropic_work_pickups_total[3d])) > 0 < 10)",
                        1.0,
                    ),
                ),
            ],
        },
    ]
}

/// The drill's recording (the exporter refreshed every 30 s, one scrape of
/// its `/metrics` kept every `step`) and the recorded environment's id.
async fn record(d: &Drill, histograms: HistogramMode) -> (Recording, String) {
    let rig = Rig::start(Setup {
        arrivals_per_minute: d.arrivals,
        histograms,
        // Plain bodies: gzip on both ends of the loopback was a quarter of
        // the wall time of days of refreshes (debug build), and compression
        // changes no count.
        compression: false,
        ..Setup::default()
    })
    .await;
    let layout = crate::record::Layout::single(Duration::from_secs(d.step));
    let target = &layout.targets[0];
    let mut rec = Recording {
        step_secs: d.step,
        ..Default::default()
    };
    let every = d.step / REFRESH.as_secs();
    let mut t = 0;
    for i in 0..(d.run / REFRESH.as_secs()) + 1 {
        for p in d.phases.iter().filter(|p| p.at == t) {
            rig.switch(p.switch.clone()).await;
        }
        rig.refresh().await;
        if i % every == 0 {
            rec.add_step(&[(target, Some(rig.scrape(Answer::Metrics).await))]);
        }
        rig.advance(REFRESH).await;
        t += REFRESH.as_secs();
    }
    (rec, rig.environment_id().to_string())
}

/// The promtool file of a drill: its recording and its checks.
fn test_file(rules: &Path, groups: &[String], d: &Drill, rec: &Recording) -> String {
    let mut out = promtool::header(rules, groups, d.step);
    let _ = writeln!(out, "tests:");
    promtool::input_series(&mut out, rec, d.step);
    let _ = writeln!(out, "    promql_expr_test:");
    for c in &d.checks {
        let (expr, samples) = match &c.expect {
            Expect::Firing(pairs) => (
                FIRING.to_string(),
                pairs
                    .iter()
                    .map(|(a, w)| (format!("{{alertname=\"{a}\",burn_window=\"{w}\"}}"), 1.0))
                    .collect(),
            ),
            Expect::QuietSoFar => (
                format!("count by (alertname, burn_window) (max_over_time(ALERTS{{alertname=~\"AnthropicWorkPickupBudget.*\",alertstate=\"firing\"}}[{}s]))", c.at),
                Vec::new(),
            ),
            Expect::Value(expr, v) => (expr.to_string(), vec![("{}".to_string(), *v)]),
        };
        let _ = writeln!(
            out,
            "      - expr: '{}'\n        eval_time: {}s\n        exp_samples:{}",
            expr.replace('\'', "''"),
            c.at,
            if samples.is_empty() { " []" } else { "" }
        );
        for (labels, value) in samples {
            let _ = writeln!(
                out,
                "          - labels: '{labels}'\n            value: {value}"
            );
        }
    }
    out
}

/// A check in words, for the report.
fn describe(c: &Check) -> String {
    let when = format!(
        "{}h{:02}m{:02}s",
        c.at / HOUR,
        c.at % HOUR / MIN,
        c.at % MIN
    );
    match &c.expect {
        Expect::Firing(pairs) => format!("at {when} firing exactly {pairs:?}"),
        Expect::QuietSoFar => format!("no SLO alert firing up to {when}"),
        Expect::Value(e, v) => format!("at {when} {e} = {v}"),
    }
}

/// Firing runs of each SLO alert's pairs, from promtool's report on a file
/// that expects no alert at any evaluation: "FastBurn 1h/5m 24h13m-24h20m, ...".
fn timeline(promtool: &str, file: &Path, step: u64) -> String {
    let out = match std::process::Command::new(promtool)
        .args(["test", "rules"])
        .arg(file)
        .output()
    {
        Ok(out) => out,
        Err(e) => return format!("promtool did not run: {e}"),
    };
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let mut times: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    let mut current: Option<(String, u64)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("alertname: ") {
            current = rest.split_once(", time: ").and_then(|(n, t)| {
                let t = promtool::seconds(t.trim_end_matches([',', ' ']))?;
                Some((
                    n.trim_start_matches("AnthropicWorkPickupBudget")
                        .to_string(),
                    t,
                ))
            });
        } else if let (Some((name, t)), Some(i)) = (&current, line.find("burn_window=\"")) {
            let w = line[i + 13..].split('"').next().unwrap_or("").to_string();
            let v = times.entry((name.clone(), w)).or_default();
            if v.last() != Some(t) {
                v.push(*t);
            }
        }
    }
    let hm = |s: u64| format!("{}h{:02}m", s / HOUR, s % HOUR / MIN);
    let parts: Vec<String> = times
        .iter()
        .flat_map(|((a, w), ts)| {
            runs(ts, step)
                .into_iter()
                .map(move |(from, to)| format!("{a} {w} {}-{}", hm(from), hm(to)))
        })
        .collect();
    match parts.is_empty() {
        true => "none fired".into(),
        false => parts.join(", "),
    }
}

/// Sorted times as (first, last) runs with no gap longer than `step`.
fn runs(times: &[u64], step: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &t in times {
        match out.last_mut() {
            Some((_, last)) if t <= *last + step => *last = t,
            _ => out.push((t, t)),
        }
    }
    out
}

/// The SLO rule groups (`anthropic-work-slo*`) of a rules file, as written
/// there, alone in a rules file: the other groups, given none of their
/// inputs, would only cost promtool time (two fifths of it).
fn slo_groups(rules: &str) -> String {
    let mut out = String::from("groups:\n");
    let mut in_slo = false;
    for line in rules.lines() {
        if let Some(group) = line.strip_prefix("- name: ") {
            in_slo = group.trim().starts_with("anthropic-work-slo");
        }
        if in_slo {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The metric names a rules file mentions: the only inputs its rules read.
fn names_in(rules: &str) -> BTreeSet<String> {
    rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("anthropic_work_"))
        .map(String::from)
        .collect()
}

/// Where and how a drill is replayed.
pub struct Replay<'a> {
    pub promtool: &'a str,
    /// The rules file's text.
    pub rules_text: &'a str,
    /// Also report when each pair fired (a second promtool pass per drill).
    pub timeline: bool,
    pub dir: &'a Path,
}

/// The rules promtool reads (the SLO groups) and their evaluation order.
struct Rules {
    path: PathBuf,
    groups: Vec<String>,
}

/// The pick-up series of a recording, its environment's id (random in every
/// simulator) written `ENV`.
fn pickup_series(rec: &Recording, env: &str) -> BTreeMap<String, Vec<Option<String>>> {
    rec.series
        .iter()
        .filter(|(n, _)| n.starts_with("anthropic_work_pickup"))
        .map(|(n, v)| (n.replace(env, "ENV"), v.clone()))
        .collect()
}

/// Runs every drill; the problems found (none: passed).
pub async fn run(ctx: &Replay<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let slo_rules = slo_groups(ctx.rules_text);
    let names = names_in(&slo_rules);
    let rules = Rules {
        path: ctx.dir.join("slo-rules.yml"),
        groups: promtool::group_order(&slo_rules),
    };
    std::fs::write(&rules.path, &slo_rules).expect("write the SLO rules");
    for (k, d) in drills().iter().enumerate() {
        let started = std::time::Instant::now();
        let (mut rec, env) = record(d, HistogramMode::default()).await;
        let recorded = started.elapsed();
        if k == 3 {
            // The SLO rules read counters only: with native histograms (text
            // exposition: no buckets) they must be the same, sample for sample.
            let (native, other) = record(d, HistogramMode::Native).await;
            let (a, b) = (pickup_series(&rec, &env), pickup_series(&native, &other));
            match a == b && !a.is_empty() {
                true => eprintln!("slo-pairs: {}: the {} pick-up series are the same with --metrics.histograms native", d.name, a.len()),
                false => problems.push(format!("{}: --metrics.histograms native serves other pick-up series than the default", d.name)),
            }
        }
        rec.series
            .retain(|s, _| names.contains(s.split('{').next().unwrap_or(s)));
        let (passed, report) = replay(ctx, &rules, k, d, &rec);
        // The firing runs cost a second promtool pass: on request, or to explain a failure.
        let fired = match ctx.timeline || !passed {
            true => {
                let file = ctx.dir.join(format!("slo-pair-{k}-timeline.test.yml"));
                let alerts = [FAST.to_string(), SLOW.to_string()];
                let t =
                    promtool::test_file(&rules.path, &rules.groups, &rec, &alerts, d.step, None);
                std::fs::write(&file, t).expect("write promtool file");
                format!(
                    "; fired (time from the start): {}",
                    timeline(ctx.promtool, &file, d.step)
                )
            }
            false => String::new(),
        };
        eprintln!(
            "slo-pairs: {}: {} ({:.1}s recording, {:.1}s in all){fired}",
            d.name,
            if passed { "ok" } else { "FAILED" },
            recorded.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        if !passed {
            let checks: Vec<String> = d.checks.iter().map(describe).collect();
            problems.push(format!(
                "{}: expected {}{fired}; promtool:\n{report}",
                d.name,
                checks.join("; ")
            ));
        }
    }
    problems
}

/// Runs promtool on the drill's checks: whether they passed, and its report.
fn replay(ctx: &Replay<'_>, rules: &Rules, k: usize, d: &Drill, rec: &Recording) -> (bool, String) {
    let file = ctx.dir.join(format!("slo-pair-{k}.test.yml"));
    let test = test_file(&rules.path, &rules.groups, d, rec);
    std::fs::write(&file, test).expect("write promtool file");
    match std::process::Command::new(ctx.promtool)
        .args(["test", "rules"])
        .arg(&file)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text.trim().to_string())
        }
        Err(e) => (false, format!("cannot run {}: {e}", ctx.promtool)),
    }
}
