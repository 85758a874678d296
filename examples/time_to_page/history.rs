//! Hours of steady history before a recording, for the pick-up SLO drills.
//!
//! A burn-rate alert compares a long window (1 h, 6 h) with the error
//! budget; `rate()` over a window uses only the samples it holds, so a
//! replay that starts 10 minutes before the fault would judge a 6-hour window
//! on 10 minutes of traffic and page far sooner than Prometheus would after
//! days of it. The SLO drills therefore replay `HISTORY` of steady traffic
//! first: every series holds its first recorded value, and the pick-up
//! counters grow at the rate the warm-up measured, so the 1 h and 6 h windows
//! hold steady traffic at the fault. Windows longer than the replay (1 d, 3 d)
//! still start with it: see docs/runbooks.md, "Time to page".

use crate::record::Recording;
use crate::WARMUP;
use std::time::Duration;

/// `rec` kept one sample every `step`, after `history` of steady traffic.
pub fn replayed(rec: Recording, history: Duration, step: Duration) -> Recording {
    let every = (step.as_secs() / rec.step().max(1)).max(1) as usize;
    let rec = downsample(rec, every);
    let per = rec.step();
    match (history.as_secs() / per) as usize {
        0 => rec,
        steps => prepend(rec, steps, (WARMUP.as_secs() / per) as usize),
    }
}

/// One scrape of every `every` kept, as a Prometheus scraping that much less often.
fn downsample(rec: Recording, every: usize) -> Recording {
    if every == 1 {
        return rec;
    }
    Recording {
        scrapes: rec.scrapes.div_ceil(every),
        step_secs: rec.step() * every as u64,
        series: rec
            .series
            .into_iter()
            .map(|(n, v)| (n, v.into_iter().step_by(every).collect()))
            .collect(),
        stale: rec
            .stale
            .into_iter()
            .map(|(n, i)| (n, i.div_ceil(every)))
            .collect(),
    }
}

/// The pick-up counters: grown during the history, not held.
const PICKUPS: &str = "anthropic_work_pickups_total{";

/// `rec` with `steps` scrapes of history before it; `warmup` is the number
/// of steady scrapes the recording starts with (the rates to extend).
fn prepend(rec: Recording, steps: usize, warmup: usize) -> Recording {
    let mut out = Recording {
        scrapes: rec.scrapes + steps,
        step_secs: rec.step_secs,
        ..Default::default()
    };
    for (name, values) in rec.series {
        let first = values.first().cloned().flatten();
        let new: Vec<Option<String>> = match (name.starts_with(PICKUPS), &first) {
            (true, Some(_)) => grown(&values, steps, warmup),
            _ => std::iter::repeat_n(first, steps).chain(values).collect(),
        };
        out.series.insert(name, new);
    }
    out.stale = rec.stale.into_iter().map(|(n, i)| (n, i + steps)).collect();
    out
}

/// A counter extended backwards at its warm-up rate, and offset so it never decreases.
fn grown(values: &[Option<String>], steps: usize, warmup: usize) -> Vec<Option<String>> {
    let num = |i: usize| -> f64 {
        values
            .get(i)
            .cloned()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let per_step = (num(warmup) - num(0)) / warmup.max(1) as f64;
    let offset = per_step * steps as f64 - num(0);
    let history = (0..steps).map(|i| Some(format!("{}", per_step * i as f64)));
    let shifted = values.iter().map(|v| {
        v.as_ref()
            .and_then(|v| v.parse::<f64>().ok())
            .map(|x| format!("{}", x + offset))
    });
    history.chain(shifted).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow_through_the_history_and_gauges_hold() {
        let mut rec = Recording {
            scrapes: 3,
            step_secs: 15,
            ..Default::default()
        };
        let v = |xs: &[&str]| xs.iter().map(|x| Some(x.to_string())).collect();
        rec.series.insert(
            "anthropic_work_pickups_total{a}".into(),
            v(&["0", "2", "4"]),
        );
        rec.series.insert("up{a}".into(), v(&["1", "1", "0"]));
        let out = prepend(rec, 3, 2);
        let got =
            |n: &str| -> Vec<String> { out.series[n].iter().map(|x| x.clone().unwrap()).collect() };
        assert_eq!(
            got("anthropic_work_pickups_total{a}"),
            ["0", "2", "4", "6", "8", "10"]
        );
        assert_eq!(got("up{a}"), ["1", "1", "1", "1", "1", "0"]);
        assert_eq!(out.scrapes, 6);
    }
}
