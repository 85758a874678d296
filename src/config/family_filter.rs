//! `--metrics.families.allow` / `--metrics.families.deny`: which metric
//! families are served, by name globs (the kube-state-metrics allow/deny
//! list). A group is one glob: `anthropic_work_*_seconds` is the lifecycle
//! histograms, `process_*` the process metrics. The filter is applied where
//! a family's header is written, so every family of every format, including
//! ones added later, goes through it.

/// Family names kept and dropped. Empty allow list: everything not denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyFilter {
    allow: Vec<String>,
    deny: Vec<String>,
}

/// A glob that cannot match a metric name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pattern:?} is not a metric name glob: use letters, digits, '_', ':' and the wildcards '*' and '?'")]
pub struct BadGlob {
    pub pattern: String,
}

impl FamilyFilter {
    /// From the flags' values (comma-separated globs, each list possibly repeated).
    pub fn new(allow: &[String], deny: &[String]) -> Result<Self, BadGlob> {
        Ok(FamilyFilter {
            allow: globs(allow)?,
            deny: globs(deny)?,
        })
    }

    /// Whether the family named `name` (as in its text `# TYPE` line, with
    /// `_total` for counters) is served: allowed (or no allow list) and not denied.
    pub fn keeps(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|g| glob_match(g, name)))
            && !self.deny.iter().any(|g| glob_match(g, name))
    }

    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

fn globs(values: &[String]) -> Result<Vec<String>, BadGlob> {
    let mut out = Vec::new();
    for pattern in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if pattern.is_empty() {
            continue;
        }
        let valid = pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '*' | '?'));
        if !valid {
            return Err(BadGlob {
                pattern: pattern.to_string(),
            });
        }
        out.push(pattern.to_string());
    }
    Ok(out)
}

/// `*` any run of characters, `?` one character, anything else itself.
fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n) = (glob.as_bytes(), name.as_bytes());
    let (mut gi, mut ni) = (0, 0);
    // Where the last `*` was and which name position it now covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match g.get(gi) {
            Some(b'*') => {
                star = Some((gi, ni));
                gi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                gi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sg, sn)) => {
                    gi = sg + 1;
                    ni = sn + 1;
                    star = Some((sg, sn + 1));
                }
                None => return false,
            },
        }
    }
    g[gi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> FamilyFilter {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FamilyFilter::new(&owned(allow), &owned(deny)).unwrap()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match(
            "anthropic_work_*_seconds",
            "anthropic_work_run_seconds"
        ));
        assert!(!glob_match(
            "anthropic_work_*_seconds",
            "anthropic_work_run_seconds_total"
        ));
        assert!(glob_match("process_*", "process_cpu_seconds_total"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
    }

    #[test]
    fn deny_wins_over_allow_and_no_lists_keep_everything() {
        assert!(filter(&[], &[]).keeps("anything"));
        let f = filter(&["anthropic_work_*"], &["anthropic_work_exporter_*"]);
        assert!(f.keeps("anthropic_work_up"));
        assert!(!f.keeps("anthropic_work_exporter_list_truncated"));
        assert!(!f.keeps("process_cpu_seconds_total"));
        let f = filter(&[], &["process_*,anthropic_work_stop_seconds"]);
        assert!(!f.keeps("anthropic_work_stop_seconds"));
        assert!(f.keeps("anthropic_work_run_seconds"));
    }

    #[test]
    fn a_glob_with_other_characters_is_refused_by_name() {
        let err = FamilyFilter::new(&["anthropic_work_.*".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("\"anthropic_work_.*\""));
    }
}
