//! Paging as the official SDK pages (issue 12): an upstream that ends its
//! lists with `"next_page": ""` or puts empty pages before more items keeps
//! `anthropic_work_up` at 1 with whole counts, for the work list and for
//! discovery's environment list alike; the loop guards still hold.

use crate::rig::{rig, series, value, Options, API_KEY};
use crate::upstream::{page, work, Reply, Seen, Upstream, STATS};
use std::sync::Arc;
use std::time::Duration;
use work_api::client::NoObserver;
use work_api::secret::Secret;
use work_api::{ApiClient, RequestBudget};
use work_exporter::config::DiscoverySettings;
use work_exporter::discovery::{Discovery, DiscoveryObserver};
use work_exporter::shard::Shard;

const T0: &str = "2025-12-31T23:58:00Z";

/// A work list whose pages are `pages[cursor]`, the first at no cursor.
fn list(
    pages: Vec<(Option<&'static str>, String)>,
) -> impl Fn(&Seen, usize) -> Reply + Send + Sync {
    move |seen, _| {
        if seen.path.ends_with("/work/stats") {
            return Reply::json(200, STATS);
        }
        let at = seen.param("page");
        pages
            .iter()
            .find(|(c, _)| c.map(str::to_owned) == at)
            .map(|(_, body)| Reply::json(200, body.clone()))
            .unwrap_or_else(|| panic!("unexpected cursor {at:?}"))
    }
}

fn items(text: &str, state: &str) -> Option<f64> {
    value(
        text,
        &series("anthropic_work_items", &format!(r#"state="{state}""#)),
    )
}

#[tokio::test]
async fn a_list_ending_with_an_empty_cursor_is_whole_and_never_asks_for_page_empty() {
    let up = Upstream::start(list(vec![
        (
            None,
            page(
                &[
                    work("w1", "queued", T0, None),
                    work("w2", "active", T0, Some(T0)),
                ],
                Some("c1"),
            ),
        ),
        (
            Some("c1"),
            page(&[work("w3", "stopped", T0, None)], Some("")),
        ),
    ]))
    .await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    let m = r.scrape();
    assert_eq!(value(&m, &series("anthropic_work_up", "")), Some(1.0));
    assert_eq!(
        (
            items(&m, "queued"),
            items(&m, "active"),
            items(&m, "stopped")
        ),
        (Some(1.0), Some(1.0), Some(1.0))
    );
    assert_eq!(up.count("/work"), 2, "two pages, no request for page=\"\"");
    assert!(up
        .seen()
        .iter()
        .all(|s| s.param("page").as_deref() != Some("")));
}

#[tokio::test]
async fn empty_pages_with_new_cursors_are_followed_and_the_counts_are_whole() {
    let up = Upstream::start(list(vec![
        (None, page(&[], Some("e0"))),
        (
            Some("e0"),
            page(
                &[
                    work("w1", "queued", T0, None),
                    work("w2", "queued", T0, None),
                ],
                Some("c1"),
            ),
        ),
        (Some("c1"), page(&[], Some("e1"))),
        (Some("e1"), page(&[], Some("e2"))),
        (
            Some("e2"),
            page(&[work("w3", "active", T0, Some(T0))], None),
        ),
    ]))
    .await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    let m = r.scrape();
    assert_eq!(value(&m, &series("anthropic_work_up", "")), Some(1.0));
    assert_eq!(
        (items(&m, "queued"), items(&m, "active")),
        (Some(2.0), Some(1.0))
    );
    assert_eq!(
        value(&m, &series("anthropic_work_exporter_list_truncated", "")),
        Some(0.0)
    );
    assert_eq!(up.count("/work"), 5, "every page once");
}

#[tokio::test]
async fn endless_empty_pages_stop_at_max_pages_as_a_truncated_list() {
    let up = Upstream::start(|seen: &Seen, _| {
        if seen.path.ends_with("/work/stats") {
            return Reply::json(200, STATS);
        }
        let n = seen
            .param("page")
            .map_or(0, |p| p[1..].parse::<u32>().unwrap() + 1);
        Reply::json(200, page(&[], Some(&format!("p{n}"))))
    })
    .await;
    let r = rig(
        &up.base_url,
        Options {
            max_pages: 4,
            ..Options::default()
        },
    );
    assert!(r.refresh().await);
    let m = r.scrape();
    assert_eq!(
        value(&m, &series("anthropic_work_exporter_list_truncated", "")),
        Some(1.0)
    );
    assert_eq!(up.count("/work"), 4);
}

struct Count;
impl DiscoveryObserver for Count {
    fn discovery_done(&self, _: usize) {}
    fn discovery_failed(&self, _: &'static str) {}
}

fn environment(id: &str, scope: &str) -> String {
    format!(
        r#"{{"type":"environment","id":"{id}","name":"n-{id}","description":null,"config":{{"type":"self_hosted"}},"metadata":{{}},"created_at":"{T0}","updated_at":"{T0}","archived_at":null,"scope":"{scope}"}}"#
    )
}

fn discovery(up: &Upstream, max_pages: u32) -> Discovery {
    let client = ApiClient::new(
        url::Url::parse(&up.base_url).unwrap(),
        None,
        2,
        1 << 20,
        Arc::new(RequestBudget::new(1000.0)),
        Arc::new(NoObserver),
    )
    .unwrap();
    Discovery::new(
        Arc::new(client),
        Secret::new(API_KEY),
        DiscoverySettings {
            interval: Duration::from_secs(300),
            name_regex: None,
            ids: None,
            include_archived: false,
            keys_dir: None,
            metadata_labels: Default::default(),
        },
        Vec::new(),
        Shard::default(),
        Duration::from_secs(5),
        max_pages,
        Arc::new(Count),
    )
}

#[tokio::test]
async fn discovery_follows_empty_pages_stops_at_an_empty_cursor_and_reads_scope() {
    let up = Upstream::start(|seen: &Seen, _| {
        let body = match seen.param("page").as_deref() {
            None => page(&[], Some("e0")),
            Some("e0") => page(&[environment("env_a", "organization")], Some("c1")),
            Some("c1") => page(&[], Some("e1")),
            Some("e1") => page(&[environment("env_b", "account")], Some("")),
            Some(other) => panic!("unexpected cursor {other}"),
        };
        Reply::json(200, body)
    })
    .await;
    let found = discovery(&up, 10).list().await.unwrap();
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.id.as_str(), f.scope.as_str()))
        .collect();
    assert_eq!(got, vec![("env_a", "organization"), ("env_b", "account")]);
    assert_eq!(up.count("/v1/environments"), 4);
}

#[tokio::test]
async fn discovery_fails_on_a_repeated_cursor_and_past_max_pages() {
    let up = Upstream::start(|_: &Seen, _| Reply::json(200, page(&[], Some("same")))).await;
    let e = discovery(&up, 10).list().await.unwrap_err();
    assert_eq!(e.reason(), "pagination");
    assert_eq!(up.count("/v1/environments"), 2);

    let up = Upstream::start(|seen: &Seen, _| {
        let n = seen
            .param("page")
            .map_or(0, |p| p[1..].parse::<u32>().unwrap() + 1);
        Reply::json(
            200,
            page(
                &[environment(&format!("env_{n}"), "organization")],
                Some(&format!("p{n}")),
            ),
        )
    })
    .await;
    let e = discovery(&up, 3).list().await.unwrap_err();
    assert_eq!(
        e.reason(),
        "pagination",
        "a partial list is never kept: {e}"
    );
    assert_eq!(up.count("/v1/environments"), 3);
}
