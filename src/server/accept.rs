//! The accept loop and each connection's life. Every connection is accepted
//! at once and entered in the connection table (`conns`), which closes the
//! connection idle longest when there are too many in all or from one
//! client: a scrape never waits in a queue behind idle or chatty clients.
//! Then TLS when the web configuration asks for it (with a handshake
//! deadline, and a plain-HTTP request to the TLS port answered with a 400
//! that says so), a deadline for request headers (a slow-loris client is
//! cut off), and an idle deadline (a connection on which no byte moves
//! either way is closed, whether it idles between requests or stalls
//! mid-request or mid-response). Each request goes through `guard`.

use super::conns::{Table, Ticket};
use super::guard::Guard;
use super::idle_io::IdleIo;
use super::{
    Site, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT, MAX_HEADER_BYTES,
    SHUTDOWN_GRACE,
};
use crate::config::web::WebServerConfig;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
    pub max_connections_per_client: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT,
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

/// Serve on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    site: Arc<Site>,
    opts: ServeOptions,
    shutdown: CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = opts.limits;
    let table = Table::new(limits.max_connections, limits.max_connections_per_client);
    let guard = Arc::new(Guard::new(site, opts.web));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&e, &table, &guard).await;
                    continue;
                }
            },
        };
        let (ticket, shed) = table.admit(peer.ip());
        for reason in shed {
            guard.site.metrics.http_shed(reason);
        }
        let conn = Connection {
            guard: Arc::clone(&guard),
            limits: limits.clone(),
            watcher: graceful.watcher(),
        };
        tokio::spawn(conn.run(stream, ticket));
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// After a failed accept: out of file descriptors, the idlest connection
/// makes room (and if every one is busy, the next try waits for one to end,
/// quietly: this repeats); anything else is logged.
async fn accept_failed(e: &std::io::Error, table: &Table, guard: &Guard) {
    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        if table.shed_one() {
            guard.site.metrics.http_shed("connection_limit");
        } else {
            tracing::debug!("accept failed, no idle connection to close: {e}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    } else {
        tracing::warn!("accept failed: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Connection {
    guard: Arc<Guard>,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
}

/// Marks a connection busy while a request is answered (until dropped,
/// so a request abandoned midway does not leave it marked).
struct Busy(Arc<std::sync::atomic::AtomicUsize>);

impl Busy {
    fn start(count: Arc<std::sync::atomic::AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::Relaxed);
        Busy(count)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a client that sent plain HTTP to the TLS port is told (as Go's
/// net/http tells it), rather than a TLS alert it cannot read.
const PLAIN_HTTP_TO_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server: use https://\n";

/// True when the first bytes are a TLS handshake record; false for
/// anything else (a plain HTTP request). Waits for the first byte.
async fn starts_with_tls(stream: &TcpStream) -> std::io::Result<bool> {
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    Ok(n == 0 || first[0] == 0x16)
}

impl Connection {
    async fn run(self, stream: TcpStream, ticket: Ticket) {
        let metrics = self.guard.site.metrics.clone();
        metrics.http_connections(1);
        let shed = ticket.shed.clone();
        tokio::select! {
            _ = shed.cancelled() => tracing::debug!("connection shed to make room"),
            _ = self.handshake(stream, &ticket) => {}
        }
        metrics.http_connections(-1);
        drop(ticket);
    }

    async fn handshake(self, mut stream: TcpStream, ticket: &Ticket) {
        let tls = match &self.guard.web {
            Some(w) => w.current().await.tls.clone(),
            None => None,
        };
        let Some(acceptor) = tls else {
            return self.serve(stream, ticket).await;
        };
        let deadline = self.limits.tls_handshake_timeout;
        let handshake = async {
            if !starts_with_tls(&stream).await? {
                let _ = stream.write_all(PLAIN_HTTP_TO_TLS).await;
                let _ = stream.shutdown().await;
                return Err(std::io::Error::other("plain HTTP sent to the TLS port"));
            }
            acceptor.accept(stream).await
        };
        match tokio::time::timeout(deadline, handshake).await {
            Ok(Ok(stream)) => self.serve(stream, ticket).await,
            Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
            Err(_) => tracing::debug!("TLS handshake not finished in time"),
        }
    }

    async fn serve<I>(self, io: I, ticket: &Ticket)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = ticket.activity.clone();
        let io = IdleIo::new(io, activity.clone());
        let (guard, busy) = (self.guard, ticket.busy.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (guard, busy) = (Arc::clone(&guard), busy.clone());
            async move {
                let _busy = Busy::start(busy);
                Ok::<_, std::convert::Infallible>(guard.answer(req).await)
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

#[cfg(test)]
mod tests;
