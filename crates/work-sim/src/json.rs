//! JSON rendering of work items and pages, written by hand into a pre-sized
//! buffer: a page of 1,000 items must cost well under a millisecond.

use crate::ids;
use crate::paging::{cursor, Paging};
use crate::state::{EnvQueue, Item, ItemKind, NONE};

/// Rough size of one rendered item, to size buffers.
const ITEM_BYTES: usize = 520;

fn push_opt_ts(out: &mut String, key: &str, ms: i64) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
    if ms == NONE {
        out.push_str("null");
    } else {
        out.push('"');
        ids::push_timestamp(out, ms);
        out.push('"');
    }
}

/// Appends a JSON string literal (ids are plain ASCII; metadata may be anything).
pub(crate) fn push_str_lit(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(s).to_string());
    }
}

/// Appends one work item. `secret` is given only for poll responses.
pub(crate) fn push_work(out: &mut String, q: &EnvQueue, it: &Item, secret: Option<&str>) {
    out.push_str("{\"type\":\"work\",\"id\":\"");
    ids::push_work_id(out, q.salt, it.seq);
    out.push_str("\",\"environment_id\":");
    push_str_lit(out, &q.id);
    out.push_str(",\"state\":\"");
    out.push_str(it.state.as_str());
    out.push_str("\",\"created_at\":\"");
    ids::push_timestamp(out, it.created);
    out.push('"');
    push_opt_ts(out, "acknowledged_at", it.acked);
    push_opt_ts(out, "started_at", it.started);
    push_opt_ts(out, "latest_heartbeat_at", it.heartbeat);
    push_opt_ts(out, "stop_requested_at", it.stop_requested);
    push_opt_ts(out, "stopped_at", it.stopped);
    match it.kind {
        ItemKind::Session => {
            out.push_str(",\"data\":{\"type\":\"session\",\"id\":\"");
            ids::push_session_id(out, q.salt, it.seq);
            out.push_str("\"},\"metadata\":{");
        }
        // No session: SDK 2.14 reads only the type of a healthcheck item's data.
        ItemKind::Healthcheck => {
            out.push_str(",\"data\":{\"type\":\"healthcheck\"},\"metadata\":{")
        }
    }
    if let Some(meta) = &it.metadata {
        for (n, (k, v)) in meta.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            push_str_lit(out, k);
            out.push(':');
            push_str_lit(out, v);
        }
    }
    out.push_str("},\"secret\":");
    match secret {
        Some(s) => push_str_lit(out, s),
        None => out.push_str("null"),
    }
    out.push('}');
}

pub(crate) fn work(q: &EnvQueue, it: &Item, secret: Option<&str>) -> String {
    let mut out = String::with_capacity(ITEM_BYTES);
    push_work(&mut out, q, it, secret);
    out
}

/// One page of the work list, after item `after`, ended as `paging` says.
pub(crate) fn work_page(q: &EnvQueue, after: Option<u64>, limit: usize, paging: &Paging) -> String {
    let (range, next) = q.page(after, limit);
    let mut out = String::with_capacity(64 + range.len() * ITEM_BYTES);
    out.push_str("{\"data\":[");
    for (n, it) in q.items()[range].iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push_work(&mut out, q, it, None);
    }
    out.push(']');
    paging.push_next(&mut out, next.map(cursor).as_deref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::LastCursor;
    use work_api::wire::{Page, Work, WorkState};

    const NULL_ENDED: Paging = Paging {
        last_cursor: LastCursor::Null,
        empty_page_every: 0,
    };

    fn queue_with(n: usize) -> EnvQueue {
        let mut q = EnvQueue::new("env_01test".into(), 9);
        for k in 0..n {
            q.enqueue(1_780_000_000_000 + k as i64);
        }
        q
    }

    #[test]
    fn rendered_items_decode_as_wire_work() {
        let mut q = queue_with(2);
        q.update_metadata(1, vec![("team".into(), Some("a\"b\n".into()))])
            .unwrap();
        let s = work(&q, &q.items()[0], Some("sec"));
        let w: Work = serde_json::from_str(&s).unwrap();
        assert_eq!(w.id, ids::work_id(9, 1));
        assert_eq!(w.kind, "work");
        assert_eq!(w.state, WorkState::Queued);
        assert_eq!(w.environment_id, "env_01test");
        assert_eq!(w.created_at, ids::timestamp(1_780_000_000_000));
        assert_eq!(w.acknowledged_at, None);
        assert_eq!(w.data.kind, "session");
        assert!(w.data.id.starts_with("session_01"));
        assert_eq!(w.metadata.get("team").map(String::as_str), Some("a\"b\n"));
        assert_eq!(w.secret.as_deref(), Some("sec"));
        let listed: Work = serde_json::from_str(&work(&q, &q.items()[1], None)).unwrap();
        assert_eq!(listed.secret, None);
    }

    #[test]
    fn a_healthcheck_item_carries_its_type_and_no_session() {
        let mut q = queue_with(1);
        q.enqueue_kind(ItemKind::Healthcheck, 1_780_000_000_500);
        let s = work(&q, &q.items()[1], None);
        assert!(s.contains(r#""data":{"type":"healthcheck"},"#), "{s}");
        let w: Work = serde_json::from_str(&s).unwrap();
        assert_eq!(
            (w.data.kind.as_str(), w.data.id.as_str()),
            ("healthcheck", "")
        );
        let body = work_page(&q, None, 10, &Paging::default());
        let rows = work_api::decode::work_page(body.as_bytes()).unwrap().data;
        let kinds: Vec<_> = rows
            .iter()
            .map(|r| r.data.as_ref().and_then(|d| d.kind))
            .collect();
        use work_api::decode::DataType;
        assert_eq!(
            kinds,
            [Some(DataType::Session), Some(DataType::Healthcheck)]
        );
    }

    #[test]
    fn pages_chain_through_every_item_once() {
        let q = queue_with(45);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page: Page<Work> =
                serde_json::from_str(&work_page(&q, after, 20, &NULL_ENDED)).unwrap();
            assert!(page.data.len() <= 20);
            seen.extend(page.data.into_iter().map(|w| w.id));
            match page.next_page {
                Some(c) => after = Some(crate::paging::parse_cursor(&c).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 45);
        let mut sorted = seen.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 45);
    }

    #[test]
    fn last_full_page_has_no_next_cursor() {
        let q = queue_with(40);
        let page: Page<Work> = serde_json::from_str(&work_page(&q, None, 40, &NULL_ENDED)).unwrap();
        assert_eq!(page.data.len(), 40);
        assert_eq!(page.next_page, None);
        let empty: Page<Work> =
            serde_json::from_str(&work_page(&queue_with(0), None, 20, &NULL_ENDED)).unwrap();
        assert!(empty.data.is_empty() && empty.next_page.is_none());
        let sdk: Page<Work> =
            serde_json::from_str(&work_page(&q, None, 40, &Paging::default())).unwrap();
        assert_eq!(sdk.next_page.as_deref(), Some(""), "the API ends with \"\"");
    }
}
