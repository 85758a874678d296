//! Where the simulator's time comes from: the wall, with a ticker stepping
//! the workload, or a manual clock that only `advance` moves (from a test,
//! or over HTTP with `POST /_sim/advance`), stepping the workload as it goes.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use work_api::clock::{Clock, ManualClock, SharedClock, SystemClock};

/// The longest one `advance` may cover: a day of simulated time is 345,600
/// workload steps, already seconds of work on a large simulator.
pub const MAX_ADVANCE: Duration = Duration::from_secs(86_400);

/// Where the simulator's time comes from.
#[derive(Debug, Clone, Default)]
pub enum SimClock {
    /// Wall time: the workload ticks every 250 ms of it.
    #[default]
    Wall,
    /// A clock only `RunningSim::advance` (or `POST /_sim/advance`) moves,
    /// stepping the workload as it goes: a test covers simulated minutes in
    /// milliseconds.
    Manual(ManualClock),
}

impl SimClock {
    /// A manual clock starting at the current wall time (timestamps look real).
    pub fn manual() -> SimClock {
        SimClock::Manual(ManualClock::new(SystemClock.now_ms()))
    }

    /// `wall` or `manual`, as the `--clock` flag and `GET /_sim/state` say it.
    pub fn name(&self) -> &'static str {
        match self {
            SimClock::Wall => "wall",
            SimClock::Manual(_) => "manual",
        }
    }

    pub(crate) fn shared(&self) -> SharedClock {
        match self {
            SimClock::Wall => Arc::new(SystemClock),
            SimClock::Manual(c) => Arc::new(c.clone()),
        }
    }
}

/// Moves a manual clock; one advance at a time, so the workload always
/// steps forward in order even when two callers advance at once.
#[derive(Debug)]
pub(crate) struct Advancer {
    pub(crate) manual: Option<ManualClock>,
    pub(crate) one_at_a_time: Mutex<()>,
}

impl Advancer {
    pub(crate) fn new(clock: &SimClock) -> Advancer {
        Advancer {
            manual: match clock {
                SimClock::Wall => None,
                SimClock::Manual(c) => Some(c.clone()),
            },
            one_at_a_time: Mutex::new(()),
        }
    }

    pub(crate) fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}
