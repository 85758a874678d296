//! A network link on loopback: every byte a client sends reaches the server
//! one round trip later, and each connection sends at most `bandwidth` bytes
//! a second back. The whole round trip is put on the way in, which is what a
//! request/response protocol sees (a request answered one round trip after it
//! was sent; TLS 1.3's handshake costs one round trip more, the first request
//! riding with the client's Finished). TCP's own handshake, done by the
//! kernel before `accept`, is not delayed.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How much of the response goes out at once under a bandwidth cap.
const CHUNK: usize = 16 * 1024;

/// The link's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) round_trip: Duration,
    pub(crate) bandwidth: Option<u64>,
}

impl Link {
    /// Whether there is anything to shape (if not, serve the socket as is).
    pub(crate) fn shapes(&self) -> bool {
        !self.round_trip.is_zero() || self.bandwidth.is_some()
    }

    /// The server's end of a link to `socket`; pump tasks carry the bytes
    /// until either side closes or `shutdown` fires.
    pub(crate) fn attach(self, socket: TcpStream, shutdown: CancellationToken) -> DuplexStream {
        let (server_end, pumps_end) = tokio::io::duplex(4 * CHUNK);
        let (sock_in, sock_out) = socket.into_split();
        let (pump_in, pump_out) = tokio::io::split(pumps_end);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(read_side(sock_in, tx, self.round_trip, shutdown.clone()));
        tokio::spawn(deliver(rx, pump_out));
        tokio::spawn(send_side(pump_in, sock_out, self.bandwidth, shutdown));
        server_end
    }
}

/// Reads what the client sends as it arrives, stamped with when the server may see it.
async fn read_side(
    mut sock: tokio::net::tcp::OwnedReadHalf,
    tx: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    delay: Duration,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = sock.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
        };
        if tx
            .send((Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
        {
            return;
        }
    }
}

/// Hands the client's bytes to the server once their delay is over, in order.
async fn deliver(
    mut rx: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    mut to_server: tokio::io::WriteHalf<DuplexStream>,
) {
    while let Some((at, bytes)) = rx.recv().await {
        tokio::time::sleep_until(at).await;
        if to_server.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = to_server.shutdown().await;
}

/// Sends the server's bytes to the client, paced to `bandwidth`.
async fn send_side(
    mut from_server: tokio::io::ReadHalf<DuplexStream>,
    mut sock: tokio::net::tcp::OwnedWriteHalf,
    bandwidth: Option<u64>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; CHUNK];
    let mut next = Instant::now();
    loop {
        let n = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = from_server.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        if let Some(rate) = bandwidth {
            // Each chunk leaves when the link has carried the previous ones.
            next = next.max(Instant::now());
            tokio::time::sleep_until(next).await;
            next += Duration::from_secs_f64(n as f64 / rate as f64);
        }
        if sock.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = sock.shutdown().await;
}
