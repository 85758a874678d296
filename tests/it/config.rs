//! A bad configuration stops the program before it serves, with exit status 2
//! and one message that names the field and the fix.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"));
    c.env_remove("ANTHROPIC_ENVIRONMENT_ID")
        .env_remove("ANTHROPIC_ENVIRONMENT_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_BASE_URL");
    c
}

fn fails_with(cmd: &mut Command, needles: &[&str]) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit status for {needles:?}; stderr:\n{stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "stderr should mention {n:?}:\n{stderr}");
    }
}

fn config_file(dir: &tempfile::TempDir, yaml: &str) -> std::path::PathBuf {
    let p = dir.path().join("config.yml");
    std::fs::write(&p, yaml).unwrap();
    p
}

#[test]
fn no_environment_at_all_names_the_variables_and_the_demo() {
    fails_with(
        bin().args(["--web.listen-address", "127.0.0.1:0"]),
        &["ANTHROPIC_ENVIRONMENT_ID", "demo"],
    );
}

#[test]
fn a_bad_duration_names_the_flag() {
    fails_with(
        bin()
            .args(["--refresh.interval", "soon"])
            .env("ANTHROPIC_ENVIRONMENT_ID", "env_1")
            .env("ANTHROPIC_ENVIRONMENT_KEY", "k"),
        &["--refresh.interval", "30s"],
    );
}

#[test]
fn a_family_glob_that_cannot_match_a_metric_name_names_the_flag() {
    fails_with(
        bin()
            .args(["--metrics.families.deny", "process_*,anthropic_work_.*"])
            .env("ANTHROPIC_ENVIRONMENT_ID", "env_1")
            .env("ANTHROPIC_ENVIRONMENT_KEY", "k"),
        &[
            "--metrics.families.deny",
            "\"anthropic_work_.*\"",
            "wildcards",
        ],
    );
    fails_with(
        bin()
            .args(["--metrics.histograms", "sparse"])
            .env("ANTHROPIC_ENVIRONMENT_ID", "env_1")
            .env("ANTHROPIC_ENVIRONMENT_KEY", "k"),
        &["--metrics.histograms", "classic", "native", "both"],
    );
}

#[test]
fn a_page_size_over_1000_is_refused() {
    fails_with(
        bin()
            .args(["--list.page-size", "5000"])
            .env("ANTHROPIC_ENVIRONMENT_ID", "env_1")
            .env("ANTHROPIC_ENVIRONMENT_KEY", "k"),
        &["--list.page-size", "1000"],
    );
}

#[test]
fn an_unknown_field_in_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(
        &dir,
        "environments:\n  - id: env_1\n    key: {env: K}\n    colour: blue\n",
    );
    fails_with(
        bin().arg("--config.file").arg(&p).env("K", "x"),
        &["colour", "environments"],
    );
}

#[test]
fn a_missing_key_file_is_named_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(
        &dir,
        "environments:\n  - id: env_1\n    key: {file: /nonexistent/key}\n",
    );
    fails_with(
        bin().arg("--config.file").arg(&p),
        &["environments[0].key", "/nonexistent/key"],
    );
}

#[test]
fn a_duplicate_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(
        &dir,
        "environments:\n  - id: env_1\n    key: {env: K}\n  - id: env_1\n    key: {env: K}\n",
    );
    fails_with(
        bin().arg("--config.file").arg(&p).env("K", "x"),
        &["environments[1].id", "twice"],
    );
}

#[test]
fn a_reserved_label_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(
        &dir,
        "environments:\n  - id: env_1\n    key: {env: K}\n    labels: {state: x}\n",
    );
    fails_with(
        bin().arg("--config.file").arg(&p).env("K", "x"),
        &["labels", "state"],
    );
}

#[test]
fn check_config_accepts_a_good_file_and_never_prints_keys() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "env-key-marker-cc\n").unwrap();
    let p = config_file(&dir, &format!("api_key: {{env: MY_API_KEY}}\nenvironments:\n  - id: env_1\n    name: prod\n    labels: {{team: a}}\n    key: {{file: {}}}\n", key.display()));
    let out = bin()
        .arg("check-config")
        .arg("--config.file")
        .arg(&p)
        .env("MY_API_KEY", "api-key-marker-cc")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("env_1") && all.contains("configuration OK"),
        "{all}"
    );
    assert!(!all.contains("marker-cc"), "{all}");
}

#[test]
fn a_secret_is_never_accepted_as_a_flag() {
    let out = bin().args(["--api.key", "sk-ant-x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("configuration OK"));
}

#[tokio::test]
async fn check_config_probe_prints_what_works_and_why_not() {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = work_sim::start(
        crate::ground_truth::options(2, 10, 0, 0.0, "steady"),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let c = &sim.credentials;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    std::fs::write(&good, &c.environments[0].key).unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "env-key-marker-wrong").unwrap();
    let p = config_file(
        &dir,
        &format!(
            "api_key: {{env: SIM_API_KEY}}\nenvironments:\n  - id: {}\n    key: {{file: {}}}\n  - id: {}\n    key: {{file: {}}}\n",
            c.environments[0].id,
            good.display(),
            c.environments[1].id,
            wrong.display()
        ),
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
        .arg("check-config")
        .arg("--probe")
        .arg("--config.file")
        .arg(&p)
        .arg("--api.base-url")
        .arg(&c.base_url)
        .env("SIM_API_KEY", &c.api_key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing probe exits 1:\n{stdout}"
    );
    let line = |id: &str, endpoint: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(id) && l.contains(endpoint))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(&c.environments[0].id, "stats").contains(" ok "),
        "{stdout}"
    );
    assert!(
        line(&c.environments[0].id, "list_work").contains(" ok "),
        "{stdout}"
    );
    assert!(
        line(&c.environments[1].id, "stats").contains(" ok "),
        "stats reads with the API key:\n{stdout}"
    );
    assert!(
        line(&c.environments[1].id, "list_work").contains(" auth "),
        "{stdout}"
    );
    assert!(
        !stdout.contains("marker-wrong") && !stdout.contains(&c.api_key),
        "{stdout}"
    );
    shutdown.cancel();
}

#[test]
fn discovery_without_the_api_key_names_the_variable() {
    fails_with(
        bin().args(["--discovery.enabled"]),
        &["--discovery.enabled", "ANTHROPIC_API_KEY"],
    );
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(&dir, "discovery: {interval: 1m}\n");
    fails_with(
        bin().arg("--config.file").arg(&p),
        &["--discovery.enabled", "api_key"],
    );
}

#[test]
fn discovery_settings_are_checked_before_serving() {
    let with_key = |args: &[&str]| {
        let mut c = bin();
        c.args(args).env("ANTHROPIC_API_KEY", "k");
        c
    };
    fails_with(
        &mut with_key(&["--discovery.enabled", "--discovery.name-regex", "(prod"]),
        &["--discovery.name-regex", "regular expression"],
    );
    fails_with(
        &mut with_key(&[
            "--discovery.enabled",
            "--discovery.keys-dir",
            "/nonexistent/keys",
        ]),
        &["--discovery.keys-dir", "/nonexistent/keys"],
    );
    fails_with(
        &mut with_key(&["--discovery.enabled", "--discovery.ids", "env_1,../x"]),
        &["--discovery.ids", "../x"],
    );
    fails_with(
        &mut with_key(&["--discovery.interval", "1m"]),
        &["--discovery.interval", "--discovery.enabled"],
    );
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(&dir, "api_key: {env: K}\ndiscovery: {keys_directory: /x}\n");
    fails_with(
        bin().arg("--config.file").arg(&p).env("K", "x"),
        &[
            "keys_directory",
            "discovery.{interval,name_regex,ids,include_archived,keys_dir,metadata_labels_allowlist}",
        ],
    );
}

#[test]
fn a_shard_outside_the_total_is_refused() {
    let env1 = |args: &[&str]| {
        let mut c = bin();
        c.args(args)
            .env("ANTHROPIC_ENVIRONMENT_ID", "env_1")
            .env("ANTHROPIC_ENVIRONMENT_KEY", "k");
        c
    };
    fails_with(
        &mut env1(&["--shard", "3", "--total-shards", "3"]),
        &["--shard", "0 to 2"],
    );
    fails_with(&mut env1(&["--total-shards", "0"]), &["--total-shards"]);
}

#[test]
fn check_config_shows_discovery_from_a_file_without_environments() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let p = config_file(
        &dir,
        &format!(
            "api_key: {{env: MY_API_KEY}}\ndiscovery:\n  interval: 2m\n  name_regex: ^prod-\n  keys_dir: {}\n",
            keys.display()
        ),
    );
    let out = bin()
        .args([
            "check-config",
            "--shard",
            "1",
            "--total-shards",
            "2",
            "--config.file",
        ])
        .arg(&p)
        .env("MY_API_KEY", "api-key-marker-dd")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("discovery every 2m") && all.contains("^prod-"),
        "{all}"
    );
    assert!(all.contains("shard 1 of 2"), "{all}");
    assert!(!all.contains("marker-dd"), "{all}");
}
