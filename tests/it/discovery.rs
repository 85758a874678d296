//! Environment discovery against the simulator over real HTTP: only active
//! self-hosted environments are watched, environments created or archived
//! while the exporter runs gain and lose their series, filters apply, keys
//! come from a directory read again on every discovery, and a failed
//! discovery keeps the last known set.

use crate::ground_truth::{options, value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_sim::{self as sim, Credentials, SimOptions};

pub struct Discovering {
    pub url: String,
    pub creds: Credentials,
    pub keys: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for Discovering {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A simulator and an exporter discovering its environments, with every
/// environment's key in the keys directory except those in `keyless`.
pub async fn start(opts: SimOptions, extra_flags: &[&str], keyless: &[usize]) -> Discovering {
    let extra: Vec<String> = extra_flags.iter().map(|f| f.to_string()).collect();
    start_with(opts, move |_| extra, keyless).await
}

/// `start`, with flags that may name the simulator's environments.
pub async fn start_with(
    opts: SimOptions,
    extra_flags: impl FnOnce(&Credentials) -> Vec<String>,
    keyless: &[usize],
) -> Discovering {
    let shutdown = CancellationToken::new();
    let running = sim::start(opts, shutdown.clone()).await.unwrap();
    let creds = running.credentials.clone();
    let keys = crate::exporter::keys_dir(&creds, keyless);
    let dir = keys.path().to_str().unwrap().to_string();
    let extra = extra_flags(&creds);
    let mut flags = vec![
        "--web.listen-address",
        "127.0.0.1:0",
        "--refresh.interval",
        "1s",
        "--api.max-requests-per-second",
        "200",
        "--api.base-url",
        &creds.base_url,
        "--discovery.enabled",
        "--discovery.interval",
        "1s",
        "--discovery.keys-dir",
        &dir,
    ];
    flags.extend(extra.iter().map(String::as_str));
    let cfg = crate::exporter::from_vars(&flags, &[("ANTHROPIC_API_KEY", creds.api_key.clone())]);
    let url = crate::exporter::start(cfg, None, &shutdown).await;
    Discovering {
        url,
        creds,
        keys,
        shutdown,
    }
}

/// `anthropic_work_up` per environment id, from an exposition.
pub fn up_by_environment(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("anthropic_work_up{environment_id=\""))
        .filter_map(|l| {
            let (id, rest) = l.split_once('"')?;
            Some((id.to_string(), rest.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

impl Discovering {
    pub async fn scrape(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Poll the metrics until `f` holds, for at most `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, f: impl Fn(&str) -> bool) -> String {
        let start = std::time::Instant::now();
        loop {
            let m = self.scrape().await;
            if f(&m) {
                return m;
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}; last scrape:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until exactly `ids` are watched, every one up.
    pub async fn wait_for_set(&self, ids: &BTreeSet<String>, what: &str) -> String {
        self.wait_for(Duration::from_secs(30), what, |m| {
            let up = up_by_environment(m);
            up.keys().cloned().collect::<BTreeSet<_>>() == *ids && up.values().all(|v| *v == 1.0)
        })
        .await
    }

    async fn admin(&self, path: &str) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.creds.base_url))
            .bearer_auth(&self.creds.admin_token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Create a self-hosted environment in the simulator: its id and key.
    pub async fn create_environment(&self) -> (String, String) {
        let v = self.admin("/_sim/environments").await;
        (
            v["id"].as_str().unwrap().to_string(),
            v["key"].as_str().unwrap().to_string(),
        )
    }

    pub async fn archive(&self, id: &str) {
        self.admin(&format!("/_sim/environments/{id}/archive"))
            .await;
    }

    /// Every environment the API lists, archived ones too: (id, name), walked
    /// to the end as the SDK's pager does (empty pages followed, `""` ends it).
    pub async fn listed(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut page = String::new();
        loop {
            let v: serde_json::Value = reqwest::Client::new()
                .get(format!(
                    "{}/v1/environments?limit=1000&include_archived=true&page={page}",
                    self.creds.base_url
                ))
                .bearer_auth(&self.creds.api_key)
                .header("anthropic-version", "2026-10-21")
                .header("anthropic-beta", "managed-agents-2026-04-01")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            out.extend(v["data"].as_array().unwrap().iter().map(|e| {
                (
                    e["id"].as_str().unwrap().to_string(),
                    e["name"].as_str().unwrap().to_string(),
                )
            }));
            match v["next_page"].as_str() {
                Some(next) if !next.is_empty() => page = next.to_string(),
                _ => return out,
            }
        }
    }

    pub fn ids(&self) -> BTreeSet<String> {
        self.creds
            .environments
            .iter()
            .map(|e| e.id.clone())
            .collect()
    }
}

fn id_of(listed: &[(String, String)], name: &str) -> String {
    listed
        .iter()
        .find(|(_, n)| n == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("no environment named {name}"))
}

#[tokio::test]
async fn discovery_watches_active_self_hosted_environments_and_follows_changes_at_runtime() {
    let d = start(options(3, 20, 0, 0.0, "steady"), &[], &[]).await;
    // The simulator also lists an archived and a cloud environment: neither is watched.
    assert_eq!(d.listed().await.len(), 5);
    let mut ids = d.ids();
    let m = d
        .wait_for_set(&ids, "the three self-hosted environments")
        .await;
    assert_eq!(
        crate::rig::value(&m, "anthropic_work_exporter_discovered_environments"),
        Some(3.0)
    );

    // An environment created while the exporter runs gains its series.
    let (new_id, key) = d.create_environment().await;
    std::fs::write(d.keys.path().join(&new_id), &key).unwrap();
    ids.insert(new_id.clone());
    d.wait_for_set(&ids, "the created environment").await;

    // An archived one loses every series, not just `up`.
    let gone = d.creds.environments[0].id.clone();
    d.archive(&gone).await;
    ids.remove(&gone);
    let m = d.wait_for_set(&ids, "the archived environment gone").await;
    assert!(!m.contains(&format!("environment_id=\"{gone}\"")), "{m}");
    assert_eq!(
        crate::rig::value(&m, "anthropic_work_exporter_discovered_environments"),
        Some(3.0)
    );
}

#[tokio::test]
async fn name_regex_ids_and_include_archived_filter_what_is_watched() {
    let d = start(
        options(3, 0, 0, 0.0, "steady"),
        &[
            "--discovery.name-regex",
            "^sim-self-hosted-(1|2|archived)$",
            "--discovery.include-archived",
        ],
        &[],
    )
    .await;
    let listed = d.listed().await;
    let want: BTreeSet<String> = [
        "sim-self-hosted-1",
        "sim-self-hosted-2",
        "sim-self-hosted-archived",
    ]
    .iter()
    .map(|n| id_of(&listed, n))
    .collect();
    // The archived environment has no key file: it is watched, its list fails.
    d.wait_for(Duration::from_secs(30), "the regex's environments", |m| {
        up_by_environment(m)
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
            == want
    })
    .await;

    assert!(!want.contains(&id_of(&listed, "sim-self-hosted-3")));

    // The id allow-list and the regex must both match: 1 passes both, 2 only
    // the regex, 3 only the list.
    let d = start_with(
        options(3, 0, 0, 0.0, "steady"),
        |c| {
            let allow = format!("{},{}", c.environments[0].id, c.environments[2].id);
            [
                "--discovery.name-regex",
                "^sim-self-hosted-[12]$",
                "--discovery.ids",
                &allow,
            ]
            .map(String::from)
            .to_vec()
        },
        &[],
    )
    .await;
    let one: BTreeSet<String> = [d.creds.environments[0].id.clone()].into();
    let m = d
        .wait_for_set(&one, "only the environment both filters keep")
        .await;
    assert_eq!(
        crate::rig::value(&m, "anthropic_work_exporter_discovered_environments"),
        Some(1.0)
    );
}

#[tokio::test]
async fn an_environment_without_a_key_file_is_read_through_stats_and_fails_the_list_with_reason_auth(
) {
    let d = start(options(1, 10, 0, 0.0, "steady"), &[], &[0]).await;
    let keyless = d.creds.environments[0].id.clone();
    let m = d
        .wait_for(Duration::from_secs(30), "an auth failure", |m| {
            value(
                m,
                "anthropic_work_exporter_refresh_failures_total",
                &keyless,
                "reason=\"auth\"",
            )
            .unwrap_or(0.0)
                >= 1.0
        })
        .await;
    assert_eq!(value(&m, "anthropic_work_up", &keyless, ""), Some(0.0));
    // Its only environment: stats were read (with the API key), the list never asked for.
    assert!(
        m.contains("anthropic_work_exporter_api_requests_total{code=\"200\",endpoint=\"stats\"}"),
        "{m}"
    );
    assert!(!m.contains("endpoint=\"list_work\""), "{m}");
    let page = crate::rig::drilldown_json(&d.url, &keyless).await;
    let message = page["recent_errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("list_work") && message.contains("keys directory"),
        "{message}"
    );

    // The key appears (a Secret updated in place): the next discovery uses it.
    std::fs::write(d.keys.path().join(&keyless), &d.creds.environments[0].key).unwrap();
    d.wait_for_set(&d.ids(), "the added key in use").await;
}

#[tokio::test]
async fn a_failed_discovery_keeps_the_last_known_set_and_is_counted() {
    let d = start(
        options(2, 0, 0, 0.0, "steady"),
        &["--refresh.timeout", "1s"],
        &[],
    )
    .await;
    let ids = d.ids();
    d.wait_for_set(&ids, "both environments").await;
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/scenario", d.creds.base_url))
        .bearer_auth(&d.creds.admin_token)
        .json(&serde_json::json!({ "scenario": "api-down" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let m = d
        .wait_for(
            Duration::from_secs(30),
            "a counted discovery failure",
            |m| {
                m.lines()
                    .filter(|l| l.starts_with("anthropic_work_exporter_discovery_failures_total{"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum::<f64>()
                    >= 1.0
            },
        )
        .await;
    // Still watched (and now down), not dropped.
    assert_eq!(
        up_by_environment(&m)
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        ids
    );
}

#[tokio::test]
async fn readiness_waits_for_the_first_discovery() {
    // A static population and keys for all: ready once discovered and refreshed.
    let d = start(options(2, 0, 0, 0.0, "steady"), &[], &[]).await;
    let ready = async {
        for _ in 0..150 {
            let r = reqwest::get(format!("{}/-/ready", d.url)).await.unwrap();
            if r.status() == 200 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(ready.await);
    // Ready means the discovered environments were refreshed, not an empty set.
    assert_eq!(up_by_environment(&d.scrape().await).len(), 2);
}
