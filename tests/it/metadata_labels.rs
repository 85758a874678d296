//! Labels from environment metadata (`--discovery.metadata-labels-allowlist`):
//! the allow-listed keys of a discovered environment's `metadata` label every
//! one of its series; a name that is reserved, taken by a configured label,
//! or a target-side label of Prometheus and its Operator stops start-up.

use crate::discovery::start;
use crate::ground_truth::options;
use std::collections::BTreeSet;
use std::process::Command;

#[tokio::test]
async fn allow_listed_metadata_labels_every_series_of_a_discovered_environment() {
    // The simulator's environment k has metadata {simulator: "true", team: TEAMS[k % 3]}.
    let d = start(
        options(2, 5, 1, 0.0, "steady"),
        &["--discovery.metadata-labels-allowlist", "team,absent-key"],
        &[],
    )
    .await;
    let ids: BTreeSet<String> = d.creds.environments.iter().map(|e| e.id.clone()).collect();
    let text = d.wait_for_set(&ids, "both environments up").await;
    for (env, team) in d.creds.environments.iter().zip(["payments", "search"]) {
        let own = format!("environment_id=\"{}\"", env.id);
        let samples: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(&own))
            .collect();
        assert!(samples.len() > 20, "{text}");
        let want = format!("team=\"{team}\"");
        for s in &samples {
            assert!(s.contains(&want), "{s} lacks {want}");
            // Not allow-listed: no label; allow-listed but missing: empty, so no label either.
            assert!(
                !s.contains("simulator=") && !s.contains("absent_key=\"x"),
                "{s}"
            );
        }
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"));
    c.env_remove("ANTHROPIC_ENVIRONMENT_ID")
        .env_remove("ANTHROPIC_ENVIRONMENT_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .env("ANTHROPIC_API_KEY", "k")
        .args(["--web.listen-address", "127.0.0.1:0"]);
    c
}

/// Exit status 2 before serving, with every needle in the one message.
fn refused(cmd: &mut Command, needles: &[&str]) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{needles:?}:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr should mention {n:?}:\n{stderr}");
    }
}

#[test]
fn a_reserved_or_target_side_metadata_label_is_refused_before_serving() {
    let flag = "--discovery.metadata-labels-allowlist";
    for key in ["namespace", "job", "environment_id", "pod"] {
        refused(
            bin().args(["--discovery.enabled", flag, &format!("team,{key}")]),
            &[flag, &format!("{key:?}"), "choose another label name"],
        );
    }
    refused(
        bin().args(["--discovery.enabled", flag, "cost-center,cost.center"]),
        &[flag, "both become label \"cost_center\""],
    );
    refused(
        bin().args([flag, "team"]),
        &[flag, "has no effect while discovery is off"],
    );
}

#[test]
fn a_metadata_label_a_configured_environment_also_sets_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(
        &file,
        "api_key: {env: ANTHROPIC_API_KEY}\n\
         discovery: {metadata_labels_allowlist: [team]}\n\
         environments:\n  - id: env_a\n    labels: {team: checkout}\n    key: {env: ANTHROPIC_API_KEY}\n",
    )
    .unwrap();
    refused(
        bin().arg("--config.file").arg(&file),
        &["discovery.metadata_labels_allowlist", "env_a", "\"team\""],
    );
    // Given by the flag (which wins over the file), the error names the flag.
    refused(
        bin()
            .arg("--config.file")
            .arg(&file)
            .args(["--discovery.metadata-labels-allowlist", "tier,team"]),
        &["--discovery.metadata-labels-allowlist", "env_a", "\"team\""],
    );
}

#[test]
fn a_configured_label_prometheus_or_the_operator_sets_on_targets_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "namespace",
        "pod",
        "service",
        "container",
        "cluster",
        "endpoint",
    ] {
        let file = dir.path().join("config.yml");
        std::fs::write(
            &file,
            format!(
                "environments:\n  - id: env_a\n    labels: {{{name}: x}}\n    key: {{env: ANTHROPIC_API_KEY}}\n"
            ),
        )
        .unwrap();
        refused(
            bin().arg("--config.file").arg(&file),
            &[&format!("{name:?}"), "Prometheus Operator"],
        );
    }
}

#[test]
fn the_documented_command_is_accepted_as_written() {
    // docs/deployment.md, "Labels from environment metadata": its sh block,
    // run as `check-config` with the keys directory pointed at a real one.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deployment.md"))
        .unwrap();
    let section = &doc[doc.find("## Labels from environment metadata").unwrap()..];
    let block = section.split("```sh\n").nth(1).unwrap();
    let block = &block[..block.find("```").unwrap()];
    let keys = tempfile::tempdir().unwrap();
    let words: Vec<String> = block
        .replace("\\\n", " ")
        .split_whitespace()
        .skip(1) // the program
        .map(|w| match w {
            "/etc/anthropic-work-exporter/keys" => keys.path().to_str().unwrap().to_string(),
            w => w.to_string(),
        })
        .collect();
    assert!(words
        .iter()
        .any(|w| w.starts_with("--discovery.metadata-labels-allowlist")));
    let out = bin().arg("check-config").args(&words).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("labels from metadata: team, cost_center (from cost-center)"),
        "{stdout}"
    );
}
