//! Sharding proves exact coverage: three exporter processes with `--shard
//! 0/1/2 --total-shards 3` against one simulator watch disjoint sets whose
//! union is exactly what one unsharded process watches, with the same numbers.

use crate::discovery::up_by_environment;
use crate::ground_truth::{options, value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_exporter::shard::shard_of;
use work_sim as sim;

/// An exporter process, killed when dropped.
struct Exporter {
    child: Child,
    url: String,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the binary with `args` and the API key; its address comes from its
/// "serving metrics" log line. Its stderr is drained for as long as it runs.
fn spawn_exporter(args: &[String], api_key: &str) -> Exporter {
    let mut child = Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
        .args(args)
        .env_remove("ANTHROPIC_ENVIRONMENT_ID")
        .env_remove("ANTHROPIC_ENVIRONMENT_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .env("ANTHROPIC_API_KEY", api_key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving metrics") {
                let addr = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("address="))
                    .map(|a| a.trim_matches('"').to_string());
                if let (Some(tx), Some(addr)) = (tx.take(), addr) {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the exporter logs its address");
    Exporter {
        child,
        url: format!("http://{addr}"),
    }
}

async fn scrape(url: &str) -> String {
    match reqwest::get(format!("{url}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn watched(m: &str) -> BTreeSet<String> {
    up_by_environment(m).into_keys().collect()
}

fn all_up(m: &str) -> bool {
    let up = up_by_environment(m);
    !up.is_empty() && up.values().all(|v| *v == 1.0)
}

/// Items per state of each environment in `m`.
fn items(m: &str, ids: &BTreeSet<String>) -> BTreeMap<String, Vec<Option<f64>>> {
    ids.iter()
        .map(|id| {
            let per_state = ["queued", "starting", "active", "stopping", "stopped"]
                .iter()
                .map(|s| value(m, "anthropic_work_items", id, &format!("state=\"{s}\"")))
                .collect();
            (id.clone(), per_state)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_cover_every_environment_exactly_once() {
    // A static population: the numbers hold still, so they can be compared.
    let shutdown = CancellationToken::new();
    let running = sim::start(options(30, 40, 0, 0.0, "steady"), shutdown.clone())
        .await
        .unwrap();
    let creds = running.credentials.clone();
    let keys = crate::exporter::keys_dir(&creds, &[]);
    let all: BTreeSet<String> = creds.environments.iter().map(|e| e.id.clone()).collect();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "--web.listen-address",
            "127.0.0.1:0",
            "--refresh.interval",
            "2s",
            "--api.max-requests-per-second",
            "100",
            "--api.base-url",
            &creds.base_url,
            "--discovery.enabled",
            "--discovery.interval",
            "5s",
            "--discovery.keys-dir",
            keys.path().to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let shards: Vec<Exporter> = (0..3)
        .map(|i| {
            spawn_exporter(
                &base(&["--shard", &i.to_string(), "--total-shards", "3"]),
                &creds.api_key,
            )
        })
        .collect();
    let single = spawn_exporter(&base(&[]), &creds.api_key);

    // Wait until every process has discovered and refreshed its share.
    let start = std::time::Instant::now();
    let (parts, whole) = loop {
        let mut parts = Vec::new();
        for s in &shards {
            parts.push(scrape(&s.url).await);
        }
        let whole = scrape(&single.url).await;
        let union: BTreeSet<String> = parts.iter().flat_map(|m| watched(m)).collect();
        if union == all
            && watched(&whole) == all
            && parts.iter().all(|m| all_up(m))
            && all_up(&whole)
        {
            break (parts, whole);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "shards never covered the simulator's {} environments; union {union:?}",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    let sets: Vec<BTreeSet<String>> = parts.iter().map(|m| watched(m)).collect();
    let mut seen = BTreeSet::new();
    for (i, set) in sets.iter().enumerate() {
        assert!(!set.is_empty(), "shard {i} watches nothing");
        for id in set {
            assert!(seen.insert(id.clone()), "{id} is watched by two shards");
            assert_eq!(shard_of(id, 3), i as u32, "{id} on the wrong shard");
        }
        assert!(
            parts[i].contains(&format!(
                "anthropic_work_exporter_shard_info{{shard=\"{i}\",total_shards=\"3\"}} 1"
            )),
            "shard {i} says which shard it is"
        );
    }
    assert_eq!(seen, all, "the union is every environment");
    assert!(whole.contains("anthropic_work_exporter_shard_info{shard=\"0\",total_shards=\"1\"} 1"));
    // Every process discovered all 30; each watches only its share.
    for m in parts.iter().chain([&whole]) {
        assert_eq!(
            crate::rig::value(m, "anthropic_work_exporter_discovered_environments"),
            Some(30.0)
        );
    }

    // The union of the shards' numbers is the single process's numbers.
    let mut union_items = BTreeMap::new();
    for (m, set) in parts.iter().zip(&sets) {
        union_items.extend(items(m, set));
    }
    let whole_items = items(&whole, &all);
    assert!(whole_items.values().all(|v| v.iter().all(Option::is_some)));
    assert_eq!(union_items, whole_items);
    shutdown.cancel();
}

#[tokio::test]
async fn sharding_applies_to_configured_environments_too() {
    let shutdown = CancellationToken::new();
    let running = sim::start(options(12, 0, 0, 0.0, "steady"), shutdown.clone())
        .await
        .unwrap();
    let creds = running.credentials.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("api_key: {env: SIM_API_KEY}\nenvironments:\n");
    for e in &creds.environments {
        let key = dir.path().join(&e.id);
        std::fs::write(&key, &e.key).unwrap();
        yaml.push_str(&format!(
            "  - id: {}\n    key: {{file: {}}}\n",
            e.id,
            key.display()
        ));
    }
    let file = dir.path().join("config.yml");
    std::fs::write(&file, yaml).unwrap();

    let mut union = Vec::new();
    for i in 0..3 {
        let shard = i.to_string();
        let cfg = crate::exporter::from_vars(
            &[
                "--config.file",
                file.to_str().unwrap(),
                "--refresh.interval",
                "1s",
                "--api.max-requests-per-second",
                "200",
                "--api.base-url",
                &creds.base_url,
                "--shard",
                &shard,
                "--total-shards",
                "3",
            ],
            &[("SIM_API_KEY", creds.api_key.clone())],
        );
        let url = crate::exporter::start(cfg, None, &shutdown).await;
        // Configured environments are known at once: the first scrape shows the share.
        let m = scrape(&url).await;
        let set = watched(&m);
        assert!(set.iter().all(|id| shard_of(id, 3) == i));
        union.extend(set);
    }
    union.sort();
    let mut all: Vec<String> = creds.environments.iter().map(|e| e.id.clone()).collect();
    all.sort();
    assert_eq!(
        union, all,
        "each configured environment on exactly one shard"
    );
    shutdown.cancel();
}
