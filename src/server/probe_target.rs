//! `/probe?environment=ID`: multi-target mode, the blackbox_exporter pattern.
//! One watched environment is refreshed on demand, within the scrape timeout
//! Prometheus announces in `X-Prometheus-Scrape-Timeout-Seconds`, and only its
//! series are returned.
//!
//! Only environments this process already watches (configured, or discovered
//! for its shard) can be probed: an id from a query string never decides where
//! a key is sent, and an unknown one is answered 404 without calling the API.
//! Probes draw on the same request budget as background refreshes, a probe
//! never runs beside another refresh of the same environment, and a refresh
//! that ended less than `REUSE` ago is served instead of a new one, so
//! scraping `/probe` harder cannot make the exporter call the API harder;
//! `probe_gate` caps what probes may spend in all and keeps one refresh in
//! flight per environment.

use super::probe_gate::{Admission, ProbeGate};
use super::Site;
use crate::metrics::{render_probe, Format};
use hyper::StatusCode;
use tokio::time::{Duration, Instant};

/// A refresh this recent answers a probe without a new one (it also makes
/// concurrent probes of one environment share one refresh).
pub const REUSE: Duration = Duration::from_secs(2);
/// Most time kept back from the scrape timeout to render and send the answer.
const MAX_OFFSET: Duration = Duration::from_millis(500);

/// The `environment` query parameter.
pub fn environment_param(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "environment")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// How long the on-demand refresh may take: slightly less than the scrape
/// timeout Prometheus sends (a tenth of it, at most half a second, kept back),
/// and never more than `--refresh.timeout`.
pub fn time_allowed(scrape_timeout_header: Option<&str>, refresh_timeout: Duration) -> Duration {
    let announced = scrape_timeout_header
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)));
    match announced {
        Some(t) => (t - (t / 10).min(MAX_OFFSET)).min(refresh_timeout),
        None => refresh_timeout,
    }
}

/// Answer a probe: the exposition, or a status and a message.
pub async fn probe(
    site: &Site,
    query: Option<&str>,
    scrape_timeout_header: Option<&str>,
    format: Format,
    gate: Option<&ProbeGate>,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let started = Instant::now();
    let id = environment_param(query).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            "missing the environment to probe: ask /probe?environment=ID\n".to_string(),
        )
    })?;
    let env = site
        .store
        .read()
        .get(&id)
        .map(|s| s.environment.clone())
        .ok_or_else(|| {
            // The id is not echoed: nothing a client sends comes back as text.
            (
                StatusCode::NOT_FOUND,
                "the environment asked for is not watched by this exporter: only configured or discovered environments \
                 (of this shard, when sharded) can be probed; nothing was sent to the API\n"
                    .to_string(),
            )
        })?;
    let admission = gate.map(|g| g.pass(&id));
    if matches!(admission, Some(Admission::Spent)) {
        site.metrics.http_shed("probe_budget");
    } else {
        let allowed = time_allowed(scrape_timeout_header, site.refresher.settings().timeout);
        let fresh_since = started.checked_sub(REUSE).unwrap_or(started);
        site.refresher
            .refresh_unless_fresh(&env, fresh_since, started + allowed)
            .await;
    }
    drop(admission);
    let ctx = site.render_context(site.clock.now_ms(), format);
    Ok(render_probe(
        &site.store,
        &id,
        started.elapsed().as_secs_f64(),
        &ctx,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_stays_below_the_scrape_timeout() {
        let cap = Duration::from_secs(25);
        assert_eq!(time_allowed(Some("10"), cap), Duration::from_millis(9500));
        assert_eq!(time_allowed(Some("1"), cap), Duration::from_millis(900));
        assert_eq!(time_allowed(Some("60"), cap), cap);
        assert_eq!(time_allowed(None, cap), cap);
        assert_eq!(time_allowed(Some("soon"), cap), cap);
        assert_eq!(time_allowed(Some("-1"), cap), cap);
    }

    #[test]
    fn the_environment_comes_from_the_query() {
        assert_eq!(
            environment_param(Some("environment=env_1&x=2")).as_deref(),
            Some("env_1")
        );
        assert_eq!(environment_param(Some("environment=")), None);
        assert_eq!(environment_param(None), None);
    }
}
