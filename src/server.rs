//! The HTTP server: `/metrics`, the landing and drill-down pages, the
//! health endpoints, and `/probe` (see `probe_target`, limited by
//! `probe_gate`). Scrapes of `/metrics` never wait for the API: they render
//! the latest snapshots. Shutdown is a parameter; in-flight requests get a
//! short grace. Connections, TLS and deadlines are in `accept`, which
//! connection is shed when there are too many in `conns`, and what every
//! request goes through (basic auth, `rate_limit`, budgets, headers, the
//! serving metrics) in `guard`.

mod accept;
mod conns;
mod guard;
mod idle_io;
mod probe_gate;
mod probe_target;

pub use accept::{serve as serve_with, Limits, ServeOptions, IDLE_TIMEOUT, TLS_HANDSHAKE_TIMEOUT};
pub use guard::{HEALTH_BUDGET, PAGES_BUDGET};
pub use probe_gate::{ProbeGate, PROBE_SHARE, REQUESTS_PER_REFRESH};

use crate::metrics::{ExporterMetrics, Format};
use crate::pages;

use crate::refresh::Refresher;
use crate::snapshot::Store;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use work_api::clock::SharedClock;

/// Most connections open at once; a new one past it closes the connection
/// idle longest (`conns`), so no scraper waits in a queue.
pub const MAX_CONNECTIONS: usize = 4096;
/// Most connections open at once from one address; the same way past it.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 1024;
/// A client must send its request headers within this time.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long open requests may finish after shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the pages and `/metrics` read.
pub struct Site {
    pub store: Store,
    pub metrics: Arc<ExporterMetrics>,
    pub clock: SharedClock,
    pub telemetry_path: String,
    pub lease_ttl: Duration,
    pub stale_after: crate::config::StaleAfter,
    /// Base of drill-down links (`--web.external-url`, or this server's address).
    pub external_url: String,
    /// Refreshes on demand for `/probe`.
    pub refresher: Arc<Refresher>,
    /// `--probe.only`: `/metrics` serves only the exporter's own metrics.
    pub probe_only: bool,
}

type Body = Full<Bytes>;

/// The exposition format a scrape asks for in its `Accept` header.
fn format_of(req: &Request<Incoming>) -> Format {
    Format::negotiate(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()))
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // No answer is ever to be sniffed into another type (a 404's text as HTML).
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// Every route answers only GET and HEAD.
fn method_not_allowed() -> Response<Body> {
    respond(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/plain; charset=utf-8",
        "only GET and HEAD\n",
    )
}

fn wants(req: &Request<Incoming>, header: hyper::header::HeaderName, needle: &str) -> bool {
    req.headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(needle))
}

fn takes_gzip(req: &Request<Incoming>) -> bool {
    crate::gzip::accepted(
        req.headers()
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )
}

fn gzipped(content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = respond(StatusCode::OK, content_type, body);
    r.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    r
}

impl Site {
    /// Route one request.
    pub async fn handle(&self, req: &Request<Incoming>) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return method_not_allowed();
        }
        let now_ms = self.clock.now_ms();
        let path = req.uri().path();
        if path == self.telemetry_path {
            return self.metrics(req, now_ms).await;
        }
        match path {
            "/" => respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                pages::landing::render(&self.store, &self.telemetry_path, now_ms),
            ),
            "/-/healthy" => respond(StatusCode::OK, "text/plain; charset=utf-8", "Healthy\n"),
            "/-/ready" => self.ready(),
            _ => match path.strip_prefix("/environments/") {
                Some(id) => self.drilldown(req, id, now_ms),
                None => respond(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    "not found\n",
                ),
            },
        }
    }

    /// The telemetry path (`/metrics`): the exposition of the latest
    /// snapshots in the format asked for, gzipped when the scraper takes it.
    async fn metrics(&self, req: &Request<Incoming>, now_ms: i64) -> Response<Body> {
        let format = format_of(req);
        if self.probe_only {
            return self.maybe_gzip(req, format, self.metrics.render_own_as(format));
        }
        // Scrapes within a second share one body per format and encoding (metrics::shared).
        let body = |gzip| {
            self.metrics
                .exposition(&self.store, self.render_context(now_ms, format), gzip)
        };
        if takes_gzip(req) {
            if let Some(gz) = body(true).await {
                return gzipped(format.content_type(), gz);
            }
        }
        respond(
            StatusCode::OK,
            format.content_type(),
            body(false).await.unwrap_or_default(),
        )
    }

    /// `/-/ready`: every environment refreshed once (with --probe.only,
    /// where nothing refreshes until asked, once the watched set is known).
    fn ready(&self) -> Response<Body> {
        let ready = if self.probe_only {
            self.store.environments_known()
        } else {
            self.store.all_attempted()
        };
        if ready {
            respond(StatusCode::OK, "text/plain; charset=utf-8", "Ready\n")
        } else {
            respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "Not ready: waiting for the first refresh of every environment\n",
            )
        }
    }

    /// How a scrape at `now_ms` in `format` is rendered.
    pub fn render_context(&self, now_ms: i64, format: Format) -> crate::metrics::RenderContext {
        crate::metrics::RenderContext {
            now_ms,
            lease_ttl: self.lease_ttl,
            stale_after: self.stale_after,
            drilldown_base: self.external_url.as_str().into(),
            format,
            options: self.metrics.options().clone(),
        }
    }

    /// `/probe?environment=ID`: refresh one environment on demand.
    pub async fn probe(&self, req: &Request<Incoming>) -> Response<Body> {
        self.probe_gated(req, None).await
    }

    /// `/probe` as the server answers it: within what `gate` lets probes spend.
    pub async fn probe_through(&self, req: &Request<Incoming>, gate: &ProbeGate) -> Response<Body> {
        self.probe_gated(req, Some(gate)).await
    }

    async fn probe_gated(
        &self,
        req: &Request<Incoming>,
        gate: Option<&ProbeGate>,
    ) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return method_not_allowed();
        }
        let timeout = req
            .headers()
            .get("x-prometheus-scrape-timeout-seconds")
            .and_then(|v| v.to_str().ok());
        let format = format_of(req);
        match probe_target::probe(self, req.uri().query(), timeout, format, gate).await {
            Ok(body) => self.maybe_gzip(req, format, body),
            Err((status, message)) => respond(status, "text/plain; charset=utf-8", message),
        }
    }

    fn drilldown(&self, req: &Request<Incoming>, id: &str, now_ms: i64) -> Response<Body> {
        let map = self.store.read();
        let Some(state) = map.get(id) else {
            return respond(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "no such environment is watched by this exporter\n",
            );
        };
        let ttl_ms = self.lease_ttl.as_millis() as i64;
        let thresholds = &self.metrics.options().thresholds;
        let as_json = wants(req, ACCEPT, "application/json")
            || req.uri().query().is_some_and(|q| q.contains("format=json"));
        if as_json {
            let body = serde_json::to_vec_pretty(&pages::drilldown::json(
                state, now_ms, ttl_ms, thresholds,
            ))
            .unwrap_or_default();
            respond(StatusCode::OK, "application/json", body)
        } else {
            respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                pages::drilldown::html(state, now_ms, ttl_ms, thresholds),
            )
        }
    }

    fn maybe_gzip(&self, req: &Request<Incoming>, format: Format, body: Vec<u8>) -> Response<Body> {
        if takes_gzip(req) {
            if let Some(gz) = crate::gzip::compress(body.len() / 4, |w| w.write_all(&body)) {
                return gzipped(format.content_type(), gz);
            }
        }
        respond(StatusCode::OK, format.content_type(), body)
    }
}

/// Serve on `listener` until `shutdown`, with the default limits and no web configuration.
pub async fn serve(listener: TcpListener, site: Arc<Site>, shutdown: CancellationToken) {
    accept::serve(listener, site, ServeOptions::default(), shutdown).await
}
