//! The lease protocol (heartbeats with `expected_last_heartbeat`, the 412)
//! and the end of an item's life (graceful and forced stops).

use super::{
    opt_ts, EnvQueue, Fault, Item, MAX_TTL_S, MIN_TTL_S, NONE, NO_HEARTBEAT, STOP_GRACE_MS,
};
use crate::ids;
use work_api::wire::{HeartbeatResponse, LeaseState, WorkState};

impl Item {
    fn lease(&self) -> LeaseState {
        LeaseState {
            last_heartbeat: opt_ts(self.heartbeat),
            lease_extended: false,
            state: self.state,
            ttl_seconds: i64::from(self.ttl_s),
        }
    }
}

impl EnvQueue {
    pub(crate) fn heartbeat(
        &mut self,
        seq: u64,
        expected: Option<&str>,
        desired_ttl_s: Option<i64>,
        now: i64,
    ) -> Result<HeartbeatResponse, Fault> {
        let i = self.idx(seq)?;
        let it = &mut self.items[i];
        let extended = match it.state {
            WorkState::Stopped => false,
            WorkState::Stopping => {
                // Not compared while stopping: the worker is winding down. A
                // stop was requested, so the lease is not extended: SDK 2.16+
                // lets go only on `lease_extended: false` (`_lease.py`,
                // "heartbeat signals shutdown").
                it.heartbeat = now.max(it.heartbeat.saturating_add(1));
                false
            }
            WorkState::Starting | WorkState::Active => {
                let matches = match expected {
                    None => true,
                    Some(e) if e == NO_HEARTBEAT || e.is_empty() => it.heartbeat == NONE,
                    Some(e) => it.heartbeat != NONE && ids::timestamp(it.heartbeat) == e,
                };
                if !matches {
                    return Err(precondition_failed(it));
                }
                if let Some(ttl) = desired_ttl_s {
                    it.ttl_s = ttl.clamp(MIN_TTL_S, MAX_TTL_S) as u16;
                }
                // Strictly increasing, so an old `expected_last_heartbeat` never matches again.
                it.heartbeat = now.max(it.heartbeat.saturating_add(1));
                if it.state == WorkState::Starting {
                    it.state = WorkState::Active;
                    it.started = now;
                }
                true
            }
            // Queued (re-queued or never acknowledged): the lease is not this worker's.
            WorkState::Queued | WorkState::Unknown => return Err(precondition_failed(it)),
        };
        Ok(HeartbeatResponse {
            kind: "work_heartbeat".into(),
            last_heartbeat: opt_ts(it.heartbeat).unwrap_or_default(),
            lease_extended: extended,
            state: it.state,
            ttl_seconds: i64::from(it.ttl_s),
        })
    }

    pub(crate) fn stop(&mut self, seq: u64, force: bool, now: i64) -> Result<usize, Fault> {
        let i = self.idx(seq)?;
        match self.items[i].state {
            WorkState::Stopped => {
                return Err(Fault::new(
                    409,
                    "work_already_stopped",
                    "work item is already stopped",
                ))
            }
            WorkState::Queued => {
                self.unqueue(seq);
                self.finish(i, now);
            }
            WorkState::Stopping if force => self.finish(i, now),
            WorkState::Stopping => {}
            _ if force => self.finish(i, now),
            _ => {
                let it = &mut self.items[i];
                it.state = WorkState::Stopping;
                it.stop_requested = now;
                self.stopping.push_back((seq, now + STOP_GRACE_MS));
            }
        }
        Ok(i)
    }

    fn finish(&mut self, i: usize, now: i64) {
        let it = &mut self.items[i];
        it.state = WorkState::Stopped;
        it.polled = NONE;
        if it.stop_requested == NONE {
            it.stop_requested = now;
        }
        it.stopped = now;
        if !it.seeded {
            self.prunable += 1;
        }
    }

    /// Completes graceful stops whose grace period has passed.
    pub(crate) fn complete_due_stops(&mut self, now: i64) {
        while let Some(&(seq, due)) = self.stopping.front() {
            if due > now {
                break;
            }
            self.stopping.pop_front();
            if let Some(i) = self.find(seq) {
                if self.items[i].state == WorkState::Stopping {
                    self.finish(i, now);
                }
            }
        }
    }
}

fn precondition_failed(it: &Item) -> Fault {
    Fault {
        status: 412,
        code: "heartbeat_precondition_failed",
        message: "expected_last_heartbeat does not match the stored heartbeat; another worker may hold the lease"
            .into(),
        current_state: Some(it.lease()),
        retry_after_s: None,
    }
}
