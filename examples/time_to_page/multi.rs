//! The multi-target drill (`--multi-target TARGETS.json`): the exporter with
//! `--probe.only`, scraped as a real Prometheus scrapes it with the scrape
//! config of docs/deployment.md. TARGETS.json is that Prometheus's
//! `/api/v1/targets` answer (tests/e2e/multi_target.sh takes it live), so the
//! recording carries exactly the labels its relabeling gave each target; the
//! live environment id is replaced by the recorder's own.
//!
//! Checks, with the rules as shipped: every metric the rules read that one
//! exporter serves is served in this layout too, under the rules' job; no
//! critical alert fires or is even pending in the steady warm-up (10
//! minutes); and after workers-down the environment's AnthropicWorkNoWorkers
//! fires within 7 minutes.

use crate::promtool;
use crate::record::{self, Answer, Fault, Layout, Recording, Target, ENVIRONMENT, JOB};
use crate::WARMUP;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

const ALERT: &str = "AnthropicWorkNoWorkers";
const LIMIT: Duration = Duration::from_secs(7 * 60);

pub struct Replay<'a> {
    pub promtool: &'a str,
    /// The rules file's text.
    pub rules_text: &'a str,
    pub rules: &'a Path,
    pub groups: &'a [String],
    pub alerts: &'a [String],
    pub dir: &'a Path,
}

/// Runs the drill; the problems found (none: passed).
pub async fn run(ctx: &Replay<'_>, targets: &Path) -> Vec<String> {
    let layout = match read_targets(targets) {
        Ok(l) => l,
        Err(e) => return vec![format!("{}: {e}", targets.display())],
    };
    for t in &layout.targets {
        eprintln!("target {:?}: {:?}", t.answer, t.labels);
    }
    let fault = Some(Fault::Scenario("workers-down"));
    let rec = record::record(fault, WARMUP, WARMUP + LIMIT, &layout).await;
    let step = layout.interval.as_secs();
    let single = Layout::single(layout.interval);
    let one = record::record(fault, WARMUP, WARMUP + LIMIT, &single).await;
    let mut problems = same_inputs(ctx.rules_text, &one, &rec);
    let file = ctx.dir.join("multi-target.test.yml");
    let test = promtool::test_file(
        ctx.rules,
        ctx.groups,
        &rec,
        ctx.alerts,
        step,
        Some(WARMUP.as_secs()),
    );
    std::fs::write(&file, test).expect("write promtool file");
    let (firing, quiet) = match promtool::firing(ctx.promtool, &file) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    problems.extend(check(&firing, &quiet, step));
    problems
}

/// The metrics the rules read under their job (`name{job="..."`).
fn names_read(rules: &str) -> BTreeSet<String> {
    let sel = format!("{{job=\"{JOB}\"");
    rules
        .match_indices(&sel)
        .filter_map(|(at, _)| {
            let head = &rules[..at];
            let start = head
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(0, |i| i + 1);
            let name = &head[start..];
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// Of `names`, those with a series under the rules' job in a recording.
fn served(rec: &Recording, names: &BTreeSet<String>) -> BTreeSet<String> {
    let job = format!("{{job=\"{JOB}\"");
    rec.series
        .keys()
        .filter_map(|s| s.split_once(&job).map(|(name, _)| name.to_string()))
        .filter(|n| names.contains(n))
        .collect()
}

/// Every metric the rules read that one exporter serves, this layout serves too.
fn same_inputs(rules: &str, one: &Recording, multi: &Recording) -> Vec<String> {
    let names = names_read(rules);
    let (a, b) = (served(one, &names), served(multi, &names));
    let missing: Vec<&String> = a.difference(&b).collect();
    eprintln!(
        "multi-target: the rules read {} metrics under job {JOB}; one exporter serves {} of them in this drill, this layout {}",
        names.len(),
        a.len(),
        b.len()
    );
    match missing.is_empty() {
        true => Vec::new(),
        false => vec![format!(
            "metrics the rules read that one exporter serves but this layout does not: {missing:?}"
        )],
    }
}

fn check(firing: &promtool::Firing, quiet: &str, step: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let fault = WARMUP.as_secs();
    if !quiet.is_empty() {
        problems.push(format!(
            "critical alerts pending or firing in the {} steady minutes: {quiet}",
            fault / 60
        ));
    }
    let first = firing
        .get(ALERT)
        .and_then(|(_, times)| times.iter().copied().find(|&t| t >= fault));
    match first {
        Some(t) if t - fault <= LIMIT.as_secs() => eprintln!(
            "multi-target: {}{ALERT} firing {} s after workers-down (limit {} s; {step} s scrape and evaluation); firing alerts: {:?}",
            match quiet.is_empty() {
                true => format!("no critical alert pending or firing for {} steady minutes; ", fault / 60),
                false => String::new(),
            },
            t - fault,
            LIMIT.as_secs(),
            firing.keys().collect::<Vec<_>>()
        ),
        Some(t) => problems.push(format!("{ALERT} fired {} s after workers-down", t - fault)),
        None => problems.push(format!(
            "{ALERT} did not fire within {} s of workers-down",
            LIMIT.as_secs()
        )),
    }
    problems
}

/// The active targets of a `/api/v1/targets` answer as a scrape layout.
fn read_targets(path: &Path) -> Result<Layout, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let active = v["data"]["activeTargets"]
        .as_array()
        .ok_or("no data.activeTargets (not a /api/v1/targets answer)")?;
    let mut interval = None;
    let mut targets = Vec::new();
    for t in active {
        let url = url::Url::parse(
            t["scrapeUrl"]
                .as_str()
                .ok_or("a target without scrapeUrl")?,
        )
        .map_err(|e| e.to_string())?;
        let every = t["scrapeInterval"].as_str().ok_or("no scrapeInterval")?;
        let every = humantime::parse_duration(every).map_err(|e| e.to_string())?;
        if interval.is_some_and(|i| i != every) {
            return Err(
                "the targets are scraped at different intervals: the recorder needs one".into(),
            );
        }
        interval = Some(every);
        let env = url
            .query_pairs()
            .find(|(k, _)| k == "environment")
            .map(|(_, v)| v.into_owned());
        let answer = match (url.path(), &env) {
            ("/probe", Some(_)) => Answer::Probe,
            ("/metrics", None) => Answer::Own,
            (p, _) => {
                return Err(format!(
                    "a target scraping {p}: neither /probe?environment= nor /metrics"
                ))
            }
        };
        let labels: BTreeMap<String, String> = t["labels"]
            .as_object()
            .ok_or("a target without labels")?
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().unwrap_or_default();
                let v = if Some(v) == env.as_deref() {
                    ENVIRONMENT
                } else {
                    v
                };
                (k.clone(), v.to_string())
            })
            .collect();
        targets.push(Target { labels, answer });
    }
    if !targets.iter().any(|t| t.answer == Answer::Probe) {
        return Err("no /probe target".into());
    }
    // One environment is recorded: keep one probe target (they are alike).
    let mut probes = 0;
    targets.retain(|t| {
        t.answer != Answer::Probe || {
            probes += 1;
            probes == 1
        }
    });
    Ok(Layout {
        interval: interval.ok_or("no active target")?,
        targets,
    })
}
