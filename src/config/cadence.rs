//! The two refresh cadences: queue stats (one request, the signals that page
//! fastest) and the work list walk (one request per 1,000 items, the rest).
//! Both default to `--refresh.interval`; the config file may override them per
//! environment. Also how long each family's series outlive a failed refresh.

use super::{parse_duration, ConfigError};
use crate::cli::ServeArgs;
use std::time::Duration;

/// Which part of an environment a refresh reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cadence {
    /// `GET …/work/stats`: depth, pending, workers polling, oldest queued.
    Stats,
    /// The whole `GET …/work` walk: per-state counts, heartbeats and leases, lifecycles.
    List,
}

impl Cadence {
    pub const ALL: [Cadence; 2] = [Cadence::Stats, Cadence::List];

    /// The `cadence` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Stats => "stats",
            Cadence::List => "list",
        }
    }
}

/// How often each part is refreshed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadences {
    pub stats: Duration,
    pub list: Duration,
}

impl Cadences {
    /// Both parts at one interval (the behaviour of `--refresh.interval` alone).
    pub fn every(interval: Duration) -> Self {
        Cadences {
            stats: interval,
            list: interval,
        }
    }

    pub fn get(&self, cadence: Cadence) -> Duration {
        match cadence {
            Cadence::Stats => self.stats,
            Cadence::List => self.list,
        }
    }

    /// These cadences with an environment's overrides applied.
    pub fn with(&self, o: &CadenceOverrides) -> Cadences {
        Cadences {
            stats: o.stats.unwrap_or(self.stats),
            list: o.list.unwrap_or(self.list),
        }
    }

    /// `--refresh.stats-interval` and `--refresh.list-interval`, each
    /// defaulting to `--refresh.interval`.
    pub fn from_args(args: &ServeArgs, interval: Duration) -> Result<Cadences, ConfigError> {
        let or_interval = |flag: &str, v: &Option<String>| match v {
            Some(v) => parse_duration(flag, v),
            None => Ok(interval),
        };
        Ok(Cadences {
            stats: or_interval("--refresh.stats-interval", &args.stats_interval)?,
            list: or_interval("--refresh.list-interval", &args.list_interval)?,
        })
    }
}

/// An environment's own intervals from the config file (`stats_interval`,
/// `list_interval`); `None` follows the flags.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CadenceOverrides {
    pub stats: Option<Duration>,
    pub list: Option<Duration>,
}

impl CadenceOverrides {
    /// Parse an entry's `stats_interval` and `list_interval` (`field` names the entry).
    pub fn parse(
        field: &str,
        stats: Option<&str>,
        list: Option<&str>,
    ) -> Result<CadenceOverrides, ConfigError> {
        let parse = |name: &str, v: Option<&str>| {
            v.map(|v| parse_duration(&format!("{field}.{name}"), v))
                .transpose()
        };
        Ok(CadenceOverrides {
            stats: parse("stats_interval", stats)?,
            list: parse("list_interval", list)?,
        })
    }
}

/// How long a family's series outlive a failed refresh of its part: the
/// `--refresh.stale-after` flag for both, or by default three of the part's
/// intervals as actually achieved (the environment's own, stretched by the
/// budget), so a stretched cadence never withdraws series before its next try.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleAfter {
    pub explicit: Option<Duration>,
    pub cadences: Cadences,
}

impl StaleAfter {
    /// One duration for both families (tests, and a set `--refresh.stale-after`).
    pub fn fixed(d: Duration) -> Self {
        StaleAfter {
            explicit: Some(d),
            cadences: Cadences::every(d),
        }
    }

    /// In milliseconds, for `cadence` of an environment with `overrides`,
    /// while the budget stretches that cadence by `stretch` (1 when it does not).
    pub fn millis(&self, cadence: Cadence, overrides: &CadenceOverrides, stretch: f64) -> i64 {
        let d = match self.explicit {
            Some(d) => d,
            None => self
                .cadences
                .with(overrides)
                .get(cadence)
                .mul_f64(3.0 * stretch.max(1.0)),
        };
        d.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_per_environment_interval_names_its_field() {
        let e = CadenceOverrides::parse("environments[2]", Some("15s"), Some("soon")).unwrap_err();
        assert_eq!(e.field, "environments[2].list_interval");
        let ok = CadenceOverrides::parse("environments[0]", Some("15s"), None).unwrap();
        assert_eq!(ok.stats, Some(Duration::from_secs(15)));
        assert_eq!(
            Cadences::every(Duration::from_secs(30)).with(&ok).list,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn both_cadences_default_to_the_refresh_interval() {
        let args = ServeArgs {
            list_interval: Some("5m".into()),
            ..ServeArgs::default()
        };
        let c = Cadences::from_args(&args, Duration::from_secs(30)).unwrap();
        assert_eq!(c.stats, Duration::from_secs(30));
        assert_eq!(c.list, Duration::from_secs(300));
        let bad = ServeArgs {
            stats_interval: Some("0s".into()),
            ..ServeArgs::default()
        };
        let e = Cadences::from_args(&bad, Duration::from_secs(30)).unwrap_err();
        assert_eq!(e.field, "--refresh.stats-interval");
    }

    #[test]
    fn stale_after_defaults_to_three_achieved_intervals_of_each_part() {
        let s = StaleAfter {
            explicit: None,
            cadences: Cadences {
                stats: Duration::from_secs(30),
                list: Duration::from_secs(300),
            },
        };
        let none = CadenceOverrides::default();
        assert_eq!(s.millis(Cadence::Stats, &none, 1.0), 90_000);
        assert_eq!(s.millis(Cadence::List, &none, 2.0), 1_800_000);
        let own = CadenceOverrides {
            stats: Some(Duration::from_secs(10)),
            list: None,
        };
        assert_eq!(s.millis(Cadence::Stats, &own, 1.0), 30_000);
        let fixed = StaleAfter::fixed(Duration::from_secs(60));
        assert_eq!(fixed.millis(Cadence::List, &own, 5.0), 60_000);
    }
}
