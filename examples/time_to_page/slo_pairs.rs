//! `--slo-pairs`: the pick-up SLO's four burn-rate window pairs, each shown
//! firing on its own, and the minimum-traffic guard holding, on series
//! recorded from the simulator: days of them, history included (no
//! extrapolation, unlike the time-to-page table's SLO rows).
//!
//! Each drill shapes the traffic with the simulator's scenario knobs
//! (`POST /_sim/scenario`: arrivals, `slow-pickups`' late share); the
//! exporter walks the list every 60 simulated seconds (30 where the step
//! asks; stopped items stay listed 120 s), and one scrape in `step` is kept,
//! promtool evaluating as often. The expectations are written from each drill's design (the
//! comments give the arithmetic, a 99% objective: a 1% budget), never taken
//! from promtool: at chosen times, exactly which `burn_window` of which alert
//! fires, and that nothing fired before the onset.

use crate::promtool;
use crate::record::{Answer, Recording, REFRESH};
use crate::rig::{Rig, Setup};
use crate::slo_drills::{drills, Check, Drill, Expect, FAST, FIRING, HOUR, MIN, SLOW};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use work_exporter::cli::HistogramMode;

/// The drill's recording (the exporter refreshed every `walk_every`, one
/// scrape of its `/metrics` kept every `step`) and the recorded environment's id.
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
    let walk = walk_every(d);
    let every = d.step / walk;
    let mut t = 0;
    for i in 0..(d.run / walk) + 1 {
        for p in d.phases.iter().filter(|p| p.at == t) {
            rig.switch(p.switch.clone()).await;
        }
        rig.refresh().await;
        if i % every == 0 {
            rec.add_step(&[(target, Some(rig.scrape(Answer::Metrics).await))]);
        }
        rig.advance(Duration::from_secs(walk)).await;
        t += walk;
    }
    (rec, rig.environment_id().to_string())
}

/// Seconds between the exporter's walks in a drill: 60 where the step
/// allows it, else the default 30. Stopped items stay listed 120 s, so a
/// 60 s walk still sees every item, and the SLI judges each from its own
/// timestamps, not from when it was seen: the counts are the same, for half
/// the refreshes (the fixed cost of a refresh is most of a drill's time).
fn walk_every(d: &Drill) -> u64 {
    match d.step % 60 {
        0 => 60,
        _ => REFRESH.as_secs(),
    }
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
    let slo_rules = slo_groups(ctx.rules_text);
    let names = names_in(&slo_rules);
    let rules = Rules {
        path: ctx.dir.join("slo-rules.yml"),
        groups: promtool::group_order(&slo_rules),
    };
    std::fs::write(&rules.path, &slo_rules).expect("write the SLO rules");
    let drills = drills();
    // Each drill on its own thread and runtime: its own simulator, exporter
    // and paused clock, nothing shared. Days of simulated traffic make this
    // the suite's longest wait; the drills' cores, not their queue, set it.
    let results: Vec<(String, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = drills
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let (rules, names) = (&rules, &names);
                scope.spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .start_paused(true)
                        .build()
                        .expect("a runtime for the drill")
                        .block_on(one(ctx, rules, names, k, d))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a drill's thread"))
            .collect()
    });
    let mut problems = Vec::new();
    for (line, p) in results {
        eprintln!("{line}");
        problems.extend(p);
    }
    problems
}

/// One drill recorded and replayed: its report line and its problems.
async fn one(
    ctx: &Replay<'_>,
    rules: &Rules,
    names: &BTreeSet<String>,
    k: usize,
    d: &Drill,
) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let started = std::time::Instant::now();
    let (mut rec, env) = record(d, HistogramMode::default()).await;
    let recorded = started.elapsed();
    if d.also_native {
        problems.extend(same_with_native(d, &rec, &env).await);
    }
    rec.series
        .retain(|s, _| names.contains(s.split('{').next().unwrap_or(s)));
    let (passed, report) = replay(ctx, rules, k, d, &rec);
    // The firing runs cost a second promtool pass: on request, or to explain a failure.
    let fired = match ctx.timeline || !passed {
        true => format!(
            "; fired (time from the start): {}",
            fired(ctx, rules, k, d, &rec)
        ),
        false => String::new(),
    };
    let line = format!(
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
    (line, problems)
}

/// The SLO rules read counters only: recorded with native histograms (text
/// exposition: no buckets) they must be the same, sample for sample.
async fn same_with_native(d: &Drill, rec: &Recording, env: &str) -> Option<String> {
    let (native, other) = record(d, HistogramMode::Native).await;
    let (a, b) = (pickup_series(rec, env), pickup_series(&native, &other));
    if a == b && !a.is_empty() {
        eprintln!(
            "slo-pairs: {}: the {} pick-up series are the same with --metrics.histograms native",
            d.name,
            a.len()
        );
        return None;
    }
    Some(format!(
        "{}: --metrics.histograms native serves other pick-up series than the default",
        d.name
    ))
}

/// When each pair fired: a second promtool pass, over a file expecting no
/// SLO alert at any evaluation (promtool reports each one it sees).
fn fired(ctx: &Replay<'_>, rules: &Rules, k: usize, d: &Drill, rec: &Recording) -> String {
    let file = ctx.dir.join(format!("slo-pair-{k}-timeline.test.yml"));
    let alerts = [FAST.to_string(), SLOW.to_string()];
    let t = promtool::test_file(&rules.path, &rules.groups, rec, &alerts, d.step, None);
    std::fs::write(&file, t).expect("write promtool file");
    timeline(ctx.promtool, &file, d.step)
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
