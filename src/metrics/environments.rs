//! The per-environment series of a store (all of it for `/metrics`, one
//! environment for `/probe`): every row of `families::FAMILIES` written by
//! one loop through the exposition writer.

use super::context::RenderContext;
use super::families::{Family, Read, View, FAMILIES};
use super::text::{self, Buckets, Exposition, Kind, Labels};
use crate::config::Cadence;
use crate::snapshot::{EnvironmentState, Store};
use std::collections::BTreeSet;

/// Most labels of a family's own (`anthropic_work_environment_info` has three).
const MAX_OWN_LABELS: usize = 4;

/// The per-environment series alone in `ctx.format` (a text format):
/// deterministic for a given store and context.
pub fn render_environments(store: &Store, ctx: &RenderContext) -> String {
    // About 8.3 KiB an environment in text with its id as the only label.
    let mut out = Exposition::new(ctx.format, &ctx.options, 4096 + store.len() * 9000);
    write_environments(&mut out, store, None, ctx);
    String::from_utf8_lossy(&out.into_body()).into_owned()
}

/// What `/probe` returns in `ctx.format`: one environment's series and how long the probe took.
pub fn render_probe(store: &Store, id: &str, probe_seconds: f64, ctx: &RenderContext) -> Vec<u8> {
    let mut out = Exposition::new(ctx.format, &ctx.options, 16 * 1024);
    write_environments(&mut out, store, Some(id), ctx);
    out.header(
        "anthropic_work_exporter_probe_duration_seconds",
        text::Kind::Gauge,
        "Wall time of this /probe, the on-demand refresh included.",
    );
    out.sample(
        "anthropic_work_exporter_probe_duration_seconds",
        &[("environment_id", id)],
        &[],
        probe_seconds,
    );
    // build_info too: the shipped rules take a target without it for
    // something that is not the exporter (AnthropicWorkExporterAbsent), and
    // in multi-target mode every environment is a target of the exporter's job.
    out.header(
        "anthropic_work_exporter_build_info",
        text::Kind::Gauge,
        "Always 1; the exporter's version and source revision.",
    );
    out.sample(
        "anthropic_work_exporter_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", super::instruments::BUILD_REVISION),
        ],
        &[],
        1.0,
    );
    out.into_body()
}

/// Write every family of `FAMILIES` for every environment of `store` (or `only` that one).
pub(super) fn write_environments(
    out: &mut Exposition<'_>,
    store: &Store,
    only: Option<&str>,
    ctx: &RenderContext,
) {
    // Taken out of the store (pointers, under its lock for microseconds), so
    // refresh commits never wait for a render.
    let held = store.view(only);
    let states: Vec<&EnvironmentState> = held.iter().map(|s| &**s).collect();
    let names = label_names(&states);
    let views: Vec<(View<'_>, Vec<(&str, &str)>)> = states
        .iter()
        .map(|s| (view(store, s, ctx), labels_of(s, &names)))
        .collect();
    for family in FAMILIES {
        write_family(out, family, &views);
    }
}

/// One environment as the families read it: each part's snapshot while it may be served.
fn view<'a>(store: &Store, s: &'a EnvironmentState, ctx: &'a RenderContext) -> View<'a> {
    let stale = |c: Cadence| {
        ctx.stale_after
            .millis(c, &s.environment.cadence, store.stretch(c))
    };
    View {
        state: s,
        list: s.fresh_part(Cadence::List, ctx.now_ms, stale(Cadence::List)),
        stats: s.fresh_part(Cadence::Stats, ctx.now_ms, stale(Cadence::Stats)),
        ctx,
    }
}

/// One family for every view; its header only once it has a sample.
fn write_family(
    out: &mut Exposition<'_>,
    family: &Family,
    views: &[(View<'_>, Vec<(&str, &str)>)],
) {
    let mut started = false;
    let mut start = |out: &mut Exposition<'_>| {
        if !std::mem::replace(&mut started, true) {
            out.header(family.name, family.kind, family.help);
        }
    };
    match family.read {
        Read::One(read) => {
            for (v, labels) in views {
                if let Some(x) = read(v) {
                    start(out);
                    write_sample(out, family, v, labels, &[], x);
                }
            }
        }
        Read::Each(read) => {
            for (v, labels) in views {
                read(v, &mut |values, x| {
                    start(out);
                    let mut own = [("", ""); MAX_OWN_LABELS];
                    let n = family.labels.len().min(values.len()).min(MAX_OWN_LABELS);
                    for (slot, pair) in own.iter_mut().zip(family.labels.iter().zip(values)) {
                        *slot = (*pair.0, *pair.1);
                    }
                    write_sample(out, family, v, labels, &own[..n], x);
                });
            }
        }
        Read::Histogram(read) => {
            // Every environment's histogram of a family has the same bounds: format them once.
            let mut buckets: Option<(&[f64], Buckets)> = None;
            for (v, labels) in views {
                start(out);
                let h = read(v);
                if !matches!(&buckets, Some((b, _)) if std::ptr::eq(*b, h.bounds)) {
                    buckets = Some((h.bounds, Buckets::new(h.bounds)));
                }
                if let Some((_, le)) = &buckets {
                    out.lifecycle(le, family.name, labels, h, Some(v.created()));
                }
            }
        }
    }
}

/// A gauge's sample, or a counter's with its start (OpenMetrics `_created`).
fn write_sample(
    out: &mut Exposition<'_>,
    family: &Family,
    v: &View<'_>,
    labels: &Labels<'_>,
    own: &Labels<'_>,
    value: f64,
) {
    match family.kind {
        Kind::Counter => out.counter(family.name, labels, own, value, Some(v.created())),
        _ => out.sample(family.name, labels, own, value),
    }
}

/// Per-environment labels: `environment_id` plus every configured extra label
/// (the union over environments, empty where one has none, so each family has one label set).
fn label_names(states: &[&EnvironmentState]) -> Vec<String> {
    let names: BTreeSet<&String> = states
        .iter()
        .flat_map(|s| s.environment.labels.keys())
        .collect();
    names.into_iter().cloned().collect()
}

fn labels_of<'a>(state: &'a EnvironmentState, extra: &'a [String]) -> Vec<(&'a str, &'a str)> {
    let mut v = Vec::with_capacity(1 + extra.len());
    v.push(("environment_id", state.environment.id.as_str()));
    for name in extra {
        let value = state
            .environment
            .labels
            .get(name)
            .map_or("", String::as_str);
        v.push((name.as_str(), value));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_named_once_and_fits_the_label_slots() {
        let mut names = BTreeSet::new();
        for f in FAMILIES {
            assert!(names.insert(f.name), "{} twice", f.name);
            assert!(f.labels.len() <= MAX_OWN_LABELS, "{}", f.name);
            assert_eq!(
                f.name.ends_with("_total"),
                f.kind == Kind::Counter,
                "{}",
                f.name
            );
            assert_eq!(
                matches!(f.read, Read::Histogram(_)),
                f.kind == Kind::Histogram,
                "{}",
                f.name
            );
        }
    }
}
