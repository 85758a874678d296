//! The drill-down page: stale heartbeats and lost leases listed apart, and
//! tables that show ages (full timestamps only in titles) so the page fits
//! 1280 px.

use work_exporter::config::{Environment, Thresholds};
use work_exporter::pages::drilldown;
use work_exporter::snapshot::{ItemSample, QueueSnapshot, Snapshot, Store, WorkSnapshot};

const NOW: i64 = 1_767_225_600_000;
const TTL_MS: i64 = 300_000;

fn silent_for(n: usize, secs: i64) -> ItemSample {
    let hb = NOW - secs * 1000;
    ItemSample {
        work_id: format!("work_01HZXQ7V9KJ8M2N4P6R8T0W2Y{n}"),
        session_id: format!("session_01HZXQ7V9KJ8M2N4P6R8T0W2Y{n}"),
        state: "active",
        created_at_ms: Some(hb - 60_000),
        acknowledged_at_ms: Some(hb - 50_000),
        started_at_ms: Some(hb - 40_000),
        latest_heartbeat_at_ms: Some(hb),
        stop_requested_at_ms: None,
    }
}

/// One environment whose workers went silent 20 s, 100 s, 200 s and 400 s ago.
fn store() -> Store {
    let store = Store::default();
    store.set_environments(&[Environment {
        id: "env_a".into(),
        name: "prod".into(),
        labels: Default::default(),
        key: None,
        scope: Default::default(),
        cadence: Default::default(),
    }]);
    let silent = [400, 200, 100, 20];
    let work = WorkSnapshot {
        states: [0, 0, 4, 0, 0],
        heartbeats_ms: silent.iter().map(|s| NOW - s * 1000).collect(),
        oldest_heartbeats: silent
            .iter()
            .enumerate()
            .map(|(n, s)| silent_for(n, *s))
            .collect(),
        ..Default::default()
    };
    let snap = Snapshot::whole(QueueSnapshot::default(), work, NOW - 2_000);
    store.commit_success("env_a", snap, &Default::default());
    store
}

#[test]
fn stale_heartbeats_and_lost_leases_are_listed_apart() {
    let store = store();
    let map = store.read();
    let j = drilldown::json(&map["env_a"], NOW, TTL_MS, &Thresholds::default());
    let ids = |k: &str| -> Vec<String> {
        j[k].as_array()
            .unwrap()
            .iter()
            .map(|i| i["work_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids("stale_heartbeats"),
        [
            "work_01HZXQ7V9KJ8M2N4P6R8T0W2Y1",
            "work_01HZXQ7V9KJ8M2N4P6R8T0W2Y2"
        ],
        "silent for over 90 s, lease still held"
    );
    assert_eq!(
        ids("expired_leases"),
        ["work_01HZXQ7V9KJ8M2N4P6R8T0W2Y0"],
        "past the 300 s TTL"
    );
    assert_eq!(
        (
            j["snapshot"]["heartbeats_stale"].as_u64(),
            j["snapshot"]["leases_expired"].as_u64()
        ),
        (Some(3), Some(1)),
        "the counts: stale includes the lost one, as anthropic_work_heartbeats_stale does"
    );
    assert_eq!(j["stale_heartbeat_seconds"].as_f64(), Some(90.0));
}

#[test]
fn the_page_shows_ages_with_full_timestamps_only_on_hover() {
    let store = store();
    let map = store.read();
    let html = drilldown::html(&map["env_a"], NOW, TTL_MS, &Thresholds::default());
    assert!(
        html.contains("Stale heartbeats: workers silent for over 90 s"),
        "{html}"
    );
    assert!(
        html.contains("Lost leases: no heartbeat for over 300 s"),
        "{html}"
    );
    // The lost lease's heartbeat: 6m 40s ago, its timestamp in the title.
    assert!(
        html.contains("<span title=\"2025-12-31T23:53:20.000000Z\">6m 40s</span>"),
        "{html}"
    );
    // No timestamp printed as cell text: every one sits in a title attribute.
    let text: String = html
        .split('<')
        .filter_map(|tag| tag.split_once('>').map(|(_, text)| text))
        .collect();
    assert!(
        !text.contains("2025-12-31T"),
        "a full timestamp in the page text: {text}"
    );
}
