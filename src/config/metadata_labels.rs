//! Labels from environment metadata: an allow-list of metadata keys
//! (`--discovery.metadata-labels-allowlist`, kube-state-metrics'
//! `--metric-labels-allowlist` is the model) whose values become labels on
//! every series of an environment the environments list returns, so alerts
//! can be routed by owner (`team`) without keeping id lists in Alertmanager.

use super::file::check_label_name;
use super::ConfigError;
use std::collections::BTreeMap;

/// Allow-listed metadata keys and the label name each becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataLabels {
    /// (metadata key, label name), in the order given.
    keys: Vec<(String, String)>,
    /// The flag or file field it came from, for errors.
    field: String,
}

impl MetadataLabels {
    /// Parses the allow-list given as `field`: each key sanitised to a label
    /// name, refused when that name is reserved or taken by another key.
    pub fn parse<'a>(
        field: &str,
        keys: impl Iterator<Item = &'a str>,
    ) -> Result<MetadataLabels, ConfigError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for key in keys.map(str::trim).filter(|k| !k.is_empty()) {
            let label = sanitize(key);
            check_label_name(field, &label).map_err(|e| ConfigError {
                problem: format!("metadata key {key:?} (label {label:?}): {}", e.problem),
                fix: format!("{}, or leave {key:?} out of the allow-list", e.fix),
                ..e
            })?;
            if let Some((other, _)) = out.iter().find(|(_, l)| *l == label) {
                return Err(ConfigError::new(
                    field,
                    format!("metadata keys {other:?} and {key:?} both become label {label:?}"),
                    "keep one of them in the allow-list",
                ));
            }
            out.push((key.to_string(), label));
        }
        if out.is_empty() {
            return Err(ConfigError::new(
                field,
                "lists no metadata key",
                "list keys separated by commas (e.g. team,cost-center), or leave the option out",
            ));
        }
        Ok(MetadataLabels {
            keys: out,
            field: field.to_string(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The label names, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(_, l)| l.as_str())
    }

    /// The labels of an environment with this `metadata`: one per
    /// allow-listed key it has (a missing key gives no label, rendered empty).
    /// A value longer than a configured label value may be is left out, not
    /// cut: its owners set it, it would go on every series of every scrape,
    /// and a truncated `team` would route pages to the wrong owner.
    pub fn labels_of(&self, metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.keys
            .iter()
            .filter_map(|(k, l)| metadata.get(k).map(|v| (l, v)))
            .filter(|(_, v)| v.len() <= super::file::MAX_LABEL_VALUE_BYTES)
            .map(|(l, v)| (l.clone(), v.clone()))
            .collect()
    }

    /// "team, cost_center (from cost-center)" for `check-config`.
    pub fn describe(&self) -> String {
        let shown: Vec<String> = self
            .keys
            .iter()
            .map(|(k, l)| match k == l {
                true => l.clone(),
                false => format!("{l} (from {k})"),
            })
            .collect();
        shown.join(", ")
    }

    /// Refuses a configured environment label that a metadata label would
    /// also set: one of them would silently win.
    pub fn check_configured<'a>(
        &self,
        configured: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ConfigError> {
        for (env, name) in configured {
            if let Some((key, _)) = self.keys.iter().find(|(_, l)| l == name) {
                return Err(ConfigError::new(
                    self.field.clone(),
                    format!(
                        "metadata key {key:?} becomes label {name:?}, which environment {env} also sets in `labels:`"
                    ),
                    format!("drop {name:?} from that environment's labels (its metadata gives it), or {key:?} from the allow-list"),
                ));
            }
        }
        Ok(())
    }
}

/// A metadata key as a Prometheus label name: every character outside
/// `[a-zA-Z0-9_]` becomes `_`, and a leading digit gets a `_` before it.
pub fn sanitize(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &str) -> Result<MetadataLabels, ConfigError> {
        MetadataLabels::parse("--discovery.metadata-labels-allowlist", list.split(','))
    }

    #[test]
    fn a_value_over_the_label_value_limit_is_left_out_not_cut() {
        let m = parse("team,owner").unwrap();
        let long = "x".repeat(super::super::file::MAX_LABEL_VALUE_BYTES + 1);
        let metadata = BTreeMap::from([
            ("team".to_string(), long),
            ("owner".to_string(), "payments".to_string()),
        ]);
        let got = m.labels_of(&metadata);
        assert_eq!(
            got,
            BTreeMap::from([("owner".to_string(), "payments".to_string())])
        );
    }

    #[test]
    fn keys_are_sanitised_to_label_names() {
        assert_eq!(sanitize("team"), "team");
        assert_eq!(sanitize("cost-center"), "cost_center");
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("1st"), "_1st");
        assert_eq!(sanitize("équipe"), "_quipe");
        let m = parse("team, cost-center").unwrap();
        let meta: BTreeMap<String, String> = [
            ("team", "payments"),
            ("cost-center", "cc-7"),
            ("other", "x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let got = m.labels_of(&meta);
        assert_eq!(got.len(), 2);
        assert_eq!(got["team"], "payments");
        assert_eq!(got["cost_center"], "cc-7");
        assert_eq!(m.describe(), "team, cost_center (from cost-center)");
    }

    #[test]
    fn a_reserved_or_target_side_name_is_refused_with_the_key_named() {
        for key in [
            "environment_id",
            "job",
            "instance",
            "namespace",
            "pod",
            "service",
            "cluster",
            "container",
            "endpoint",
            "__meta",
            "state",
        ] {
            let e = parse(key).unwrap_err();
            assert_eq!(e.field, "--discovery.metadata-labels-allowlist", "{key}");
            assert!(
                e.problem.contains(&format!("{key:?}")),
                "{key}: {}",
                e.problem
            );
        }
    }

    #[test]
    fn two_keys_that_become_one_label_are_refused() {
        let e = parse("cost-center,cost.center").unwrap_err();
        assert!(
            e.problem.contains("both become label \"cost_center\""),
            "{}",
            e.problem
        );
        assert!(parse(" , ").is_err());
    }

    #[test]
    fn a_configured_label_of_the_same_name_is_refused() {
        let m = parse("team").unwrap();
        let e = m
            .check_configured([("env_a", "region"), ("env_b", "team")].into_iter())
            .unwrap_err();
        assert!(e.problem.contains("env_b"), "{}", e.problem);
        assert!(m
            .check_configured([("env_a", "region")].into_iter())
            .is_ok());
    }
}
