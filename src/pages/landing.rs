//! `/`: links and one row per environment.

use super::{esc, when, STYLE};
use crate::snapshot::Store;
use std::fmt::Write;
use work_api::wire::WorkState;

pub fn render(store: &Store, telemetry_path: &str, now_ms: i64) -> String {
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>anthropic-work-exporter</title>{STYLE}</head><body>\
         <h1>anthropic-work-exporter</h1><p>Prometheus exporter for the work queues of self-hosted Claude Managed Agents environments, version {}.</p>\
         <ul><li><a href=\"{p}\">{p}</a> metrics</li><li><a href=\"/-/healthy\">/-/healthy</a></li><li><a href=\"/-/ready\">/-/ready</a></li></ul>\
         <h2>Environments</h2><table><tr><th>environment</th><th>name</th><th>up</th><th>last success</th><th>depth</th>",
        env!("CARGO_PKG_VERSION"),
        p = esc(telemetry_path)
    );
    for s in WorkState::KNOWN {
        let _ = write!(html, "<th>{}</th>", s.as_str());
    }
    html.push_str("<th>last error</th></tr>");
    for (id, st) in store.read().iter() {
        let snap = st.snapshot.as_deref();
        let up = if st.up {
            "<span class=\"up\">up</span>"
        } else if st.attempted {
            "<span class=\"down\">down</span>"
        } else {
            "pending"
        };
        let _ = write!(
            html,
            "<tr><td><a href=\"/environments/{id}\">{id}</a></td><td>{}</td><td>{up}</td><td>{}</td><td>{}</td>",
            esc(&st.environment.name),
            when(st.last_success_ms),
            snap.map_or("-".into(), |s| s.queue.depth.to_string()),
            id = esc(id),
        );
        for i in 0..WorkState::KNOWN.len() {
            let _ = write!(
                html,
                "<td>{}</td>",
                snap.map_or("-".into(), |s| s.work.states[i].to_string())
            );
        }
        let err = st.recent_errors.front().map_or(String::new(), |e| {
            format!("{} ({}): {}", when(Some(e.at_ms)), e.reason, e.message)
        });
        let _ = write!(html, "<td>{}</td></tr>", esc(&err));
    }
    let _ = write!(
        html,
        "</table><p>Rendered at {}.</p></body></html>",
        when(Some(now_ms))
    );
    html
}
