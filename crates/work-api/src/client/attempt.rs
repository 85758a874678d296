//! One request, sent once: the headers the SDK sends, a body capped at
//! `--api.max-body-bytes`, the rate-limit headers read on the way, and the
//! typed error of a failed answer (with the server's retry advice) or of no
//! answer at all (`timeout`, `connect`).

use super::endpoint::LIST_WORK;
use super::{ApiClient, Credential, Response, Workspace};
use crate::clock::{Clock, SystemClock};
use crate::error::ApiError;
use crate::redact::scrub;
use crate::retry::{header_str, retry_after, should_retry};
use crate::secret::Secret;
use crate::wire;
use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use reqwest::header::HeaderMap;
use std::sync::atomic::Ordering::Relaxed;
use tokio::time::{Duration, Instant};

/// What one attempt produced when it failed, with the server's retry advice.
pub(super) struct Failure {
    pub(super) error: ApiError,
    pub(super) retry_after: Option<Duration>,
    pub(super) should_retry: Option<bool>,
}

impl Failure {
    /// A failure the server gave no advice on.
    fn without_advice(error: ApiError) -> Failure {
        Failure {
            error,
            retry_after: None,
            should_retry: None,
        }
    }
}

/// Why a response body was not read whole.
enum Unread {
    /// Over `max_body`, announced or counted.
    TooLarge,
    /// The connection broke while the body streamed.
    Broken(reqwest::Error),
    /// A compressed body that does not decode.
    Corrupt(String),
}

/// A `content-encoding` the client decodes.
#[derive(Clone, Copy, Debug)]
enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    /// The response's coding; `None` for identity or one not asked for (passed through).
    fn of(headers: &HeaderMap) -> Option<Coding> {
        let value = header_str(headers, "content-encoding")?.trim();
        if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
            Some(Coding::Gzip)
        } else if value.eq_ignore_ascii_case("deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// Feeds `input` to `d`, writing into `body`'s spare room and growing it up to
/// the cap. True when the stream ended. `finish`: no input follows.
fn inflate_into(
    client: &ApiClient,
    d: &mut Decompress,
    input: &mut &[u8],
    body: &mut Vec<u8>,
    finish: bool,
) -> Result<bool, Unread> {
    let flush = if finish {
        FlushDecompress::Finish
    } else {
        FlushDecompress::None
    };
    loop {
        if body.len() == body.capacity() && body.len() < client.max_body {
            let want = body.len() + (input.len() * 4).max(32 << 10);
            client.make_room(body, want.min(client.max_body));
        }
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(input, body, flush)
            .map_err(|e| Unread::Corrupt(e.to_string()))?;
        let consumed = (d.total_in() - in_before) as usize;
        let produced = d.total_out() - out_before;
        *input = &input[consumed..];
        match status {
            Status::StreamEnd => return Ok(true),
            // Full at the cap and stuck: a decoder that can go on only by
            // writing is over it (or, with no input, may be: read more first).
            _ if body.len() >= client.max_body && consumed == 0 && produced == 0 => {
                if !input.is_empty() || finish {
                    return Err(Unread::TooLarge);
                }
                return Ok(false);
            }
            // Full below the cap: grow and go on.
            _ if body.len() == body.capacity() => {}
            _ if input.is_empty() => return Ok(false),
            // Room left and input left, yet no progress: the stream is stuck.
            _ if consumed == 0 && produced == 0 => {
                return Err(Unread::Corrupt(
                    "the deflate stream made no progress".into(),
                ))
            }
            _ => {}
        }
    }
}

impl ApiClient {
    /// One request. On failure also returns the `code` label to count it under.
    pub(super) async fn attempt(
        &self,
        endpoint: &'static str,
        url: url::Url,
        cred: Credential<'_>,
        workspace: Workspace,
    ) -> Result<(Response, u16), (Failure, String)> {
        let secret = cred.secret();
        let mut resp = match self.request(url, secret, workspace).send().await {
            Ok(r) => r,
            Err(e) => {
                let (error, code) = transport_error(endpoint, &e, secret);
                return Err((Failure::without_advice(error), code));
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers();
        // Scrubbed before it is shortened, so no part of an echoed key survives.
        let request_id = scrub(header_str(headers, "request-id").unwrap_or("none"), secret)
            .chars()
            .take(128)
            .collect::<String>();
        self.read_ratelimit(headers);
        let retry_after = retry_after(headers);
        let should_retry = should_retry(headers);
        let body = match self.read_body(endpoint, &mut resp).await {
            Ok(body) => body,
            Err(Unread::TooLarge) => {
                let limit = self.max_body;
                let error = ApiError::TooLarge {
                    endpoint,
                    request_id,
                    limit,
                };
                return Err((Failure::without_advice(error), status.to_string()));
            }
            Err(Unread::Corrupt(message)) => {
                // A compressed body that does not decode: the server's fault, not the network's.
                let error = ApiError::Decode {
                    endpoint,
                    request_id,
                    message: scrub(
                        &format!("cannot decode the compressed body: {message}"),
                        secret,
                    ),
                };
                return Err((Failure::without_advice(error), status.to_string()));
            }
            Err(Unread::Broken(e)) => {
                let (error, code) = transport_error(endpoint, &e, secret);
                let failure = Failure {
                    error,
                    retry_after: None,
                    should_retry,
                };
                return Err((failure, code));
            }
        };
        if (200..300).contains(&status) {
            return Ok((Response { body, request_id }, status));
        }
        let error = ApiError::from_response(endpoint, status, &body, request_id, secret);
        let failure = Failure {
            error,
            retry_after,
            should_retry,
        };
        Err((failure, status.to_string()))
    }

    /// The GET as SDK 2.14 sends it (tests/it/wire.rs pins the headers):
    /// both kinds of key as a bearer token, the version, the beta, `accept`
    /// (and `accept-encoding`, from `Transport`).
    fn request(
        &self,
        url: url::Url,
        secret: &Secret,
        workspace: Workspace,
    ) -> reqwest::RequestBuilder {
        let req = self
            .http
            .get(url)
            .header("accept", "application/json")
            .header("anthropic-version", &self.api_version)
            .header("anthropic-beta", wire::BETA_HEADER)
            .bearer_auth(secret.expose());
        let req = match self.accept_encoding {
            Some(coding) => req.header("accept-encoding", coding),
            None => req,
        };
        match (workspace, &self.workspace_id) {
            (Workspace::Offered, Some(ws)) => req.header("anthropic-workspace-id", ws),
            _ => req,
        }
    }

    /// The decoded body: refused early when its announced length is over the
    /// cap, counted as it streams (decoded bytes, when compressed) when not.
    /// The buffer never grows past the cap, so a compression bomb costs at
    /// most `max_body` of memory before it fails as `too_large`.
    async fn read_body(
        &self,
        endpoint: &'static str,
        resp: &mut reqwest::Response,
    ) -> Result<Bytes, Unread> {
        let coding = match self.accept_encoding {
            Some(_) => Coding::of(resp.headers()),
            None => None,
        };
        let announced = resp.content_length();
        let hint = match (coding, announced) {
            (None, Some(len)) if len as usize > self.max_body => return Err(Unread::TooLarge),
            (None, Some(len)) => len as usize,
            // A compressed length says little of the decoded one: JSON pages
            // shrink about tenfold.
            (Some(_), Some(len)) if endpoint != LIST_WORK => (len as usize).saturating_mul(8),
            _ if endpoint == LIST_WORK => self.page_hint.load(Relaxed),
            _ => 0,
        };
        let mut body = Vec::with_capacity(hint.min(self.max_body));
        match coding {
            None => {
                while let Some(chunk) = resp.chunk().await.map_err(Unread::Broken)? {
                    let len = body.len() + chunk.len();
                    if len > self.max_body {
                        return Err(Unread::TooLarge);
                    }
                    self.make_room(&mut body, len);
                    body.extend_from_slice(&chunk);
                }
            }
            Some(coding) => self.inflate(coding, resp, &mut body).await?,
        }
        if endpoint == LIST_WORK {
            // A little over the largest page, so the next one is read without a copy.
            self.page_hint
                .fetch_max(body.len() + body.len() / 16, Relaxed);
        }
        Ok(Bytes::from(body))
    }

    /// Room in `body` for `len` bytes: doubling as Vec does, but never past the cap.
    fn make_room(&self, body: &mut Vec<u8>, len: usize) {
        if len > body.capacity() {
            let target = len.max(body.capacity() * 2).min(self.max_body);
            body.reserve_exact(target - body.len());
        }
    }

    /// Inflates the raw body into `body` as it streams, with no copy between:
    /// the decoder writes into the buffer's spare room, grown (to the cap at
    /// most) only when full. Deflate comes zlib-wrapped or raw, as httpx accepts.
    async fn inflate(
        &self,
        coding: Coding,
        resp: &mut reqwest::Response,
        body: &mut Vec<u8>,
    ) -> Result<(), Unread> {
        let mut decoder: Option<Decompress> = match coding {
            Coding::Gzip => Some(Decompress::new_gzip(15)),
            Coding::Deflate => None,
        };
        // Deflate's first bytes, held until two decide zlib or raw.
        let mut head: Vec<u8> = Vec::new();
        loop {
            let chunk = resp.chunk().await.map_err(Unread::Broken)?;
            let eof = chunk.is_none();
            let chunk = chunk.unwrap_or_default();
            let held;
            let mut input: &[u8] = &chunk;
            let d = match &mut decoder {
                Some(d) => d,
                None => {
                    head.extend_from_slice(&chunk);
                    if head.len() < 2 && !eof {
                        continue;
                    }
                    let zlib = head.len() >= 2
                        && head[0] & 0x0f == 8
                        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                    held = std::mem::take(&mut head);
                    input = &held;
                    decoder.insert(Decompress::new(zlib))
                }
            };
            if eof && d.total_in() == 0 && input.is_empty() {
                // No body at all (a 204, say): nothing to decode.
                return Ok(());
            }
            if inflate_into(self, d, &mut input, body, eof)? {
                // Read the body to its end, so the connection goes back to the
                // pool; whatever follows the compressed stream is ignored, as
                // reqwest's decoder ignored it.
                while !eof && resp.chunk().await.map_err(Unread::Broken)?.is_some() {}
                return Ok(());
            }
            if eof {
                return Err(Unread::Corrupt("unexpected end of file".into()));
            }
        }
    }

    fn read_ratelimit(&self, headers: &HeaderMap) {
        let Some(remaining) = header_str(headers, "anthropic-ratelimit-requests-remaining")
            .and_then(|v| v.parse::<f64>().ok())
        else {
            return;
        };
        self.observer.ratelimit_remaining(remaining);
        let limit = header_str(headers, "anthropic-ratelimit-requests-limit")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        // Slow down before a 429, not after: with under 5% of the window left,
        // hold every request until the window resets.
        if remaining <= (limit * 0.05).max(1.0) {
            let reset = header_str(headers, "anthropic-ratelimit-requests-reset")
                .and_then(wire::parse_timestamp)
                .map(|reset| {
                    let now = SystemClock.now_secs();
                    Duration::from_secs_f64((reset - now).clamp(0.0, 60.0))
                })
                .unwrap_or(Duration::from_secs(1));
            self.budget.pause_until(Instant::now() + reset);
        }
    }
}

/// A request that got no HTTP answer: `timeout` or `connect`, with the
/// transport's message scrubbed of the key. Also returns the `code` label.
fn transport_error(
    endpoint: &'static str,
    e: &reqwest::Error,
    secret: &Secret,
) -> (ApiError, String) {
    if e.is_timeout() {
        return (
            ApiError::Timeout {
                endpoint,
                after: Duration::ZERO,
            },
            "timeout".into(),
        );
    }
    // reqwest's message never carries header values, but scrub anyway.
    let message = chain(e);
    (
        ApiError::Connect {
            endpoint,
            message: scrub(&message, secret),
        },
        "connect".into(),
    )
}

/// The error and its sources, one line.
fn chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The `code` label of a successful request.
pub(super) fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        204 => "204",
        _ => "2xx",
    }
}
