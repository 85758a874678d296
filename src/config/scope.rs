//! An environment's `scope`, as the environments list says it.

/// An environment's `scope` (SDK 2.14 `types/beta/beta_environment.py`):
/// `organization` is visible to every account of the organisation, `account`
/// only to the owning account. The exporter learns it from the environments
/// list only (discovery): a configured environment outside discovery stays
/// `Unknown`, because reading it would cost a request per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Unknown,
    Organization,
    Account,
}

impl Scope {
    /// The `scope` field as listed; absent or a value this build does not know is `Unknown`.
    pub fn parse(value: Option<&str>) -> Scope {
        match value {
            Some("organization") => Scope::Organization,
            Some("account") => Scope::Account,
            _ => Scope::Unknown,
        }
    }

    /// The `scope` label of `anthropic_work_environment_info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Unknown => "unknown",
            Scope::Organization => "organization",
            Scope::Account => "account",
        }
    }
}
