//! Compressed responses: what the exporter folds from a gzip or deflate body
//! is what it folds from the plain one, a compression bomb fails the refresh
//! as `too_large` with the process's memory bounded by the body cap, and the
//! simulator compresses when asked, as the API does.

use crate::refresh::T0;
use crate::rig::{rig, series, value, Options};
use crate::upstream::{page, work, Reply, Seen, Upstream, STATS};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use std::io::Write;

/// How a body goes over the wire.
#[derive(Clone, Copy, Debug)]
enum Coding {
    Plain,
    Gzip,
    Deflate,
}

fn encode(coding: Coding, body: &str) -> Reply {
    let bytes = match coding {
        Coding::Plain => return Reply::json(200, body),
        Coding::Gzip => {
            let mut e = GzEncoder::new(Vec::new(), Compression::default());
            e.write_all(body.as_bytes()).unwrap();
            e.finish().unwrap()
        }
        Coding::Deflate => {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
            e.write_all(body.as_bytes()).unwrap();
            e.finish().unwrap()
        }
    };
    let name = if matches!(coding, Coding::Gzip) {
        "gzip"
    } else {
        "deflate"
    };
    Reply::Status {
        status: 200,
        headers: vec![
            ("request-id".into(), "req_mock".into()),
            ("content-encoding".into(), name.into()),
        ],
        body: bytes,
    }
}

/// Three pages of 300 items in every state, each body sent as `coding`.
fn pages(coding: Coding) -> impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static {
    const STATES: [&str; 5] = [
        "queued",
        "active",
        "stopping",
        "stopped",
        "unknown_new_state",
    ];
    let items = move |from: usize| -> Vec<String> {
        (from..from + 300)
            .map(|i| {
                let hb = (i % 3 == 0).then_some("2025-12-31T23:59:50Z");
                work(&format!("w{i}"), STATES[i % STATES.len()], T0, hb)
            })
            .collect()
    };
    move |seen, _| {
        let body = if seen.path.ends_with("/work/stats") {
            STATS.to_string()
        } else {
            match seen.param("page").as_deref() {
                None => page(&items(0), Some("c1")),
                Some("c1") => page(&items(300), Some("c2")),
                _ => page(&items(600), Some("")),
            }
        };
        encode(coding, &body)
    }
}

#[tokio::test]
async fn compressed_and_plain_responses_yield_identical_snapshots() {
    let mut scrapes = Vec::new();
    for coding in [Coding::Plain, Coding::Gzip, Coding::Deflate] {
        let up = Upstream::start(pages(coding)).await;
        let r = rig(&up.base_url, Options::default());
        assert!(r.refresh().await, "{coding:?}");
        // Asked as the SDK's HTTP client asks, whatever the server then sends.
        for seen in up.seen() {
            assert_eq!(seen.header("accept-encoding"), Some("gzip, deflate"));
        }
        assert_eq!(up.count("/work"), 3, "{coding:?}: three pages, once each");
        let m = r.scrape();
        let items = series("anthropic_work_items", r#"state="queued""#);
        assert_eq!(value(&m, &items), Some(180.0), "{coding:?}\n{m}");
        // The exporter's own request timings differ run to run; everything else must not.
        let snapshot: Vec<&str> = m
            .lines()
            .filter(|l| !l.starts_with("anthropic_work_exporter_") && !l.starts_with("process_"))
            .collect();
        scrapes.push((coding, snapshot.join("\n")));
    }
    let (_, plain) = &scrapes[0];
    for (coding, text) in &scrapes[1..] {
        assert_eq!(text, plain, "{coding:?} differs from plain");
    }
}

/// A zlib stream (`content-encoding: deflate`) of `2^28` zero bytes in about
/// 1.7 MB: one literal, then "copy 258 bytes from 1 back" over and over, in
/// deflate's fixed Huffman code (RFC 1951 3.2.6), with a valid Adler-32.
fn deflate_bomb() -> Vec<u8> {
    const DECODED: u64 = 1 << 28;
    let mut bits = BitWriter::default();
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE 01: fixed codes
    let literal_zero = |b: &mut BitWriter| b.code(0x30, 8);
    literal_zero(&mut bits);
    let copies = (DECODED - 1) / 258;
    for _ in 0..copies {
        bits.code(0xC5, 8); // length symbol 285: 258 bytes
        bits.code(0, 5); // distance symbol 0: 1 back
    }
    for _ in 0..(DECODED - 1 - copies * 258) {
        literal_zero(&mut bits);
    }
    bits.code(0, 7); // end of block
    let mut out = vec![0x78, 0x01];
    out.extend(bits.finish());
    // Adler-32 of n zeros: a stays 1, b adds 1 per byte.
    let adler = (((DECODED % 65521) as u32) << 16) | 1;
    out.extend(adler.to_be_bytes());
    out
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// `len` bits of `value`, least significant first (header fields, extra bits).
    fn put(&mut self, value: u64, len: u32) {
        self.acc |= value << self.n;
        self.n += len;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// A Huffman code, most significant bit first.
    fn code(&mut self, code: u64, len: u32) {
        let reversed = code.reverse_bits() >> (64 - len);
        self.put(reversed, len);
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// (resident, peak resident) of this process in bytes. nextest runs every
/// test in a process of its own, so the peak is this test's.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (kib("VmRSS:") * 1024, kib("VmHWM:") * 1024)
}

#[tokio::test]
async fn a_compressed_body_expanding_past_the_limit_fails_as_too_large_in_bounded_memory() {
    let bomb = deflate_bomb();
    assert!(bomb.len() < 2 << 20, "{} bytes on the wire", bomb.len());
    let up = Upstream::start(move |seen, _| {
        if seen.path.ends_with("/work/stats") {
            return Reply::json(200, STATS);
        }
        Reply::Status {
            status: 200,
            headers: vec![
                ("request-id".into(), "req_bomb".into()),
                ("content-encoding".into(), "deflate".into()),
            ],
            body: bomb.clone(),
        }
    })
    .await;
    let limit = 1 << 20;
    let r = rig(
        &up.base_url,
        Options {
            max_body: limit,
            ..Options::default()
        },
    );
    // Reset the peak to what is resident now (Linux: "5" clears VmHWM).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let (before, _) = rss();
    assert!(!r.refresh().await, "the bomb must fail the refresh");
    let (_, peak) = rss();
    let m = r.scrape();
    let too_large = series(
        "anthropic_work_exporter_refresh_failures_total",
        r#"reason="too_large""#,
    );
    assert_eq!(value(&m, &too_large), Some(1.0), "{m}");
    // 256 MiB decoded would be read whole without the cap; the cap holds it
    // to 1 MiB plus the decoder's and the test's own buffers (the bomb's
    // 1.7 MB, cloned per request).
    let grown = peak.saturating_sub(before);
    assert!(
        grown < limit as u64 + (12 << 20),
        "memory grew by {} MiB for a {} MiB cap",
        grown >> 20,
        limit >> 20
    );
}

#[tokio::test]
async fn a_corrupt_compressed_body_fails_as_decode_not_as_a_network_error() {
    let up = Upstream::start(|seen, _| {
        if seen.path.ends_with("/work/stats") {
            return Reply::json(200, STATS);
        }
        Reply::Status {
            status: 200,
            headers: vec![("content-encoding".into(), "gzip".into())],
            body: b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffthis is not deflate".to_vec(),
        }
    })
    .await;
    let r = rig(&up.base_url, Options::default());
    assert!(!r.refresh().await);
    let decode = series(
        "anthropic_work_exporter_refresh_failures_total",
        r#"reason="decode""#,
    );
    let m = r.scrape();
    assert_eq!(
        value(&m, &decode),
        Some(1.0),
        "{}",
        m.lines()
            .filter(|l| l.contains("failures_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn the_simulator_gzips_a_body_when_asked_as_the_api_does() {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut opts = crate::ground_truth::options(1, 500, 0, 0.0, "steady");
    opts.paging = work_sim::Paging::default(); // no empty first page: one page of 500

    let sim = work_sim::start(opts, shutdown.clone()).await.unwrap();
    let env = &sim.credentials.environments[0];
    let url = format!(
        "{}/v1/environments/{}/work?limit=1000",
        sim.credentials.base_url, env.id
    );
    // reqwest's own decoding off, to see the bytes on the wire.
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_deflate()
        .build()
        .unwrap();
    let get = |coding: Option<&'static str>| {
        let mut req = raw
            .get(&url)
            .bearer_auth(&env.key)
            .header("anthropic-version", work_api::wire::API_VERSION)
            .header("anthropic-beta", work_api::wire::BETA_HEADER);
        if let Some(c) = coding {
            req = req.header("accept-encoding", c);
        }
        req.send()
    };
    let plain = get(None).await.unwrap();
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = plain.bytes().await.unwrap();
    let gzipped = get(Some("gzip, deflate")).await.unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let gzipped = gzipped.bytes().await.unwrap();
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gzipped[..]),
        &mut decoded,
    )
    .unwrap();
    assert_eq!(decoded, plain, "the same body, compressed");
    assert!(
        gzipped.len() * 4 < plain.len(),
        "{} of {} bytes",
        gzipped.len(),
        plain.len()
    );
    let refused = get(Some("gzip;q=0, identity")).await.unwrap();
    assert_eq!(refused.headers().get("content-encoding"), None);
    shutdown.cancel();
}
