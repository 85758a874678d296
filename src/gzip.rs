//! The one gzip path: whether a client takes gzip (a real `Accept-Encoding`
//! parse, q-values included), and compressing a body written in pieces.

use bytes::Bytes;
use std::io::Write;

/// True when `accept_encoding` (the header's value, if any) accepts gzip:
/// `gzip` or `x-gzip` with a q-value above 0, or `*` above 0 when gzip is not
/// named. `gzip;q=0` refuses it, as RFC 9110 §12.5.3 says.
pub fn accepted(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut named = None;
    let mut any = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| v.trim())
            })
            .next()
            .map_or(Some(1.0), |v| v.parse::<f64>().ok());
        // A malformed q-value is read as a refusal, never as a yes.
        let positive = q.is_some_and(|q| q > 0.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => named = Some(named.unwrap_or(false) || positive),
            "*" => any = Some(positive),
            _ => {}
        }
    }
    named.or(any).unwrap_or(false)
}

/// Compress what `write` writes, at the fastest level (a scrape is on the
/// clock; the text compresses about tenfold even so). `None` when writing failed.
pub fn compress(
    size_hint: usize,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Option<Bytes> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(size_hint.clamp(4096, 1 << 20)),
        flate2::Compression::fast(),
    );
    write(&mut enc).ok()?;
    enc.finish().ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn accept_encoding_is_read_with_its_q_values() {
        for yes in [
            "gzip",
            "GZIP",
            "deflate, gzip",
            "gzip;q=0.5",
            "br;q=1.0, gzip; q=0.8, *;q=0.1",
            "*",
            "x-gzip",
            "identity, *;q=0.3",
        ] {
            assert!(accepted(Some(yes)), "{yes}");
        }
        for no in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip;q=0.000",
            "gzip; q=0, *",
            "*;q=0",
            "gzip;q=nonsense",
            "gzipped",
        ] {
            assert!(!accepted(Some(no)), "{no}");
        }
        assert!(!accepted(None));
    }

    #[test]
    fn compressed_body_inflates_to_what_was_written() {
        let body = compress(0, |w| {
            w.write_all(b"a 1\n")?;
            w.write_all(b"b 2\n")
        })
        .unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a 1\nb 2\n");
    }

    #[test]
    fn a_failed_write_gives_no_body() {
        let failed = compress(0, |_| Err(std::io::Error::other("render failed")));
        assert!(failed.is_none());
    }
}
