//! Named scenarios of the simulated workload, and the API faults some inject.

use crate::ids::mix;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Arrivals well within capacity.
    Steady,
    /// Arrivals beat capacity: depth climbs.
    Backlog,
    /// Workers stop polling and stop taking work; items they hold finish.
    WorkersDown,
    /// Every worker busy, work waiting, items keep finishing.
    Saturated,
    /// Some workers keep items active but stop heartbeating.
    StaleHeartbeats,
    /// Stops never complete: items pile up in `stopping`.
    StuckStopping,
    /// A share of API requests answer 429/500/529 or stall.
    ApiFlaky,
    /// Every API request fails.
    ApiDown,
    /// Pick-ups slow down without stopping: one session in twenty is left
    /// waiting about two minutes (workers that claim it drop the claim).
    SlowPickups,
}

/// An unknown scenario name; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario {name:?}; valid scenarios: {valid}", valid = Scenario::names())]
pub struct UnknownScenario {
    pub name: String,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::Steady,
        Scenario::Backlog,
        Scenario::WorkersDown,
        Scenario::Saturated,
        Scenario::StaleHeartbeats,
        Scenario::StuckStopping,
        Scenario::ApiFlaky,
        Scenario::ApiDown,
        Scenario::SlowPickups,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Backlog => "backlog",
            Scenario::WorkersDown => "workers-down",
            Scenario::Saturated => "saturated",
            Scenario::StaleHeartbeats => "stale-heartbeats",
            Scenario::StuckStopping => "stuck-stopping",
            Scenario::ApiFlaky => "api-flaky",
            Scenario::ApiDown => "api-down",
            Scenario::SlowPickups => "slow-pickups",
        }
    }

    /// The valid names, comma-separated, for messages.
    pub fn names() -> String {
        Scenario::ALL
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn parse(name: &str) -> Result<Scenario, UnknownScenario> {
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == wanted)
            .ok_or_else(|| UnknownScenario {
                name: name.to_owned(),
            })
    }

    pub(crate) fn index(self) -> u8 {
        Scenario::ALL.iter().position(|&s| s == self).unwrap_or(0) as u8
    }

    pub(crate) fn from_index(i: u8) -> Scenario {
        Scenario::ALL
            .get(usize::from(i))
            .copied()
            .unwrap_or(Scenario::Steady)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the fault injector does to one API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    Pass,
    /// Answer this status instead (with `retry-after` when given, in seconds).
    Fail {
        status: u16,
        retry_after_s: Option<u32>,
    },
    /// Hold the request this long, then serve it.
    Stall {
        ms: u64,
    },
}

/// The fault for request number `n` under `scenario`. A hash of `n` and the
/// seed decides, so a run is repeatable and needs no lock.
pub(crate) fn inject(scenario: Scenario, seed: u64, n: u64) -> Injected {
    let roll = mix(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 100;
    match scenario {
        Scenario::ApiDown => {
            if roll < 70 {
                Injected::Fail {
                    status: 503,
                    retry_after_s: None,
                }
            } else {
                Injected::Fail {
                    status: 500,
                    retry_after_s: None,
                }
            }
        }
        // About a third of requests go wrong, in the ways the real service does.
        Scenario::ApiFlaky => match roll {
            0..=11 => Injected::Fail {
                status: 429,
                retry_after_s: Some(1),
            },
            12..=19 => Injected::Fail {
                status: 500,
                retry_after_s: None,
            },
            20..=26 => Injected::Fail {
                status: 529,
                retry_after_s: None,
            },
            27..=32 => Injected::Stall {
                ms: 2_000 + (roll - 27) * 500,
            },
            _ => Injected::Pass,
        },
        _ => Injected::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Ok(s));
            assert_eq!(Scenario::from_index(s.index()), s);
        }
        assert_eq!(Scenario::parse("Workers_Down"), Ok(Scenario::WorkersDown));
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = Scenario::parse("chaos").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"chaos\""), "{msg}");
        assert!(msg.contains("steady, backlog, workers-down"), "{msg}");
        assert!(msg.contains("api-down"), "{msg}");
    }

    #[test]
    fn api_down_fails_every_request_and_steady_none() {
        for n in 0..500 {
            assert!(matches!(
                inject(Scenario::ApiDown, 1, n),
                Injected::Fail {
                    status: 500 | 503,
                    ..
                }
            ));
            assert_eq!(inject(Scenario::Steady, 1, n), Injected::Pass);
        }
    }

    #[test]
    fn api_flaky_fails_a_share_of_requests_with_retry_after_on_429() {
        let outcomes: Vec<_> = (0..2_000)
            .map(|n| inject(Scenario::ApiFlaky, 7, n))
            .collect();
        let failed = outcomes
            .iter()
            .filter(|o| !matches!(o, Injected::Pass))
            .count();
        assert!((400..900).contains(&failed), "{failed} of 2000");
        for status in [429, 500, 529] {
            assert!(outcomes
                .iter()
                .any(|o| matches!(o, Injected::Fail { status: s, .. } if *s == status)));
        }
        assert!(outcomes.iter().any(|o| matches!(o, Injected::Stall { .. })));
        for o in &outcomes {
            if let Injected::Fail {
                status: 429,
                retry_after_s,
            } = o
            {
                assert!(retry_after_s.is_some());
            }
        }
    }
}
