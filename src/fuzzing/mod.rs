//! Fuzz targets: what the exporter does with bytes it did not choose, as
//! functions of `&[u8]` that must never panic. cargo-fuzz runs them
//! (`fuzz/`), and so does a seeded, stable-Rust smoke test in the ordinary
//! test run (`src/fuzzing/smoke.rs`, a unit test). Each returns whether the input was
//! accepted, so a harness can tell that its inputs reach past the parser.

use crate::config::Environment;
use crate::refresh::fold::{Fold, Tracker};
use crate::snapshot::{QueueSnapshot, Snapshot, Store};
use std::collections::BTreeMap;
use work_api::secret::Secret;
use work_api::wire::QueueStats;
use work_api::{decode, ApiError};

const NOW_MS: i64 = 1_767_225_600_000;

fn render(store: &Store) -> String {
    let ctx = crate::metrics::RenderContext {
        now_ms: NOW_MS,
        ..Default::default()
    };
    crate::metrics::render_environments(store, &ctx)
}

fn store_with(queue: QueueSnapshot, pages: &[&[u8]]) -> Option<Store> {
    let tracker = Tracker::new(NOW_MS - 60_000);
    let mut fold = Fold::new(&tracker, NOW_MS - 60_000);
    let mut rows = 0u64;
    for body in pages {
        let page = decode::work_page(body).ok()?;
        for row in &page.data {
            fold.add(row);
            rows += 1;
        }
    }
    let (work, delta, _next) = fold.finish(false, pages.len() as u32);
    let counted: u64 = work.states.iter().sum::<u64>() + work.unknown_state;
    assert!(counted <= rows, "{counted} items counted from {rows} rows");
    let store = Store::default();
    let env = Environment {
        id: "env_fuzz".into(),
        name: "fuzz".into(),
        labels: BTreeMap::new(),
        key: None,
        scope: Default::default(),
        cadence: Default::default(),
    };
    store.set_environments(&[env]);
    store.commit_success("env_fuzz", Snapshot::whole(queue, work, NOW_MS), &delta);
    Some(store)
}

/// `GET …/work/stats` bodies: decode, snapshot, render.
pub fn stats(data: &[u8]) -> bool {
    let Ok(stats) = serde_json::from_slice::<QueueStats>(data) else {
        return false;
    };
    let queue = QueueSnapshot::from(&stats);
    let Some(store) = store_with(queue, &[]) else {
        return false;
    };
    let text = render(&store);
    assert!(text.contains("anthropic_work_queue_depth{"));
    true
}

/// Work list pages, separated by a 0xFF byte (never in UTF-8 JSON): decode
/// each, fold them in order as one walk, render the result.
pub fn work_pages(data: &[u8]) -> bool {
    let pages: Vec<&[u8]> = data.split(|b| *b == 0xFF).collect();
    let Some(store) = store_with(QueueSnapshot::default(), &pages) else {
        return false;
    };
    let text = render(&store);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let v = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        assert!(v.is_some_and(|v| v >= 0.0), "bad sample: {line}");
    }
    true
}

/// Error responses: a status (first two bytes) and a body, into the error the
/// exporter records, with a key spliced into the body (third byte says where)
/// that must not survive.
pub fn error_body(data: &[u8]) -> bool {
    if data.len() < 3 {
        return false;
    }
    let status = 100 + u16::from_be_bytes([data[0], data[1]]) % 500;
    let key = "sk-fuzz-KEY-9a8b7c6d5e4f";
    let rest = &data[3..];
    let at = usize::from(data[2]).min(rest.len());
    let body = [&rest[..at], key.as_bytes(), &rest[at..]].concat();
    let secret = Secret::new(key);
    let error = ApiError::from_response("list_work", status, &body, "req_x".into(), &secret)
        .redact(&[&secret]);
    let text = error.to_string();
    assert!(!text.contains(key), "the key survived: {text}");
    assert!(!error.reason().is_empty());
    true
}

/// Paths a fuzzer must not make the parsers open (endless or blocking files).
fn names_a_device(text: &str) -> bool {
    ["dev/", "proc/", "sys/"].iter().any(|p| text.contains(p))
}

/// The `--config.file` format; variables all read "fuzz-value".
pub fn config_file(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    if names_a_device(text) {
        return false;
    }
    crate::config::check_file_text(text, &|_| Some("fuzz-value".into())).is_ok()
}

/// The `--web.config.file` format.
pub fn web_config_file(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    if names_a_device(text) {
        return false;
    }
    crate::config::web::WebConfig::parse(text, std::path::Path::new("/nonexistent")).is_ok()
}

#[cfg(test)]
mod smoke;
