//! The scanner is held to the serde decoder: on every page, mutated or not,
//! the rows, the cursor and success or failure are serde's.

use super::scan;
use super::{serde_page_each, work_page_each, WorkRow};

/// A page as the API writes it, with what the scanner must skip: metadata
/// with escapes and non-ASCII, a secret, fields it does not know.
fn page() -> String {
    let mut rows = Vec::new();
    let states = [
        "queued",
        "starting",
        "active",
        "stopping",
        "stopped",
        "hibernating",
    ];
    for i in 0..12 {
        let ts = |s: u32| {
            format!(
                "\"2026-03-0{}T10:{:02}:{:02}.{:03}Z\"",
                1 + i % 5,
                s % 60,
                (s * 7) % 60,
                s * 13 % 1000
            )
        };
        let maybe = |k: u32| {
            if (i + k) % 3 == 0 {
                "null".to_string()
            } else {
                ts(i * 10 + k)
            }
        };
        let data = match i % 4 {
            0 => format!("{{\"type\":\"session\",\"id\":\"sesn_{i:04}\"}}"),
            1 => "{\"type\":\"healthcheck\"}".to_string(),
            2 => "null".to_string(),
            _ => format!("{{\"id\":null,\"type\":\"batch\",\"extra\":[{i},-0.5e3,true]}}"),
        };
        rows.push(format!(
            "{{\"type\":\"work\",\"id\":\"work_{i:04}\",\"environment_id\":\"env_1\",\"state\":\"{}\",\"created_at\":{},\"acknowledged_at\":{},\"started_at\":{},\"latest_heartbeat_at\":{},\"stop_requested_at\":{},\"stopped_at\":{},\"data\":{data},\"metadata\":{{\"team\":\"a\\\"b\\n\\u00e9 ünï\",\"n\":\"{i}\"}},\"secret\":{}}}",
            states[i as usize % states.len()],
            ts(i),
            maybe(1),
            maybe(2),
            maybe(3),
            maybe(4),
            maybe(5),
            if i % 2 == 0 { "null".to_string() } else { format!("\"s3cr3t_{i}\"") },
        ));
    }
    format!(
        "{{\"data\":[\n  {}\n],\"next_page\":\"cur_abc\",\"has_more\":false}}",
        rows.join(",\n  ")
    )
}

/// What a decoder made of a page: its rows and cursor, or that it failed
/// (rows handed on before a failure are dropped by the caller, so not compared).
fn outcome<'a>(
    body: &'a [u8],
    decode: impl FnOnce(
        &'a [u8],
        &mut dyn FnMut(WorkRow<'a>),
    ) -> Result<super::PageEnd<'a>, serde_json::Error>,
) -> String {
    let mut rows = Vec::new();
    match decode(body, &mut |row| rows.push(format!("{row:?}"))) {
        Ok(end) => format!(
            "{} rows {:?} next {:?}\n{}",
            end.rows,
            rows.len(),
            end.next_page,
            rows.join("\n")
        ),
        Err(_) => "error".into(),
    }
}

fn both(body: &[u8]) -> (String, String) {
    (
        outcome(body, |b, each| work_page_each(b, each)),
        outcome(body, |b, each| serde_page_each(b, each)),
    )
}

fn scanned(body: &[u8]) -> bool {
    scan::page(body, &mut 0, &mut |_| {}).is_ok()
}

#[test]
fn the_api_shape_is_read_by_the_scanner_and_agrees_with_serde() {
    let body = page();
    assert!(
        scanned(body.as_bytes()),
        "the scanner stopped on the API's shape"
    );
    let (fast, reference) = both(body.as_bytes());
    assert_eq!(fast, reference);
    assert!(fast.starts_with("12 rows 12"), "{fast}");
}

#[test]
fn where_the_scanner_stops_serde_goes_on_without_handing_a_row_twice() {
    // Row 3's id is escaped: the scanner hands on rows 0-2, then stops.
    let body = page().replacen("\"work_0003\"", "\"work_\\u0030003\"", 1);
    assert!(!scanned(body.as_bytes()));
    let (fast, reference) = both(body.as_bytes());
    assert_eq!(fast, reference);
    assert!(fast.starts_with("12 rows 12"), "{fast}");
    assert_eq!(fast.matches("\"work_0002\"").count(), 1, "{fast}");
    assert!(fast.contains("id: \"work_0003\""), "{fast}");
}

/// One small random edit: the bytes and tokens a JSON parser trips on.
fn mutate(body: &mut Vec<u8>, x: &mut u64) {
    let mut next = || {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    };
    const BYTES: &[u8] = b"\"\\{}[],: \t\nn0-e.1uaE+\x01\x7f\xff\xc3";
    const TOKENS: &[&str] = &[
        "null",
        "\"id\":\"x\",",
        "\\u0041",
        "\\x",
        "[1,2]",
        "1e5",
        "01",
        "-",
        "1.",
        "\"state\":\"active\",",
        "\"data\":null,",
        "\"created_at\":\"2026-01-01T00:00:00Z\",",
        "{}",
        "[]",
        "\"",
        ",",
        "tru",
        "\u{e9}",
        "\"\\ud800\"",
        "\"type\":\"session\",",
        "[{\"a\":[[]]}],",
        "\"next_page\":null,",
    ];
    let at = (next() as usize) % (body.len() + 1);
    match next() % 6 {
        0 if at < body.len() => body[at] = BYTES[next() as usize % BYTES.len()],
        1 if at < body.len() => {
            body.remove(at);
        }
        2 => body.insert(at, BYTES[next() as usize % BYTES.len()]),
        3 => {
            let t = TOKENS[next() as usize % TOKENS.len()].as_bytes();
            body.splice(at..at, t.iter().copied());
        }
        4 if at < body.len() => {
            // A stretch of the page copied elsewhere: duplicate keys, rows, braces.
            let len = 1 + next() as usize % 80;
            let piece = body[at..(at + len).min(body.len())].to_vec();
            let to = next() as usize % (body.len() + 1);
            body.splice(to..to, piece);
        }
        _ if at < body.len() => {
            let end = (at + 1 + next() as usize % 40).min(body.len());
            body.drain(at..end);
        }
        _ => {}
    }
}

#[test]
fn on_mutated_pages_the_scanner_and_serde_agree() {
    let bases: Vec<Vec<u8>> = vec![
        page().into_bytes(),
        br#"{"data":[{"id":"w1","state":"queued","data":{"id":"session_1","type":"session"}},{"id":"w2","state":"queued","data":{"type":"healthcheck"}}],"next_page":null}"#.to_vec(),
        br#"{"next_page":"n","data":[{"id":"a","state":"queued","created_at":"2026-01-01T00:00:00Z"}],"extra":{"x":[1]}}"#.to_vec(),
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut cases, mut fast, mut failed) = (0, 0, 0);
    for round in 0..12_000 {
        let mut body = bases[round % bases.len()].clone();
        for _ in 0..1 + round % 3 {
            mutate(&mut body, &mut x);
        }
        let (got, reference) = both(&body);
        assert_eq!(got, reference, "on {:?}", String::from_utf8_lossy(&body));
        cases += 1;
        fast += usize::from(scanned(&body));
        failed += usize::from(reference == "error");
    }
    // The mutations reach both sides: pages the scanner reads itself, and pages serde refuses.
    assert!(fast > cases / 10, "the scanner read only {fast} of {cases}");
    assert!(
        failed > cases / 10,
        "only {failed} of {cases} pages were refused"
    );
    assert!(
        fast + failed < cases,
        "no page went from the scanner to serde and decoded"
    );
}
