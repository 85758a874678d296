//! Specifications of the lean decoder and of the timestamp fast path.

use super::*;
use crate::wire::format_timestamp_ms;

#[test]
fn page_decodes_and_ignores_secret_metadata_and_unknown_fields() {
    let body = br#"{"data":[{"id":"work_1","type":"work","environment_id":"env_1","state":"active",
        "created_at":"2026-01-01T00:00:00Z","acknowledged_at":"2026-01-01T00:00:01.5Z","started_at":null,
        "latest_heartbeat_at":null,"stop_requested_at":null,"stopped_at":null,
        "data":{"id":"session_1","type":"session"},"metadata":{"k":"v"},"secret":"s3cr3t","brand_new":[1,2]},
        {"id":"work_2","state":"hibernating","created_at":"2026-01-01T00:00:00Z","data":{"id":"x","type":"healthcheck"}}],
        "next_page":"abc"}"#;
    let page = work_page(body).unwrap();
    assert_eq!(page.data.len(), 2);
    assert_eq!(page.data[0].state, WorkState::Active);
    assert_eq!(page.data[1].state, WorkState::Unknown);
    assert_eq!(page.data[0].acknowledged_at_ms, Some(1_767_225_601_500));
    assert_eq!(page.data[0].started_at_ms, None);
    assert_eq!(page.data[1].stopped_at_ms, None);
    assert_eq!(page.next_page.as_deref(), Some("abc"));
    assert!(!format!("{page:?}").contains("s3cr3t"));
}

#[test]
fn wrong_types_are_a_decode_error() {
    assert!(work_page(br#"{"data":[{"id":5,"state":"active"}],"next_page":null}"#).is_err());
    assert!(work_page(br#"{"data":{"id":"w"},"next_page":null}"#).is_err());
    assert!(work_page(br#"{"data":[{"id":"w","state":"active","created_at":5}]}"#).is_err());
    assert!(work_page(br#"{"data":[{"id":"w","state":"active","data":{"id":[]}}]}"#).is_err());
}

#[test]
fn strings_borrow_from_the_body_and_escaped_ones_still_decode() {
    let page = work_page(
        br#"{"data":[{"id":"work_1","state":"queued","data":{"id":"session_1","type":"sess\u0069on"}}],"next_page":"c1"}"#,
    )
    .unwrap();
    let row = &page.data[0];
    assert!(matches!(row.id, Cow::Borrowed("work_1")));
    let data = row.data.as_ref().unwrap();
    assert!(matches!(data.id, Some(Cow::Borrowed("session_1"))));
    assert_eq!(data.kind, Some(DataType::Session));
    assert!(matches!(page.next_page, Some(Cow::Borrowed("c1"))));
}

#[test]
fn data_type_reads_session_healthcheck_and_anything_else_as_other() {
    let page = work_page(
        br#"{"data":[
        {"id":"w1","state":"queued","data":{"id":"session_1","type":"session"}},
        {"id":"w2","state":"queued","data":{"type":"healthcheck"}},
        {"id":"w3","state":"queued","data":{"id":"x","type":"batch_job"}},
        {"id":"w4","state":"queued","data":{"id":"session_2","type":null}},
        {"id":"w5","state":"queued"}],"next_page":null}"#,
    )
    .unwrap();
    let kinds: Vec<_> = page
        .data
        .iter()
        .map(|r| r.data.as_ref().and_then(|d| d.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            Some(DataType::Session),
            Some(DataType::Healthcheck),
            Some(DataType::Other),
            None,
            None
        ]
    );
    assert!(page.data[1].data.as_ref().unwrap().id.is_none());
    assert!(work_page(br#"{"data":[{"id":"w","state":"queued","data":{"type":7}}]}"#).is_err());
}

#[test]
fn an_unreadable_timestamp_is_none_not_a_failed_page() {
    let page = work_page(
        br#"{"data":[{"id":"w","state":"active","created_at":"yesterday","acknowledged_at":"2026-02-30T00:00:00Z"}],"next_page":null}"#,
    )
    .unwrap();
    assert_eq!(page.data[0].created_at_ms, None);
    assert_eq!(page.data[0].acknowledged_at_ms, None);
}

/// What the general parser alone says.
fn reference(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[test]
fn fast_path_agrees_with_the_general_parser() {
    let mut cases: Vec<String> = [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00.000001Z",
        "2024-02-29T23:59:59.999999999Z",
        "2023-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2000-02-29T12:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2016-12-31T23:59:60Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00.1234567891Z",
        "2026-01-01T00:00:00.5",
        "2026-01-01t00:00:00z",
        "2026-01-01T01:00:00+01:00",
        "2026-01-01T00:00:00.250-02:30",
        "1969-12-31T23:59:59.9996Z",
        "9999-12-31T23:59:59.999Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01 00:00:00Z",
        "２026-01-01T00:00:00Z",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every shape of fraction over a spread of instants, as the API writes them.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ms = (x % 253_402_300_799_999) as i64;
        let full = format_timestamp_ms(ms);
        let (head, frac) = full.trim_end_matches('Z').split_once('.').unwrap();
        let digits = (x >> 40) as usize % 10;
        let frac: String = frac.chars().chain("987".chars()).take(digits).collect();
        cases.push(if digits == 0 {
            format!("{head}Z")
        } else {
            format!("{head}.{frac}Z")
        });
        cases.push(full);
    }
    for c in &cases {
        assert_eq!(timestamp_ms(c), reference(c), "{c}");
    }
    assert_eq!(
        timestamp_ms("2026-01-01T00:00:01.5Z"),
        Some(1_767_225_601_500)
    );
}

#[test]
fn rows_are_handed_on_in_order_and_a_page_needs_its_data_once() {
    let body = br#"{"next_page":"n","data":[{"id":"a","state":"queued","created_at":"2026-01-01T00:00:00Z"},
        {"id":"b","state":"stopped","stopped_at":"2026-01-02T00:00:00.5Z"}],"extra":{"x":[1]}}"#;
    let mut seen = Vec::new();
    let end = work_page_each(body, |r| seen.push((r.id.to_string(), r.stopped_at_ms))).unwrap();
    assert_eq!(end.rows, 2);
    assert_eq!(end.next_page.as_deref(), Some("n"));
    assert_eq!(
        seen,
        vec![("a".into(), None), ("b".into(), Some(1_767_312_000_500))]
    );
    assert!(work_page(br#"{"next_page":null}"#).is_err());
    assert!(work_page(br#"{"data":[],"data":[]}"#).is_err());
    assert!(work_page(br#"{"data":[]} trailing"#).is_err());
    assert_eq!(work_page(br#"{"data":[]}"#).unwrap().next_page, None);
}
