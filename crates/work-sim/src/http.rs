//! The HTTP server of the simulator (hyper 1): connection handling (TLS and
//! the shaped link of `serving`), the request id on every response, gzip
//! when asked, error envelopes, and fault injection.

use crate::link::Link;
use crate::record::Recorded;
use crate::scenario::{inject, Injected};
use crate::state::Fault;
use crate::world::World;
use crate::{admin, routes, serving};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use work_api::wire::{error_type_for_status, ErrorBody, ErrorDetail};

pub(crate) type Resp = Response<Full<Bytes>>;

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// How connections are accepted: TLS or not, through a shaped link or not.
#[derive(Clone)]
pub(crate) struct Accept {
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(crate) link: Link,
}

pub(crate) async fn serve(
    world: Arc<World>,
    listener: TcpListener,
    accept: Accept,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (world, shutdown, tls) = (world.clone(), shutdown.clone(), accept.tls.clone());
        if accept.link.shapes() {
            let shaped = accept.link.attach(stream, shutdown.clone());
            tokio::spawn(connection(world, shaped, tls, shutdown));
        } else {
            tokio::spawn(connection(world, stream, tls, shutdown));
        }
    }
}

/// One connection: the TLS handshake when configured, then HTTP/1.1 until
/// the client leaves or `shutdown` fires.
async fn connection<IO>(
    world: Arc<World>,
    io: IO,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match tls {
        Some(acceptor) => match acceptor.accept(io).await {
            Ok(stream) => http1(world, stream, shutdown).await,
            Err(e) => tracing::debug!(error = %e, "simulator TLS handshake failed"),
        },
        None => http1(world, io, shutdown).await,
    }
}

async fn http1<IO>(world: Arc<World>, io: IO, shutdown: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let world = world.clone();
        async move { Ok::<_, Infallible>(handle(&world, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

async fn handle(world: &Arc<World>, req: Request<Incoming>) -> Resp {
    let n = world.next_request();
    let rid = world.token("req_01", 22);
    let gzip = serving::accepts_gzip(req.headers());
    let result = if req.uri().path().starts_with("/_sim/") {
        admin::handle(world, req).await
    } else {
        api(world, req, n).await
    };
    let mut resp = result.unwrap_or_else(|f| error(&f, &rid));
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("request-id", v);
    }
    if gzip {
        resp = gzipped(resp).await;
    }
    resp
}

/// The response with its body gzipped, as the API answers a client that asks.
async fn gzipped(resp: Resp) -> Resp {
    let (mut parts, body) = resp.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes());
    match serving::gzip(&body) {
        Some(compressed) => {
            serving::mark_gzipped(&mut parts.headers);
            Response::from_parts(parts, Full::new(compressed))
        }
        None => Response::from_parts(parts, Full::new(body)),
    }
}

async fn api(world: &World, req: Request<Incoming>, n: u64) -> Result<Resp, Fault> {
    world.request_log.push(Recorded {
        endpoint: crate::endpoint::sdk_method(req.method(), req.uri().path()),
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        headers: crate::auth::headers_shown(world, req.headers()),
    });
    let env = routes::env_of_path(world, req.uri().path());
    let scenario = env
        .and_then(|i| world.env(i))
        .map_or_else(|| world.scenario(), |e| e.scenario());
    match inject(scenario, world.fault_seed, n) {
        Injected::Pass => {}
        Injected::Stall { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        Injected::Fail {
            status,
            retry_after_s,
        } => {
            let mut f = Fault::new(status, injected_code(status), injected_message(status));
            f.retry_after_s = retry_after_s;
            return Err(f);
        }
    }
    routes::dispatch(world, req).await
}

fn injected_code(status: u16) -> &'static str {
    match status {
        429 => "rate_limited",
        529 => "overloaded",
        503 => "service_unavailable",
        _ => "internal_error",
    }
}

fn injected_message(status: u16) -> &'static str {
    match status {
        429 => "rate limit exceeded (simulated)",
        529 => "overloaded (simulated)",
        503 => "service unavailable (simulated)",
        _ => "internal server error (simulated)",
    }
}

pub(crate) fn json(status: u16, body: String) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub(crate) fn ok(body: String) -> Resp {
    json(200, body)
}

/// Serialises a value; a failure (it cannot happen for our types) is a 500.
pub(crate) fn ok_value<T: serde::Serialize>(v: &T) -> Result<Resp, Fault> {
    serde_json::to_string(v).map(ok).map_err(|e| {
        Fault::new(
            500,
            "internal_error",
            format!("cannot render response: {e}"),
        )
    })
}

/// The error envelope, with the request id in the body too.
pub(crate) fn error(f: &Fault, rid: &str) -> Resp {
    let mut details = serde_json::json!({ "error_code": f.code });
    if let Some(lease) = &f.current_state {
        details["current_state"] = serde_json::to_value(lease).unwrap_or_default();
    }
    let body = ErrorBody {
        kind: "error".into(),
        error: ErrorDetail {
            kind: error_type_for_status(f.status).into(),
            message: f.message.clone(),
            details: Some(details),
        },
        request_id: Some(rid.to_owned()),
    };
    let mut resp = json(f.status, serde_json::to_string(&body).unwrap_or_default());
    if let Some(s) = f.retry_after_s {
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

/// The request body, at most 1 MiB; `Value::Null` when empty.
pub(crate) async fn read_json(body: Incoming) -> Result<serde_json::Value, Fault> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            Fault::new(
                413,
                "request_too_large",
                "request body too large or unreadable",
            )
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Fault::new(
            400,
            "invalid_json",
            format!("request body is not valid JSON: {e}"),
        )
    })
}
