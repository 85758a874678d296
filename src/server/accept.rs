//! The accept loop and each connection's life: a cap on connections (more
//! wait in the listen queue), TLS when the web configuration asks for it
//! (with a handshake deadline), basic auth, a deadline for request headers
//! (a slow-loris client is cut off), and an idle deadline (a connection on
//! which no byte moves either way is closed, whether it idles between
//! requests or stalls mid-request or mid-response).

use super::{Site, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_BYTES, SHUTDOWN_GRACE};
use crate::config::web::{Verdict, WebServerConfig};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A connection on which no byte moves for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A TLS client must finish its handshake within this time.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's protective limits (tests shorten them).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_header_bytes: MAX_HEADER_BYTES,
            idle_timeout: IDLE_TIMEOUT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
        }
    }
}

/// How to serve: limits, and the web configuration (TLS, basic auth) if any.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub limits: Limits,
    pub web: Option<Arc<WebServerConfig>>,
}

/// Health endpoints answer without credentials: they say nothing but
/// "Healthy"/"Ready", and orchestrators' probes rarely carry a password.
fn is_health(path: &str) -> bool {
    path == "/-/healthy" || path == "/-/ready"
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"Unauthorized\n")));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"anthropic-work-exporter\", charset=\"UTF-8\""),
    );
    r
}

/// Serve on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    site: Arc<Site>,
    opts: ServeOptions,
    shutdown: CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.limits.max_connections.max(1)));
    loop {
        // Beyond the cap, connections wait in the listen queue for a free slot.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let conn = Connection {
            site: Arc::clone(&site),
            web: opts.web.clone(),
            limits: opts.limits.clone(),
            watcher: graceful.watcher(),
        };
        tokio::spawn(async move {
            conn.run(stream).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

struct Connection {
    site: Arc<Site>,
    web: Option<Arc<WebServerConfig>>,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Connection {
    async fn run(self, stream: tokio::net::TcpStream) {
        let tls = self.web.as_ref().and_then(|w| w.current().tls.clone());
        match tls {
            None => self.serve(stream).await,
            Some(acceptor) => {
                match tokio::time::timeout(
                    self.limits.tls_handshake_timeout,
                    acceptor.accept(stream),
                )
                .await
                {
                    Ok(Ok(stream)) => self.serve(stream).await,
                    Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!("TLS handshake not finished in time"),
                }
            }
        }
    }

    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = IdleIo::new(io);
        let activity = io.activity.clone();
        let (site, web) = (self.site, self.web);
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (site, web) = (Arc::clone(&site), web.clone());
            async move {
                let config = web.as_ref().map(|w| w.current());
                if let (Some(web), Some(config)) = (&web, &config) {
                    if config.needs_auth()
                        && !is_health(req.uri().path())
                        && web
                            .authorize(config, req.headers().get(AUTHORIZATION))
                            .await
                            != Verdict::Allowed
                    {
                        return Ok::<_, std::convert::Infallible>(unauthorized());
                    }
                }
                let mut resp = if req.uri().path() == "/probe" {
                    site.probe(&req).await
                } else {
                    site.handle(&req).await
                };
                if let Some(config) = &config {
                    for (name, value) in &config.headers {
                        resp.headers_mut().insert(name.clone(), value.clone());
                    }
                }
                Ok(resp)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(self.limits.max_header_bytes.max(8192))
            .serve_connection(TokioIo::new(io), service);
        let conn = self.watcher.watch(conn);
        tokio::pin!(conn);
        let idle = self.limits.idle_timeout;
        loop {
            tokio::select! {
                _ = &mut conn => return,
                _ = tokio::time::sleep_until(activity.last() + idle) => {
                    if activity.last() + idle <= Instant::now() {
                        tracing::debug!("closing a connection idle for {idle:?}");
                        return;
                    }
                }
            }
        }
    }
}

/// When bytes last moved on a connection.
#[derive(Debug)]
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A stream that notes every byte read or written.
struct IdleIo<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I> IdleIo<I> {
    fn new(inner: I) -> Self {
        IdleIo {
            inner,
            activity: Arc::new(Activity {
                start: Instant::now(),
                last_ms: AtomicU64::new(0),
            }),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for IdleIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for IdleIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
