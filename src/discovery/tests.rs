//! Unit tests of discovery's pure parts: the filters, the watched set, key files.

use super::*;

fn settings() -> DiscoverySettings {
    DiscoverySettings {
        interval: Duration::from_secs(300),
        name_regex: None,
        ids: None,
        include_archived: false,
        keys_dir: None,
        metadata_labels: Default::default(),
    }
}

fn env(id: &str, name: &str, kind: &str, archived: bool) -> wire::Environment {
    wire::Environment {
        id: id.into(),
        kind: "environment".into(),
        name: name.into(),
        description: None,
        config: wire::EnvironmentConfig { kind: kind.into() },
        metadata: BTreeMap::new(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        archived_at: archived.then(|| "2026-01-02T00:00:00Z".into()),
        scope: Some("organization".into()),
    }
}

#[test]
fn only_self_hosted_and_unarchived_environments_are_kept_by_default() {
    let s = settings();
    assert!(keep(&s, &env("env_1", "a", "self_hosted", false)));
    assert!(!keep(&s, &env("env_2", "a", "cloud", false)));
    assert!(!keep(&s, &env("env_3", "a", "self_hosted", true)));
    let s = DiscoverySettings {
        include_archived: true,
        ..settings()
    };
    assert!(keep(&s, &env("env_3", "a", "self_hosted", true)));
    assert!(!keep(&s, &env("env_2", "a", "cloud", true)));
}

#[test]
fn name_regex_and_id_list_must_both_match() {
    let s = DiscoverySettings {
        name_regex: Some(regex::Regex::new("^prod-").unwrap()),
        ids: Some(BTreeSet::from(["env_1".to_string(), "env_2".to_string()])),
        ..settings()
    };
    assert!(keep(&s, &env("env_1", "prod-eu", "self_hosted", false)));
    assert!(!keep(&s, &env("env_2", "staging", "self_hosted", false)));
    assert!(!keep(&s, &env("env_3", "prod-us", "self_hosted", false)));
}

#[test]
fn configured_environments_win_and_keys_come_from_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("env_b"), "key-b\n").unwrap();
    std::fs::write(dir.path().join("env_c"), "key-c").unwrap();
    let configured = vec![Environment {
        id: "env_c".into(),
        name: "configured-c".into(),
        labels: BTreeMap::from([("team".into(), "x".into())]),
        key: Some(Secret::new("key-from-config")),
        scope: Default::default(),
        cadence: Default::default(),
    }];
    let found = vec![
        Found {
            id: "env_a".into(),
            name: "a".into(),
            scope: Scope::Organization,
            labels: BTreeMap::new(),
        },
        Found {
            id: "env_b".into(),
            name: "b".into(),
            scope: Scope::Unknown,
            labels: BTreeMap::new(),
        },
        Found {
            id: "env_c".into(),
            name: "c".into(),
            scope: Scope::Account,
            labels: BTreeMap::from([("owner".into(), "listed".into())]),
        },
    ];
    let w = watched(&configured, &found, Shard::default(), Some(dir.path()));
    let got: Vec<(&str, &str, Option<&str>, &str)> = w
        .iter()
        .map(|e| {
            (
                e.id.as_str(),
                e.name.as_str(),
                e.key.as_ref().map(Secret::expose),
                e.scope.as_str(),
            )
        })
        .collect();
    // The configured env_c keeps its name and key but takes the listed scope.
    assert_eq!(
        got,
        vec![
            ("env_a", "a", None, "organization"),
            ("env_b", "b", Some("key-b"), "unknown"),
            ("env_c", "configured-c", Some("key-from-config"), "account"),
        ]
    );
    // Its configured labels, and those its metadata gives.
    let c = &w[2].labels;
    assert_eq!((c["team"].as_str(), c["owner"].as_str()), ("x", "listed"));
}

#[test]
fn allow_listed_metadata_becomes_the_labels_of_a_discovered_environment() {
    let s = DiscoverySettings {
        metadata_labels: crate::config::MetadataLabels::parse(
            "test",
            ["team", "cost-center"].into_iter(),
        )
        .unwrap(),
        ..settings()
    };
    let mut e = env("env_1", "a", "self_hosted", false);
    e.metadata = BTreeMap::from([
        ("team".into(), "payments".into()),
        ("cost-center".into(), "cc-7".into()),
        ("secret-ish".into(), "not allow-listed".into()),
    ]);
    let labels = s.metadata_labels.labels_of(&e.metadata);
    let found = vec![Found {
        id: e.id.clone(),
        name: e.name.clone(),
        scope: Scope::Organization,
        labels,
    }];
    let w = watched(&[], &found, Shard::default(), None);
    assert_eq!(
        w[0].labels,
        BTreeMap::from([
            ("cost_center".to_string(), "cc-7".to_string()),
            ("team".to_string(), "payments".to_string()),
        ])
    );
}

#[test]
fn a_key_is_never_read_from_outside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("secret"), "outside").unwrap();
    assert!(read_key(&dir.path().join("keys"), "../secret").is_none());
    assert!(read_key(&dir.path().join("keys"), "").is_none());
}

#[test]
fn shards_split_the_watched_set_without_overlap() {
    let found: Vec<Found> = (0..50)
        .map(|i| Found {
            id: format!("env_{i}"),
            name: format!("n{i}"),
            scope: Scope::Organization,
            labels: BTreeMap::new(),
        })
        .collect();
    let mut all = Vec::new();
    for index in 0..3 {
        let w = watched(&[], &found, Shard { index, total: 3 }, None);
        all.extend(w.into_iter().map(|e| e.id));
    }
    all.sort();
    let mut want: Vec<String> = found.iter().map(|f| f.id.clone()).collect();
    want.sort();
    assert_eq!(all, want);
}

#[test]
fn scope_is_read_as_the_sdk_types_it_and_anything_else_is_unknown() {
    assert_eq!(Scope::parse(Some("organization")), Scope::Organization);
    assert_eq!(Scope::parse(Some("account")), Scope::Account);
    assert_eq!(Scope::parse(None), Scope::Unknown);
    assert_eq!(Scope::parse(Some("galaxy")), Scope::Unknown);
}
