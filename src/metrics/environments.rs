//! The per-environment series of a store (all of it for `/metrics`, one
//! environment for `/probe`) written through the exposition writer.

use super::{families, text, Format, Options};
use crate::config::{Cadence, StaleAfter};
use crate::snapshot::Store;
use std::time::Duration;

/// The per-environment series alone: deterministic for a given store and time.
pub fn render_environments(
    store: &Store,
    now_ms: i64,
    lease_ttl: Duration,
    stale_after: StaleAfter,
    drilldown_base: &str,
) -> String {
    render_some(store, None, now_ms, lease_ttl, stale_after, drilldown_base)
}

/// What `/probe` returns in text 0.0.4: one environment's series and how long the probe took.
pub fn render_probe(
    store: &Store,
    id: &str,
    probe_seconds: f64,
    now_ms: i64,
    lease_ttl: Duration,
    stale_after: StaleAfter,
    drilldown_base: &str,
) -> String {
    let (format, options) = (Format::Text, &Options::default());
    let body = render_probe_as(
        (format, options),
        store,
        id,
        probe_seconds,
        now_ms,
        (lease_ttl, stale_after),
        drilldown_base,
    );
    String::from_utf8_lossy(&body).into_owned()
}

/// What `/probe` returns in `format`, rendered with `options`.
pub fn render_probe_as(
    (format, options): (Format, &Options),
    store: &Store,
    id: &str,
    probe_seconds: f64,
    now_ms: i64,
    (lease_ttl, stale_after): (Duration, StaleAfter),
    drilldown_base: &str,
) -> Vec<u8> {
    let mut out = text::Exposition::new(format, options, 16 * 1024);
    render_some_into(
        &mut out,
        store,
        Some(id),
        now_ms,
        lease_ttl,
        stale_after,
        drilldown_base,
    );
    out.header(
        "anthropic_work_exporter_probe_duration_seconds",
        text::Kind::Gauge,
        "Wall time of this /probe, the on-demand refresh included.",
    );
    out.sample(
        "anthropic_work_exporter_probe_duration_seconds",
        &[("environment_id", id)],
        None,
        probe_seconds,
    );
    out.into_body()
}

fn render_some(
    store: &Store,
    only: Option<&str>,
    now_ms: i64,
    lease_ttl: Duration,
    stale_after: StaleAfter,
    drilldown_base: &str,
) -> String {
    // About 8.3 KiB an environment with its id as the only label.
    let n = match only {
        Some(_) => 1,
        None => store.len(),
    };
    let mut out = text::Exposition::with_capacity(4096 + n * 9000);
    render_some_into(
        &mut out,
        store,
        only,
        now_ms,
        lease_ttl,
        stale_after,
        drilldown_base,
    );
    out.out
}

pub(super) fn render_some_into(
    out: &mut text::Exposition<'_>,
    store: &Store,
    only: Option<&str>,
    now_ms: i64,
    lease_ttl: Duration,
    stale_after: StaleAfter,
    drilldown_base: &str,
) {
    // Taken out of the store (pointers, under its lock for microseconds), so
    // refresh commits never wait for a render.
    let held = store.view(only);
    let states: Vec<&crate::snapshot::EnvironmentState> = held.iter().map(|s| &**s).collect();
    let names = families::label_names(&states);
    let stretch = |c: Cadence| store.stretch(c);
    let views: Vec<_> = states
        .iter()
        .map(|s| {
            let stale = |c: Cadence| stale_after.millis(c, &s.environment.cadence, stretch(c));
            let view = families::View {
                state: s,
                snapshot: s.fresh_part(Cadence::List, now_ms, stale(Cadence::List)),
                queue: s.fresh_part(Cadence::Stats, now_ms, stale(Cadence::Stats)),
                now_ms,
                lease_ttl_ms: lease_ttl.as_millis() as i64,
            };
            (view, families::labels_of(s, &names))
        })
        .collect();
    families::render(out, &views, drilldown_base);
}
