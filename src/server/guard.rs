//! What every request goes through around its route: the web
//! configuration's `rate_limit` (429) and basic auth (401) for everything but
//! the health endpoints, a small budget of requests in progress for the
//! health endpoints and for the pages (503 beyond it) while scrapes of the
//! telemetry path and `/probe` have none, the configured security headers
//! on every answer (401, 429 and 503 included), and the exporter's own
//! serving metrics.

use super::probe_gate::ProbeGate;
use super::{respond, Body, Site};
use crate::config::web::{Verdict, WebServerConfig};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Health requests answered at once; beyond, 503 (they are answered in
/// microseconds, so only a flood reaches it).
pub const HEALTH_BUDGET: usize = 64;
/// Landing and drill-down pages rendered at once; beyond, 503.
pub const PAGES_BUDGET: usize = 8;

/// Which route a path takes, as the `handler` label says it.
pub(super) fn handler_of(path: &str, telemetry_path: &str) -> &'static str {
    match path {
        p if p == telemetry_path => "metrics",
        "/probe" => "probe",
        "/-/healthy" => "healthy",
        "/-/ready" => "ready",
        "/" => "landing",
        p if p.starts_with("/environments/") => "drilldown",
        _ => "other",
    }
}

fn unauthorized() -> Response<Body> {
    let mut r = respond(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        "Unauthorized\n",
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"anthropic-work-exporter\", charset=\"UTF-8\""),
    );
    r
}

fn refused(status: StatusCode, message: &'static str) -> Response<Body> {
    let mut r = respond(status, "text/plain; charset=utf-8", message);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Counts a request in flight for as long as it lives (a dropped request too).
struct InFlight<'a>(&'a Site);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.http_in_flight(-1);
    }
}

/// The server's per-request state, shared by every connection.
pub(super) struct Guard {
    pub(super) site: Arc<Site>,
    pub(super) web: Option<Arc<WebServerConfig>>,
    pub(super) health: Semaphore,
    pub(super) pages: Semaphore,
    probes: ProbeGate,
}

impl Guard {
    pub(super) fn new(site: Arc<Site>, web: Option<Arc<WebServerConfig>>) -> Guard {
        if let Some(w) = &web {
            w.observe(site.metrics.clone());
        }
        let probes = ProbeGate::for_site(&site);
        Guard {
            site,
            web,
            health: Semaphore::new(HEALTH_BUDGET),
            pages: Semaphore::new(PAGES_BUDGET),
            probes,
        }
    }

    /// Answer one request, counted by handler and code.
    pub(super) async fn answer(&self, req: Request<Incoming>) -> Response<Body> {
        let handler = handler_of(req.uri().path(), &self.site.telemetry_path);
        self.site.metrics.http_in_flight(1);
        let _counted = InFlight(&self.site);
        let config = match &self.web {
            Some(w) => Some(w.current().await),
            None => None,
        };
        let mut resp = self.admitted(&req, handler, config.as_deref()).await;
        if let Some(config) = &config {
            for (name, value) in &config.headers {
                resp.headers_mut().insert(name.clone(), value.clone());
            }
        }
        self.site
            .metrics
            .http_request(handler, resp.status().as_u16());
        resp
    }

    async fn admitted(
        &self,
        req: &Request<Incoming>,
        handler: &'static str,
        config: Option<&crate::config::web::WebConfig>,
    ) -> Response<Body> {
        let health = matches!(handler, "healthy" | "ready");
        if let (Some(web), Some(config), false) = (&self.web, config, health) {
            if !web.admit(config) {
                self.site.metrics.http_shed("rate_limit");
                return refused(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests (rate_limit of the web configuration)\n",
                );
            }
            if config.needs_auth() {
                let header = req.headers().get(AUTHORIZATION);
                if let Verdict::Denied(_) = web.authorize(config, header).await {
                    return unauthorized();
                }
            }
        }
        let budget = match handler {
            "metrics" | "probe" => None,
            "healthy" | "ready" => Some((&self.health, "health_budget")),
            _ => Some((&self.pages, "pages_budget")),
        };
        let _permit = match budget.map(|(s, reason)| (s.try_acquire(), reason)) {
            Some((Err(_), reason)) => {
                self.site.metrics.http_shed(reason);
                return refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Busy: too many requests of this kind at once\n",
                );
            }
            Some((Ok(p), _)) => Some(p),
            None => None,
        };
        if handler == "probe" {
            self.site.probe_through(req, &self.probes).await
        } else {
            self.site.handle(req).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::handler_of;

    #[test]
    fn paths_map_to_a_bounded_set_of_handlers() {
        assert_eq!(handler_of("/metrics", "/metrics"), "metrics");
        assert_eq!(handler_of("/custom", "/custom"), "metrics");
        assert_eq!(handler_of("/metrics", "/custom"), "other");
        assert_eq!(handler_of("/environments/env_1", "/metrics"), "drilldown");
        assert_eq!(handler_of("/-/healthy", "/metrics"), "healthy");
        assert_eq!(handler_of("/../etc/passwd", "/metrics"), "other");
    }
}
