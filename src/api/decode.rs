//! Lean, borrowing decoders for the hot path: a list page is read into rows
//! that keep only what the exporter counts. `metadata`, `secret` and unknown
//! fields are skipped by serde without being stored anywhere.

use super::wire::WorkState;
use serde::Deserialize;
use std::borrow::Cow;

/// One page of the work list, borrowing from the response body.
#[derive(Debug, Deserialize)]
pub struct WorkPage<'a> {
    #[serde(borrow)]
    pub data: Vec<WorkRow<'a>>,
    #[serde(borrow, default)]
    pub next_page: Option<Cow<'a, str>>,
}

/// The fields of a work item the exporter uses.
#[derive(Debug, Deserialize)]
pub struct WorkRow<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub state: WorkState,
    #[serde(borrow, default)]
    pub created_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub acknowledged_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub started_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub latest_heartbeat_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub stop_requested_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub stopped_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub data: Option<RowData<'a>>,
}

/// `data` of a work item: the session it runs.
#[derive(Debug, Deserialize)]
pub struct RowData<'a> {
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type", default)]
    pub kind: Option<Cow<'a, str>>,
}

/// Decode a list page.
pub fn work_page(body: &[u8]) -> Result<WorkPage<'_>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// RFC 3339 to Unix milliseconds; `None` for an absent or unreadable value.
pub fn timestamp_ms(value: &Option<Cow<'_, str>>) -> Option<i64> {
    let s = value.as_deref()?;
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            timestamp_ms(&page.data[0].acknowledged_at),
            Some(1_767_225_601_500)
        );
        assert_eq!(page.next_page.as_deref(), Some("abc"));
        assert!(!format!("{page:?}").contains("s3cr3t"));
    }

    #[test]
    fn wrong_types_are_a_decode_error() {
        assert!(work_page(br#"{"data":[{"id":5,"state":"active"}],"next_page":null}"#).is_err());
        assert!(work_page(br#"{"data":{"id":"w"},"next_page":null}"#).is_err());
    }
}
