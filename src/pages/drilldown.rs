//! `/environments/{id}`: the current snapshot and the items behind each alert
//! condition (stale heartbeats, lost leases, oldest queued, stuck stopping,
//! waiting healthchecks), the alert thresholds, with the last refresh errors.
//! HTML for a person (ages in the tables, each full timestamp in its
//! cell's title, so the page fits 1280 px), JSON for `Accept: application/json`.

use super::{age_secs, ago, esc, when, STYLE};
use crate::config::{Threshold, Thresholds};
use crate::snapshot::{EnvironmentState, ItemSample};
use serde_json::{json, Value};
use std::fmt::Write;
use work_api::wire::WorkState;

fn item_json(i: &ItemSample, now_ms: i64, age_from: Option<i64>) -> Value {
    json!({
        "work_id": i.work_id,
        "session_id": i.session_id,
        "state": i.state,
        "age_seconds": age_secs(now_ms, age_from),
        "created_at": i.created_at_ms.map(|t| when(Some(t))),
        "acknowledged_at": i.acknowledged_at_ms.map(|t| when(Some(t))),
        "started_at": i.started_at_ms.map(|t| when(Some(t))),
        "latest_heartbeat_at": i.latest_heartbeat_at_ms.map(|t| when(Some(t))),
        "stop_requested_at": i.stop_requested_at_ms.map(|t| when(Some(t))),
    })
}

fn heartbeat_of(i: &ItemSample) -> Option<i64> {
    i.latest_heartbeat_at_ms
        .or(i.acknowledged_at_ms)
        .or(i.created_at_ms)
}

/// What the alert rules compare this environment against: every threshold,
/// with its value and source where the config file sets it, else the rules'
/// own default (served as no series, so the rules fall back to theirs).
fn thresholds_json(thresholds: &Thresholds, id: &str) -> Vec<Value> {
    let served: Vec<_> = thresholds.served(id).collect();
    Threshold::ALL
        .iter()
        .map(|t| match served.iter().find(|s| s.threshold == *t) {
            Some(s) => {
                json!({"threshold": t.label(), "value": s.value, "source": s.source.as_str()})
            }
            None => json!({"threshold": t.label(), "value": null, "source": RULES_DEFAULT}),
        })
        .collect()
}

/// The source of a threshold the config file does not set.
const RULES_DEFAULT: &str = "rules' default";

/// The drill-down as JSON.
pub fn json(
    st: &EnvironmentState,
    now_ms: i64,
    lease_ttl_ms: i64,
    thresholds: &Thresholds,
) -> Value {
    let snap = st.snapshot.as_deref();
    let stale_ms = thresholds.stale_heartbeat_ms(&st.environment.id);
    // Heartbeats older than `from` but not older than `to` (lease still held:
    // stale; past the TTL: lost), among the oldest the walk kept.
    let silent = |from: i64, to: i64| -> Vec<Value> {
        snap.map(|s| {
            s.work
                .oldest_heartbeats
                .iter()
                .filter(|i| heartbeat_of(i).is_some_and(|h| h < now_ms - from && h >= now_ms - to))
                .map(|i| item_json(i, now_ms, heartbeat_of(i)))
                .collect()
        })
        .unwrap_or_default()
    };
    let expired = silent(lease_ttl_ms, i64::MAX / 2);
    let stale = silent(stale_ms, lease_ttl_ms);
    json!({
        "environment_id": st.environment.id,
        "name": st.environment.name,
        "labels": st.environment.labels,
        "up": st.up,
        "last_success_at": st.last_success_ms.map(|t| when(Some(t))),
        "now_ms": now_ms,
        "lease_ttl_seconds": lease_ttl_ms as f64 / 1000.0,
        "stale_heartbeat_seconds": stale_ms as f64 / 1000.0,
        "snapshot": snap.map(|s| json!({
            "stats_refreshed_at": s.queue_finished_at_ms.map(|t| when(Some(t))),
            "list_refreshed_at": s.work_finished_at_ms.map(|t| when(Some(t))),
            "list_age_seconds": age_secs(now_ms, s.work_finished_at_ms),
            "queue": {
                "depth": s.queue.depth,
                "pending": s.queue.pending,
                "workers_polling": s.queue.workers_polling,
                "oldest_queued_at": s.queue.oldest_queued_at_ms.map(|t| when(Some(t))),
                "oldest_age_seconds": age_secs(now_ms, s.queue.oldest_queued_at_ms).unwrap_or(0.0),
            },
            "items": WorkState::KNOWN.iter().enumerate().map(|(i, st)| (st.as_str().to_string(), json!(s.work.states[i]))).collect::<serde_json::Map<_, _>>(),
            "healthcheck_items": WorkState::KNOWN.iter().enumerate().map(|(i, st)| (st.as_str().to_string(), json!(s.work.healthchecks.states[i]))).collect::<serde_json::Map<_, _>>(),
            "healthcheck_waiting_oldest_age_seconds": age_secs(now_ms, s.work.healthchecks.oldest_waiting_ms).unwrap_or(0.0),
            "unknown_state_items": s.work.unknown_state,
            "unknown_type_items": s.work.other_type,
            "leases_expired": s.work.leases_expired(now_ms, lease_ttl_ms),
            "heartbeats_stale": s.work.heartbeats_stale(now_ms, stale_ms),
            "list_pages": s.work.pages,
            "list_truncated": s.work.truncated,
        })),
        "stale_heartbeats": stale,
        "expired_leases": expired,
        "oldest_heartbeats": snap.map(|s| s.work.oldest_heartbeats.iter().map(|i| item_json(i, now_ms, heartbeat_of(i))).collect::<Vec<_>>()).unwrap_or_default(),
        "oldest_queued": snap.map(|s| s.work.oldest_queued.iter().map(|i| item_json(i, now_ms, i.created_at_ms)).collect::<Vec<_>>()).unwrap_or_default(),
        "waiting_healthchecks": snap.map(|s| s.work.healthchecks.oldest_waiting.iter().map(|i| item_json(i, now_ms, i.created_at_ms)).collect::<Vec<_>>()).unwrap_or_default(),
        "stuck_stopping": snap.map(|s| s.work.oldest_stopping.iter().map(|i| item_json(i, now_ms, i.stop_requested_at_ms)).collect::<Vec<_>>()).unwrap_or_default(),
        "alert_thresholds": thresholds_json(thresholds, &st.environment.id),
        "recent_errors": st.recent_errors.iter().map(|e| json!({"at": when(Some(e.at_ms)), "reason": e.reason, "message": e.message})).collect::<Vec<_>>(),
    })
}

fn table(html: &mut String, title: &str, items: &[Value], now_ms: i64) {
    let _ = write!(html, "<h2>{}</h2>", esc(title));
    if items.is_empty() {
        html.push_str("<p>None.</p>");
        return;
    }
    html.push_str("<table><tr><th>work id</th><th>session id</th><th>state</th><th>age</th><th>created</th><th>acknowledged</th><th>started</th><th>last heartbeat</th><th>stop requested</th></tr>");
    for i in items {
        let s = |k: &str| esc(i.get(k).and_then(Value::as_str).unwrap_or("-"));
        // An age ago, the full timestamp on hover.
        let t = |k: &str| ago(now_ms, i.get(k).and_then(Value::as_str));
        let age = i
            .get("age_seconds")
            .and_then(Value::as_f64)
            .map_or("-".into(), super::duration);
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{age}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s("work_id"), s("session_id"), s("state"), t("created_at"), t("acknowledged_at"), t("started_at"), t("latest_heartbeat_at"), t("stop_requested_at")
        );
    }
    html.push_str("</table>");
}

/// The alert thresholds as a table: value and where it comes from.
fn thresholds_table(html: &mut String, j: &Value) {
    html.push_str(
        "<h2>Alert thresholds</h2><table><tr><th>threshold</th><th>value</th><th>source</th></tr>",
    );
    for t in j["alert_thresholds"].as_array().into_iter().flatten() {
        let value = t["value"]
            .as_f64()
            .map_or("-".to_string(), |v| v.to_string());
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(t["threshold"].as_str().unwrap_or("")),
            esc(&value),
            esc(t["source"].as_str().unwrap_or("")),
        );
    }
    html.push_str("</table>");
}

/// The current snapshot's figures, or why there is none.
fn snapshot_summary(html: &mut String, j: &Value) {
    if let Some(s) = j.get("snapshot").filter(|s| !s.is_null()) {
        let q = &s["queue"];
        let _ = write!(
            html,
            "<table><tr><th>depth</th><th>pending</th><th>workers polling</th><th>oldest queued age (s)</th><th>stale heartbeats</th><th>lost leases</th><th>list age (s)</th>{}</tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr></table><p>Stats read {}; work list (counts, heartbeats, leases and the tables below) walked {}.</p>",
            WorkState::KNOWN.iter().map(|st| format!("<th>{}</th>", st.as_str())).collect::<String>(),
            q["depth"], q["pending"], q["workers_polling"], q["oldest_age_seconds"].as_f64().unwrap_or(0.0), s["heartbeats_stale"], s["leases_expired"],
            s["list_age_seconds"].as_f64().map_or("-".to_string(), |a| format!("{a:.0}")),
            WorkState::KNOWN.iter().map(|st| format!("<td>{}</td>", s["items"][st.as_str()])).collect::<String>(),
            ago_or_never(j, s["stats_refreshed_at"].as_str()),
            ago_or_never(j, s["list_refreshed_at"].as_str()),
        );
        let _ = write!(
            html,
            "<p>Healthcheck items (the platform's probes, not counted above): {}; the oldest waiting for {:.0} s.</p>",
            WorkState::KNOWN.iter().map(|st| format!("{} {}", st.as_str(), s["healthcheck_items"][st.as_str()])).collect::<Vec<_>>().join(", "),
            s["healthcheck_waiting_oldest_age_seconds"].as_f64().unwrap_or(0.0),
        );
    } else {
        html.push_str("<p>No current snapshot (never refreshed, or the last success is older than --refresh.stale-after).</p>");
    }
}

fn ago_or_never(j: &Value, ts: Option<&str>) -> String {
    match (ts, j["now_ms"].as_i64()) {
        (Some(_), Some(now)) => format!("{} ago", ago(now, ts)),
        _ => "never".into(),
    }
}

/// The last refresh errors, newest first.
fn errors_table(html: &mut String, st: &EnvironmentState, now_ms: i64) {
    html.push_str("<h2>Recent refresh errors</h2>");
    if st.recent_errors.is_empty() {
        html.push_str("<p>None.</p>");
    } else {
        html.push_str("<table><tr><th>at</th><th>reason</th><th>message</th></tr>");
        for e in &st.recent_errors {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                ago(now_ms, Some(&when(Some(e.at_ms)))),
                esc(e.reason),
                esc(&e.message)
            );
        }
        html.push_str("</table>");
    }
}

/// The drill-down as HTML.
pub fn html(
    st: &EnvironmentState,
    now_ms: i64,
    lease_ttl_ms: i64,
    thresholds: &Thresholds,
) -> String {
    let j = json(st, now_ms, lease_ttl_ms, thresholds);
    let mut html = String::with_capacity(8192);
    let id = esc(&st.environment.id);
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{id}</title>{STYLE}</head><body><p><a href=\"/\">all environments</a> · <a href=\"/environments/{id}?format=json\">JSON</a></p><h1>{} <small><code>{id}</code></small></h1><p>{} · last success {}</p>",
        esc(&st.environment.name),
        if st.up { "<span class=\"up\">up</span>" } else { "<span class=\"down\">down</span>" },
        st.last_success_ms.map_or("never".into(), |t| format!("{} ago", ago(now_ms, Some(&when(Some(t))))))
    );
    snapshot_summary(&mut html, &j);
    let list = |k: &str| {
        j.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (stale_s, ttl_s) = (
        j["stale_heartbeat_seconds"].as_f64().unwrap_or(0.0),
        lease_ttl_ms as f64 / 1000.0,
    );
    let tables: [(String, &str); 6] = [
        (format!("Stale heartbeats: workers silent for over {stale_s:.0} s, lease still held (up to {ttl_s:.0} s)"), "stale_heartbeats"),
        (format!("Lost leases: no heartbeat for over {ttl_s:.0} s (--lease.ttl)"), "expired_leases"),
        ("Oldest queued sessions".into(), "oldest_queued"),
        ("Waiting healthchecks (no worker has taken them)".into(), "waiting_healthchecks"),
        ("Stuck stopping (oldest stop requests)".into(), "stuck_stopping"),
        ("Oldest heartbeats (starting and active)".into(), "oldest_heartbeats"),
    ];
    for (title, key) in tables {
        table(&mut html, &title, &list(key), now_ms);
    }
    thresholds_table(&mut html, &j);
    errors_table(&mut html, st, now_ms);
    html.push_str("</body></html>");
    html
}
