//! A scripted upstream on loopback for byte-exact faults: each request is
//! answered by a test-supplied function, and every request is recorded so
//! tests can assert the exact number of calls and the credentials sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// When the request head arrived (spacing of retries).
    pub at: std::time::Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with a JSON (or any) body.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Exactly these bytes, then close.
    Raw(Vec<u8>),
    /// Accept and never answer.
    Hang,
    /// These bytes, then a TCP reset (RST, not FIN): a connection torn down mid-body.
    Reset(Vec<u8>),
    /// These bytes (say the headers and half the body), then silence forever.
    Stall(Vec<u8>),
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply::Status {
            status,
            headers: vec![("request-id".into(), "req_mock".into())],
            body: body.into().into_bytes(),
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        if let Reply::Status { headers, .. } = &mut self {
            headers.push((k.into(), v.into()));
        }
        self
    }
    /// An error body with `error.details.error_code`, as the API sends it.
    pub fn error_code(status: u16, kind: &str, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            format!(
                r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}","details":{{"error_code":"{code}"}}}},"request_id":"req_mock"}}"#
            ),
        )
    }
    pub fn error(status: u16, kind: &str, message: &str) -> Reply {
        Reply::json(
            status,
            format!(
                r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}},"request_id":"req_mock"}}"#
            ),
        )
    }
}

type Script = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

/// A running scripted upstream.
#[derive(Clone)]
pub struct Upstream {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Script>>,
}

impl Upstream {
    pub async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Upstream {
        Self::start_on("127.0.0.1:0".parse().unwrap(), script).await
    }

    /// Start on a given address.
    pub async fn start_on(
        addr: std::net::SocketAddr,
        script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Self::start_with(TcpListener::bind(addr).await.unwrap(), script)
    }

    /// Start on a listener (e.g. one made from a socket that refused connections until now).
    pub fn start_with(
        listener: TcpListener,
        script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let up = Upstream {
            base_url: format!("http://{addr}"),
            seen: Arc::default(),
            script: Arc::new(Mutex::new(Arc::new(script))),
        };
        let u = up.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let u = u.clone();
                tokio::spawn(async move { u.answer(stream).await });
            }
        });
        up
    }

    /// Replace the script (e.g. the fault ends).
    pub fn set_script(&self, script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) {
        *self.script.lock().unwrap() = Arc::new(script);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self, path_suffix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.ends_with(path_suffix))
            .count()
    }

    async fn answer(&self, mut stream: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let mut lines = head.split("\r\n");
        let target = lines
            .next()
            .unwrap_or("")
            .split(' ')
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let (path, query) = target
            .split_once('?')
            .map_or((target.clone(), String::new()), |(p, q)| {
                (p.to_string(), q.to_string())
            });
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let seen = Seen {
            path,
            query,
            headers,
            at: std::time::Instant::now(),
        };
        let n = {
            let mut all = self.seen.lock().unwrap();
            all.push(seen.clone());
            all.len() - 1
        };
        let script = self.script.lock().unwrap().clone();
        match script(&seen, n) {
            Reply::Status {
                status,
                headers,
                body,
            } => {
                let mut out = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = stream.write_all(out.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
            }
            Reply::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
            Reply::Reset(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
                // Linger 0: closing sends RST instead of FIN.
                let _ = stream.set_zero_linger();
                drop(stream);
                return;
            }
            Reply::Stall(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        let _ = stream.shutdown().await;
    }
}

/// A work item in the wire format.
pub fn work(id: &str, state: &str, created: &str, hb: Option<&str>) -> String {
    let hb = hb.map_or("null".to_string(), |h| format!("\"{h}\""));
    let acked = if state == "queued" {
        "null".to_string()
    } else {
        format!("\"{created}\"")
    };
    format!(
        r#"{{"id":"{id}","type":"work","environment_id":"env_mock","state":"{state}","created_at":"{created}","acknowledged_at":{acked},"started_at":null,"latest_heartbeat_at":{hb},"stop_requested_at":null,"stopped_at":null,"data":{{"id":"session_{id}","type":"session"}},"metadata":{{"secret_note":"metadata-marker"}},"secret":"item-secret-marker"}}"#
    )
}

pub fn page(items: &[String], next: Option<&str>) -> String {
    let next = next.map_or("null".to_string(), |n| format!("\"{n}\""));
    format!(r#"{{"data":[{}],"next_page":{next}}}"#, items.join(","))
}

pub const STATS: &str = r#"{"type":"work_queue_stats","depth":3,"pending":1,"oldest_queued_at":"2026-01-01T00:00:00Z","workers_polling":2}"#;
