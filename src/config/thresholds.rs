//! Per-environment alert thresholds from the config file: a top-level
//! `thresholds:` block (every environment of this exporter, discovered ones
//! included) and an environment's own `thresholds:` block (overrides, key by
//! key). Served as `anthropic_work_alert_threshold{threshold}` so one rules
//! file fits a mixed fleet; only thresholds set in the file are served, and
//! the alert rules fall back to the mixin's own default for the others.

use super::{parse_duration, ConfigError};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

/// `stale_heartbeat` when no block sets it, seconds.
pub const DEFAULT_STALE_HEARTBEAT_S: f64 = 90.0;

/// One threshold the alert rules compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Threshold {
    QueueLagWarning,
    QueueLagCritical,
    BacklogDepth,
    Pending,
    StuckStopping,
    TimeToDrain,
    StaleHeartbeat,
}

/// What a threshold measures, which decides how it is written and served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A duration (`1m`, `90s`), served in seconds.
    Seconds,
    /// A number of work items, served as is.
    Items,
}

impl Threshold {
    pub const ALL: [Threshold; 7] = [
        Threshold::QueueLagWarning,
        Threshold::QueueLagCritical,
        Threshold::BacklogDepth,
        Threshold::Pending,
        Threshold::StuckStopping,
        Threshold::TimeToDrain,
        Threshold::StaleHeartbeat,
    ];

    /// The key in the config file.
    pub fn key(self) -> &'static str {
        match self {
            Threshold::QueueLagWarning => "queue_lag_warning",
            Threshold::QueueLagCritical => "queue_lag_critical",
            Threshold::BacklogDepth => "backlog_depth",
            Threshold::Pending => "pending",
            Threshold::StuckStopping => "stuck_stopping",
            Threshold::TimeToDrain => "time_to_drain",
            Threshold::StaleHeartbeat => "stale_heartbeat",
        }
    }

    fn unit(self) -> Unit {
        match self {
            Threshold::BacklogDepth | Threshold::Pending => Unit::Items,
            _ => Unit::Seconds,
        }
    }

    /// The `threshold` label: the key with its base unit.
    pub fn label(self) -> &'static str {
        match self {
            Threshold::QueueLagWarning => "queue_lag_warning_seconds",
            Threshold::QueueLagCritical => "queue_lag_critical_seconds",
            Threshold::BacklogDepth => "backlog_depth_items",
            Threshold::Pending => "pending_items",
            Threshold::StuckStopping => "stuck_stopping_seconds",
            Threshold::TimeToDrain => "time_to_drain_seconds",
            Threshold::StaleHeartbeat => "stale_heartbeat_seconds",
        }
    }

    fn from_key(key: &str) -> Option<Threshold> {
        Threshold::ALL.into_iter().find(|t| t.key() == key)
    }
}

/// The thresholds one block sets, in base units (seconds, items).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThresholdSet {
    values: BTreeMap<Threshold, f64>,
}

impl ThresholdSet {
    pub fn get(&self, t: Threshold) -> Option<f64> {
        self.values.get(&t).copied()
    }

    /// Parse a `thresholds:` block; `field` names it in errors (e.g.
    /// `environments[2].thresholds`).
    pub fn parse(field: &str, block: &BTreeMap<String, Value>) -> Result<Self, ConfigError> {
        let mut values = BTreeMap::new();
        for (key, value) in block {
            if super::slo::KEYS.contains(&key.as_str()) {
                continue; // the pick-up SLO's keys: `slo.rs` reads them
            }
            let Some(t) = Threshold::from_key(key) else {
                let mut known: Vec<&str> = Threshold::ALL.iter().map(|t| t.key()).collect();
                known.extend(super::slo::KEYS);
                return Err(ConfigError::new(
                    format!("{field}.{key}"),
                    "is not a threshold",
                    format!("use one of {}", known.join(", ")),
                ));
            };
            values.insert(t, read_value(&format!("{field}.{key}"), t, value)?);
        }
        let set = ThresholdSet { values };
        set.check_order(field)?;
        Ok(set)
    }

    /// `over` with this set's values where it has them.
    fn over(&self, base: &ThresholdSet) -> ThresholdSet {
        let mut values = base.values.clone();
        values.extend(&self.values);
        ThresholdSet { values }
    }

    /// The warning may not page later than the critical alert.
    fn check_order(&self, field: &str) -> Result<(), ConfigError> {
        let warning = self.get(Threshold::QueueLagWarning);
        let critical = self.get(Threshold::QueueLagCritical);
        if let (Some(w), Some(c)) = (warning, critical) {
            if w > c {
                return Err(ConfigError::new(
                    format!("{field}.queue_lag_warning"),
                    format!("{w} s is longer than queue_lag_critical ({c} s)"),
                    "make queue_lag_warning at most queue_lag_critical (the warning comes first)",
                ));
            }
        }
        Ok(())
    }
}

/// One value: a duration above zero for the `_seconds` thresholds, a whole
/// number of items (0 or more) for the others.
fn read_value(field: &str, t: Threshold, value: &Value) -> Result<f64, ConfigError> {
    match (t.unit(), value) {
        (Unit::Seconds, Value::String(s)) => Ok(parse_duration(field, s)?.as_secs_f64()),
        (Unit::Seconds, _) => Err(ConfigError::new(
            field,
            format!("{} is not a duration", shown(value)),
            "write a duration with its unit, such as 90s, 5m or 1h",
        )),
        (Unit::Items, Value::Number(n)) if n.as_u64().is_some() => {
            Ok(n.as_u64().map_or(0.0, |n| n as f64))
        }
        (Unit::Items, _) => Err(ConfigError::new(
            field,
            format!("{} is not a number of work items", shown(value)),
            "write a whole number of items, 0 or more, such as 100",
        )),
    }
}

fn shown(value: &Value) -> String {
    serde_yaml_ng::to_string(value)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "the value".into())
}

/// Where a served threshold comes from (the drill-down page shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdSource {
    /// The environment's own `thresholds:` block.
    Environment,
    /// The file's top-level `thresholds:` block.
    ExporterDefault,
}

impl ThresholdSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdSource::Environment => "environment",
            ThresholdSource::ExporterDefault => "exporter default",
        }
    }
}

/// A threshold served for an environment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Served {
    pub threshold: Threshold,
    pub value: f64,
    pub source: ThresholdSource,
}

/// Every threshold of the config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds {
    /// The top-level block: every environment, discovered ones included.
    pub defaults: ThresholdSet,
    /// Each configured environment's own block, by id.
    pub environments: BTreeMap<String, ThresholdSet>,
    /// The pick-up SLO of every environment (flags, then the same blocks).
    pub pickup: super::slo::PickupSlos,
}

impl Thresholds {
    /// Add environment `id`'s own block (`field` names it), checking it
    /// against the top-level block: warning ≤ critical must hold for what is served.
    pub fn add_environment(
        &mut self,
        field: &str,
        id: &str,
        own: ThresholdSet,
    ) -> Result<(), ConfigError> {
        own.over(&self.defaults).check_order(field)?;
        self.environments.insert(id.to_string(), own);
        Ok(())
    }

    /// How old a heartbeat of environment `id` may be before it counts as
    /// stale (`stale_heartbeat`): its own, else the top-level block's, else
    /// 90 s (the mixin's default too): three heartbeats missed, an on-time
    /// worker's being at most 30 s old (SDK `_lease.py`, `min(ttl / 2, 30)`).
    pub fn stale_heartbeat_ms(&self, id: &str) -> i64 {
        let own = self
            .environments
            .get(id)
            .and_then(|o| o.get(Threshold::StaleHeartbeat));
        let secs = own
            .or_else(|| self.defaults.get(Threshold::StaleHeartbeat))
            .unwrap_or(DEFAULT_STALE_HEARTBEAT_S);
        (secs * 1000.0) as i64
    }

    /// The thresholds served for environment `id`, in `Threshold::ALL` order:
    /// its own where set, else the top-level block's.
    pub fn served(&self, id: &str) -> impl Iterator<Item = Served> + '_ {
        let own = self.environments.get(id);
        Threshold::ALL.into_iter().filter_map(move |t| {
            let mine = own.and_then(|o| o.get(t));
            let (value, source) = match mine {
                Some(v) => (v, ThresholdSource::Environment),
                None => (self.defaults.get(t)?, ThresholdSource::ExporterDefault),
            };
            Some(Served {
                threshold: t,
                value,
                source,
            })
        })
    }
}

#[cfg(test)]
mod tests;
