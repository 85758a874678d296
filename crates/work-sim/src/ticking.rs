//! How simulated time moves: the wall-time ticker, or manual advances
//! (`RunningSim::advance`, `POST /_sim/advance`), each stepping every
//! environment's workload every 250 ms of simulated time.

use crate::clock::MAX_ADVANCE;
use crate::world::{World, TICK};
use crate::SimError;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_api::clock::Clock;

/// Moves the manual clock forward by `by`, stepping every environment's
/// workload every 250 ms of simulated time on the way, as the wall-time
/// ticker would; answers the new "now" (Unix milliseconds).
pub(crate) fn advance(world: &World, by: Duration) -> Result<i64, SimError> {
    let Some(clock) = &world.advancer.manual else {
        return Err(SimError::WallClock);
    };
    if by > MAX_ADVANCE {
        return Err(SimError::AdvanceTooFar { by });
    }
    let _one = world
        .advancer
        .one_at_a_time
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let tick = TICK.as_millis() as i64;
    // At most a day (checked above): the milliseconds fit.
    let mut left = by.as_millis() as i64;
    while left > 0 {
        let step = left.min(tick);
        clock.advance_ms(step);
        world.step(clock.now_ms());
        left -= step;
    }
    Ok(clock.now_ms())
}

/// Ticks the workload on wall time until shutdown.
pub(crate) async fn tick_loop(world: Arc<World>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => world.step(world.clock.now_ms()),
        }
    }
}
