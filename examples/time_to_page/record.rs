//! One scenario run: the simulator on a manual clock and the exporter driven
//! on it, its answers recorded at every scrape as Prometheus would store them
//! (the target's labels added, a stale marker when a series disappears, `up`
//! for each target). Two layouts: one exporter target refreshing in the
//! background every 30 s (the default), or multi-target mode (`--probe.only`),
//! where every scrape of an environment's target is a `/probe` and its
//! refresh, and the exporter's own target serves only its own metrics.

use crate::rig::{Rig, Setup};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub const REFRESH: Duration = Duration::from_secs(30);
pub const JOB: &str = "anthropic-work-exporter";
pub const INSTANCE: &str = "exporter:9781";
/// In a target's labels: the recorded environment's id.
pub const ENVIRONMENT: &str = "$ENVIRONMENT";

/// What happens at the fault time.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The simulator switches every environment to this scenario.
    Scenario(&'static str),
    /// The exporter stops answering scrapes (`up` 0, its series go stale).
    ExporterGone,
}

/// What a scrape target answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `/metrics` of an exporter refreshing in the background.
    Metrics,
    /// `/metrics` with `--probe.only`: the exporter's own metrics alone.
    Own,
    /// `/probe?environment=ID` of the recorder's environment.
    Probe,
}

/// One scrape target: its labels as Prometheus attaches them
/// (`job="...",instance="..."`, sorted by name) and what it answers.
#[derive(Debug, Clone)]
pub struct Target {
    pub labels: BTreeMap<String, String>,
    pub answer: Answer,
}

/// How Prometheus scrapes the exporter: every target, every `interval`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub interval: Duration,
    pub targets: Vec<Target>,
}

impl Layout {
    /// One exporter, one target, as docs/runbooks.md's table assumes.
    pub fn single(interval: Duration) -> Layout {
        let labels = [("instance", INSTANCE), ("job", JOB)]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        Layout {
            interval,
            targets: vec![Target {
                labels,
                answer: Answer::Metrics,
            }],
        }
    }

    /// The layout with `ENVIRONMENT` in label values replaced by `id`.
    fn for_environment(&self, id: &str) -> Layout {
        let mut l = self.clone();
        for t in &mut l.targets {
            for v in t.labels.values_mut().filter(|v| *v == ENVIRONMENT) {
                *v = id.to_string();
            }
        }
        l
    }

    fn probe_only(&self) -> bool {
        self.targets.iter().any(|t| t.answer == Answer::Probe)
    }
}

/// One recorded sample per scrape: None when the series was absent, and
/// `stale[i]` when it vanished at scrape i (Prometheus writes a stale marker).
#[derive(Debug, Default)]
pub struct Recording {
    pub scrapes: usize,
    /// Seconds between two kept samples (and promtool's evaluations).
    pub step_secs: u64,
    pub series: BTreeMap<String, Vec<Option<String>>>,
    pub stale: BTreeSet<(String, usize)>,
}

impl Recording {
    /// Seconds between two samples (and promtool's evaluations) of the replay.
    pub fn step(&self) -> u64 {
        self.step_secs
    }

    /// One scrape of every target: its exposition, or None when it failed.
    pub fn add_step(&mut self, answers: &[(&Target, Option<String>)]) {
        let i = self.scrapes;
        self.scrapes += 1;
        let mut seen = BTreeSet::new();
        for (target, exposition) in answers {
            let up = if exposition.is_some() { "1" } else { "0" };
            let up = (series("up", &target.labels, ""), up.to_string());
            for (name, value) in exposition
                .as_deref()
                .map(|e| samples(e, &target.labels))
                .unwrap_or_default()
                .into_iter()
                .chain([up])
            {
                let values = self.series.entry(name.clone()).or_default();
                values.resize(i, None);
                values.push(Some(value));
                seen.insert(name);
            }
        }
        for (name, values) in &mut self.series {
            if !seen.contains(name) {
                if values.last().is_some_and(|v| v.is_some()) {
                    self.stale.insert((name.clone(), i));
                }
                values.resize(i + 1, None);
            }
        }
    }
}

/// `name{target labels,own labels}`: the target's labels first, as in the
/// promtool files before; an exposed label of the same name as a target
/// label would be renamed `exported_*` by Prometheus, and the exporter
/// exposes none (its reserved names), so none is expected here.
fn series(name: &str, target: &BTreeMap<String, String>, own: &str) -> String {
    let mut labels: Vec<String> = ["job", "instance"]
        .iter()
        .filter_map(|k| target.get(*k).map(|v| format!("{k}=\"{v}\"")))
        .collect();
    labels.extend(
        target
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| format!("{k}=\"{v}\"")),
    );
    if !own.is_empty() {
        labels.push(own.to_string());
    }
    format!("{name}{{{}}}", labels.join(","))
}

/// `name{target labels,labels} value` for every sample of a text exposition.
fn samples(text: &str, target: &BTreeMap<String, String>) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (s, value) = l.rsplit_once(' ')?;
            let s = match s.split_once('{') {
                Some((name, rest)) => series(name, target, rest.trim_end_matches('}')),
                None => series(s, target, ""),
            };
            let value = match value {
                "+Inf" => "Inf",
                v => v,
            };
            Some((s, value.to_string()))
        })
        .collect()
}

/// Runs `steady` for `warmup`, then the fault, until `total`; every target
/// of `layout` scraped every `layout.interval` of simulated time.
pub async fn record(
    fault: Option<Fault>,
    warmup: Duration,
    total: Duration,
    layout: &Layout,
) -> Recording {
    let rig = Rig::start(Setup {
        probe_only: layout.probe_only(),
        ..Setup::default()
    })
    .await;
    let layout = &layout.for_environment(rig.environment_id());
    let step_s = layout.interval.as_secs();
    let mut rec = Recording {
        step_secs: step_s,
        ..Default::default()
    };
    let steps = (total.as_secs() / step_s) as usize;
    let fault_step = (warmup.as_secs() / step_s) as usize;
    let mut gone = false;
    let mut refreshed: Option<Duration> = None;
    for step in 0..=steps {
        if step == fault_step {
            match fault {
                Some(Fault::Scenario(name)) => rig.switch(json!({ "scenario": name })).await,
                Some(Fault::ExporterGone) => gone = true,
                None => {}
            }
        }
        let now = Duration::from_secs(step as u64 * step_s);
        // The background refresh: every 30 s whatever the scrape interval.
        if !layout.probe_only() && refreshed.is_none_or(|t| now >= t + REFRESH) {
            rig.refresh().await;
            refreshed = Some(now);
        }
        let mut answers = Vec::new();
        for t in &layout.targets {
            let body = match (gone, t.answer) {
                (true, _) => None,
                (false, answer) => Some(rig.scrape(answer).await),
            };
            answers.push((t, body));
        }
        rec.add_step(&answers);
        rig.advance(layout.interval).await;
    }
    rec
}
