//! The exporter's own HTTP serving, as promhttp reports a Go exporter's:
//! requests by handler and code, requests in flight, open connections, what
//! was shed to keep scrapes first, refused credentials and web configuration
//! reloads. Moved by the server through the verbs of `ExporterMetrics`.

use crate::config::web::{WebObserver, DENIAL_REASONS, RELOAD_RESULTS};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// Every `handler` label value: the route a request took.
pub const HANDLERS: [&str; 7] = [
    "metrics",
    "probe",
    "healthy",
    "ready",
    "landing",
    "drilldown",
    "other",
];

/// Every `reason` of `anthropic_work_exporter_http_shed_total`.
pub const SHED_REASONS: [&str; 6] = [
    "probe_budget",
    "connection_limit",
    "client_limit",
    "health_budget",
    "pages_budget",
    "rate_limit",
];

pub(super) struct Serving {
    requests: IntCounterVec,
    in_flight: IntGauge,
    connections: IntGauge,
    shed: IntCounterVec,
    auth_denied: IntCounterVec,
    reloads: IntCounterVec,
}

impl Serving {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "anthropic_work_exporter_http_requests_total",
                "HTTP requests this exporter answered, by handler and status code.",
            ),
            &["handler", "code"],
        )?;
        requests.with_label_values(&["metrics", "200"]);
        let in_flight = IntGauge::new(
            "anthropic_work_exporter_http_requests_in_flight",
            "HTTP requests this exporter is answering now.",
        )?;
        let connections = IntGauge::new(
            "anthropic_work_exporter_http_connections",
            "HTTP connections open to this exporter now.",
        )?;
        let shed = IntCounterVec::new(
            Opts::new(
                "anthropic_work_exporter_http_shed_total",
                "Connections closed and requests refused to keep scrapes answered, by reason.",
            ),
            &["reason"],
        )?;
        let auth_denied = IntCounterVec::new(
            Opts::new(
                "anthropic_work_exporter_http_auth_denied_total",
                "Requests refused with 401 by basic auth, by reason.",
            ),
            &["reason"],
        )?;
        let reloads = IntCounterVec::new(Opts::new("anthropic_work_exporter_web_config_reloads_total", "Changed web configuration files read, by result: applied, or why the previous version stayed in force."), &["result"])?;
        for r in SHED_REASONS {
            shed.with_label_values(&[r]);
        }
        for r in DENIAL_REASONS {
            auth_denied.with_label_values(&[r]);
        }
        for r in RELOAD_RESULTS {
            reloads.with_label_values(&[r]);
        }
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(shed.clone()))?;
        registry.register(Box::new(auth_denied.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        Ok(Serving {
            requests,
            in_flight,
            connections,
            shed,
            auth_denied,
            reloads,
        })
    }
}

impl super::ExporterMetrics {
    /// A request was answered by `handler` (one of `HANDLERS`) with `code`.
    pub fn http_request(&self, handler: &'static str, code: u16) {
        self.own
            .serving
            .requests
            .with_label_values(&[handler, &code.to_string()])
            .inc();
    }

    /// A request started (`+1`) or ended (`-1`).
    pub fn http_in_flight(&self, delta: i64) {
        self.own.serving.in_flight.add(delta);
    }

    /// A connection opened (`+1`) or closed (`-1`).
    pub fn http_connections(&self, delta: i64) {
        self.own.serving.connections.add(delta);
    }

    /// A connection or request was shed; `reason` is one of `SHED_REASONS`.
    pub fn http_shed(&self, reason: &'static str) {
        self.own.serving.shed.with_label_values(&[reason]).inc();
    }
}

impl WebObserver for super::ExporterMetrics {
    fn web_config_reload(&self, result: &'static str) {
        self.own.serving.reloads.with_label_values(&[result]).inc();
    }

    fn auth_denied(&self, reason: &'static str) {
        self.own
            .serving
            .auth_denied
            .with_label_values(&[reason])
            .inc();
    }
}
