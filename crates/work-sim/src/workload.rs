//! The simulated workload of one environment: session arrivals, periodic
//! healthcheck items, and workers that behave like the official SDK worker
//! (one item at a time, no polling while busy, jittered sleep after an empty
//! poll, ack, lease heartbeats, stop when done). Two generations of that
//! worker exist (`WorkerSdk`): up to 2.15 a healthcheck is acknowledged and
//! force-stopped at once (queued -> starting -> stopped); from 2.16 every
//! item gets its first heartbeat before the worker looks at its type, so a
//! healthcheck passes through `active`. `step(now)` advances it; one task
//! ticks every environment.

use crate::ids::{mix, SplitMix64};
use crate::scenario::Scenario;
use crate::state::{EnvQueue, ItemKind, DEFAULT_RECLAIM_MS, NO_HEARTBEAT};
use crate::tuning::{Tuning, DEFAULT_LATE_ONE_IN};
use work_api::wire::WorkState;

/// Stopped items stay listed this long, then are dropped (bounded memory).
pub(crate) const KEEP_STOPPED_MS: i64 = 120_000;
const PRUNE_EVERY_MS: i64 = 5_000;
/// Longest gap a step catches up on (a stalled process must not cause a burst).
const MAX_STEP_MS: i64 = 5_000;
/// The backlog scenario stops adding work past this depth.
const BACKLOG_CAP: usize = 20_000;
/// Share of claims a worker "crashes" on between poll and ack (shows `pending`).
const CRASH_SHARE: f64 = 0.01;
/// `slow-pickups`: a session left waiting (one in `late_one_in`) is left
/// until it is this old (a worker claiming it sooner drops the claim).
const LEFT_WAITING_MS: i64 = 120_000;

/// Which official worker the simulated workers behave as (`--worker-sdk`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerSdk {
    /// SDK 2.14 and 2.15: healthchecks acknowledged and force-stopped
    /// unstarted; a run ends on `lease_extended: false` or a `stopping` state.
    V2_14,
    /// SDK 2.16 and later (2.17 today): the first heartbeat on every item,
    /// healthchecks included; a run ends only on `lease_extended: false`;
    /// the worker force-stops what it finished.
    #[default]
    V2_16,
    /// Both in one fleet: even-numbered workers 2.16+, odd ones 2.14.
    Mixed,
}

impl WorkerSdk {
    pub const NAMES: &'static str = "2.14, 2.16, mixed";

    /// `2.14` (or `2.15`), `2.16` (or `2.17`), `mixed`.
    pub fn parse(s: &str) -> Option<WorkerSdk> {
        match s {
            "2.14" | "2.15" => Some(WorkerSdk::V2_14),
            "2.16" | "2.17" => Some(WorkerSdk::V2_16),
            "mixed" => Some(WorkerSdk::Mixed),
            _ => None,
        }
    }

    /// Whether worker number `k` heartbeats every item first (2.16+).
    fn heartbeats_first(self, k: usize) -> bool {
        match self {
            WorkerSdk::V2_14 => false,
            WorkerSdk::V2_16 => true,
            WorkerSdk::Mixed => k % 2 == 0,
        }
    }
}

#[derive(Debug)]
struct Job {
    seq: u64,
    /// A healthcheck a 2.16+ worker holds for a moment before it force-stops it.
    healthcheck: bool,
    ends: i64,
    next_heartbeat: i64,
    /// The server's previous `last_heartbeat`, echoed as `expected_last_heartbeat`.
    last_heartbeat: String,
}

#[derive(Debug)]
struct Worker {
    id: String,
    job: Option<Job>,
    next_poll: i64,
    /// Goes silent (keeps its item, stops heartbeating) under `stale-heartbeats`.
    goes_stale: bool,
    /// Behaves as SDK 2.16+ (heartbeat first, force-stop) rather than 2.14.
    sdk_2_16: bool,
}

#[derive(Debug)]
pub(crate) struct Workload {
    rng: SplitMix64,
    workers: Vec<Worker>,
    arrivals_per_minute: f64,
    mean_run_ms: i64,
    last_step: Option<i64>,
    next_prune: i64,
    /// One healthcheck item per this many ms (0: none), the first at a
    /// per-environment phase so environments do not all get theirs at once.
    healthcheck_every_ms: i64,
    healthcheck_phase: u64,
    next_healthcheck: Option<i64>,
    /// `slow-pickups` leaves one session in this many waiting.
    late_one_in: u64,
    /// What a worker added by `retune` needs: its name, its stream, its SDK.
    env_index: usize,
    stream: u64,
    sdk: WorkerSdk,
}

impl Workload {
    pub(crate) fn new(
        seed: u64,
        env_index: usize,
        workers: usize,
        arrivals_per_minute: f64,
    ) -> Self {
        let stream = mix(seed ^ mix(env_index as u64 + 1));
        let arrivals = if arrivals_per_minute.is_finite() {
            arrivals_per_minute.max(0.0)
        } else {
            0.0
        };
        // Runs long enough to see (4-40 s on average) and short enough that a
        // steady fleet sits at about a third of its capacity: `workers_polling`
        // counts idle workers, and a steady fleet should rarely have none.
        let mean_run_ms = if workers > 0 && arrivals > 0.0 {
            (0.35 * workers as f64 * 60_000.0 / arrivals).clamp(4_000.0, 40_000.0) as i64
        } else {
            20_000
        };
        let sdk = WorkerSdk::default();
        let workers = (0..workers)
            .map(|k| new_worker(stream, env_index, k, sdk))
            .collect();
        Workload {
            rng: SplitMix64::new(stream),
            workers,
            arrivals_per_minute: arrivals,
            mean_run_ms,
            last_step: None,
            next_prune: 0,
            healthcheck_every_ms: 0,
            // Not drawn from `rng`: turning healthchecks on leaves the rest of the workload as it was.
            healthcheck_phase: mix(stream ^ 0x4845_414c_5448),
            next_healthcheck: None,
            late_one_in: DEFAULT_LATE_ONE_IN,
            env_index,
            stream,
            sdk,
        }
    }

    /// A scenario switch's knobs (`POST /_sim/scenario`). Runs keep the
    /// length chosen for the first fleet; a removed worker abandons its item
    /// (its lease expires). `slow-pickups` without `late_one_in` is one in 20.
    pub(crate) fn retune(&mut self, scenario: Scenario, t: &Tuning) {
        if let Some(a) = t.arrivals_per_minute {
            self.arrivals_per_minute = a;
        }
        if let Some(n) = t.workers {
            let (stream, env, sdk) = (self.stream, self.env_index, self.sdk);
            self.workers.truncate(n);
            for k in self.workers.len()..n {
                self.workers.push(new_worker(stream, env, k, sdk));
            }
        }
        if scenario == Scenario::SlowPickups {
            self.late_one_in = t.late_one_in.unwrap_or(DEFAULT_LATE_ONE_IN);
        }
    }

    /// The platform's healthcheck items: one every `every_ms` (0: none).
    pub(crate) fn with_healthchecks(mut self, every_ms: i64) -> Self {
        self.healthcheck_every_ms = every_ms.max(0);
        self
    }

    /// The SDK generation the workers behave as (default: 2.16+).
    pub(crate) fn with_worker_sdk(mut self, sdk: WorkerSdk) -> Self {
        self.sdk = sdk;
        for (k, w) in self.workers.iter_mut().enumerate() {
            w.sdk_2_16 = sdk.heartbeats_first(k);
        }
        self
    }

    fn enqueue_due_healthcheck(&mut self, q: &mut EnvQueue, now: i64) {
        let every = self.healthcheck_every_ms;
        if every == 0 {
            return;
        }
        let phase = (self.healthcheck_phase % every as u64) as i64;
        let due = *self.next_healthcheck.get_or_insert(now + phase);
        if now >= due {
            q.enqueue_kind(ItemKind::Healthcheck, now);
            // One at a time, even after a stall: the platform does not catch up on probes.
            self.next_healthcheck = Some((due + every).max(now + 1));
        }
    }

    pub(crate) fn worker_count(&self) -> usize {
        self.workers.len()
    }

    pub(crate) fn busy(&self) -> usize {
        self.workers.iter().filter(|w| w.job.is_some()).count()
    }

    fn capacity_per_minute(&self) -> f64 {
        self.workers.len() as f64 * 60_000.0 / self.mean_run_ms as f64
    }

    /// Arrivals per minute under `scenario` at queue depth `depth`.
    fn arrival_rate(&self, scenario: Scenario, depth: usize) -> f64 {
        let cap = self.capacity_per_minute();
        let steady = if self.workers.is_empty() {
            self.arrivals_per_minute
        } else {
            self.arrivals_per_minute.min(0.6 * cap)
        };
        match scenario {
            Scenario::Backlog if depth >= BACKLOG_CAP => 0.0,
            Scenario::Backlog => self.arrivals_per_minute.max(2.5 * cap).max(6.0),
            // Keep a little work waiting: every worker finds an item when it frees up.
            Scenario::Saturated if depth < (2 * self.workers.len()).max(3) => 1.5 * cap,
            Scenario::Saturated => 0.0,
            _ => steady,
        }
    }

    pub(crate) fn step(&mut self, q: &mut EnvQueue, scenario: Scenario, now: i64) {
        let dt = self
            .last_step
            .map_or(0, |t| (now - t).clamp(0, MAX_STEP_MS));
        self.last_step = Some(now);
        let expected = self.arrival_rate(scenario, q.depth()) / 60_000.0 * dt as f64;
        // Dithered rounding: random, and right on average.
        let arrivals = (expected + self.rng.next_f64()).floor() as u64;
        for _ in 0..arrivals {
            q.enqueue(now);
        }
        self.enqueue_due_healthcheck(q, now);
        if scenario != Scenario::StuckStopping {
            q.complete_due_stops(now);
        }
        for k in 0..self.workers.len() {
            self.step_worker(k, q, scenario, now);
        }
        if now >= self.next_prune {
            q.prune(KEEP_STOPPED_MS, now);
            self.next_prune = now + PRUNE_EVERY_MS;
        }
    }

    fn step_worker(&mut self, k: usize, q: &mut EnvQueue, scenario: Scenario, now: i64) {
        let rng = &mut self.rng;
        let w = &mut self.workers[k];
        if let Some(job) = &mut w.job {
            if scenario == Scenario::StaleHeartbeats && w.goes_stale && !job.healthcheck {
                return; // keeps the item, says nothing
            }
            if now >= job.next_heartbeat && !heartbeat(job, w.sdk_2_16, q, rng, now) {
                // Told to shut down, or the lease is lost (412): let the item go.
                w.job = None;
                w.next_poll = now + rng.range(100, 600);
                return;
            }
            if now < job.ends || job.last_heartbeat == NO_HEARTBEAT {
                return;
            }
            // Done: stop the item and, like the SDK's poller, poll again at
            // once. 2.14 stops gracefully; 2.16+ force-stops (`_lease.py`,
            // `_stop_if_held`), except under stuck-stopping, whose stops hang
            // on the server: there it takes the poller's fallback, a graceful
            // stop (`_poller.py`, after a 401 on the forced one).
            let force = w.sdk_2_16 && scenario != Scenario::StuckStopping;
            let _ = q.stop(job.seq, force || job.healthcheck, now);
            w.job = None;
            w.next_poll = now;
        }
        if scenario == Scenario::WorkersDown || now < w.next_poll {
            return;
        }
        let Some(i) = q.poll(Some(&w.id), DEFAULT_RECLAIM_MS, now) else {
            w.next_poll = now + rng.range(1_000, 3_000);
            return;
        };
        let (seq, kind) = (q.items()[i].seq, q.items()[i].kind);
        if scenario == Scenario::SlowPickups
            && left_waiting(seq, kind, q.items()[i].created, now, self.late_one_in)
        {
            // Dropped, as a crash between claim and ack: pending until reclaimed.
            w.next_poll = now + rng.range(1_000, 3_000);
            return;
        }
        if scenario != Scenario::Saturated && rng.chance(CRASH_SHARE) {
            // Died between claim and ack: the item stays pending until reclaimed.
            w.next_poll = now + rng.range(1_000, 3_000);
            return;
        }
        if q.ack(seq, now).is_err() {
            w.next_poll = now + rng.range(1_000, 3_000);
            return;
        }
        let healthcheck = kind == ItemKind::Healthcheck;
        if healthcheck && !w.sdk_2_16 {
            // As SDK 2.14's worker: skip a non-session item, force-stop it
            // (starting -> stopped, never started), and poll again at once.
            let _ = q.stop(seq, true, now);
            w.next_poll = now;
            return;
        }
        // 2.16+ holds a healthcheck for its first heartbeat, then skips it.
        let run = if healthcheck {
            rng.range(100, 1_000)
        } else {
            rng.range(self.mean_run_ms * 2 / 5, self.mean_run_ms * 8 / 5)
        };
        let mut job = Job {
            seq,
            healthcheck,
            ends: now + run,
            next_heartbeat: now + rng.range(300, 1_500),
            last_heartbeat: NO_HEARTBEAT.to_owned(),
        };
        // 2.16+ claims with a heartbeat straight after the ack (`Lease.hold_during`).
        if w.sdk_2_16 && !heartbeat(&mut job, true, q, rng, now) {
            w.next_poll = now + rng.range(100, 600);
            return;
        }
        w.job = Some(job);
    }
}

/// Worker number `k` of environment `env_index`: half go silent under
/// `stale-heartbeats` (the first always), chosen by the stream.
fn new_worker(stream: u64, env_index: usize, k: usize, sdk: WorkerSdk) -> Worker {
    Worker {
        id: format!("sim-worker-{}-{k}", env_index + 1),
        job: None,
        next_poll: 0,
        goes_stale: k == 0 || mix(stream ^ k as u64) % 2 == 0,
        sdk_2_16: sdk.heartbeats_first(k),
    }
}

/// One lease heartbeat; false when the worker lets the item go: 2.16+ only
/// on `lease_extended: false` ("heartbeat signals shutdown"), 2.14 also on a
/// `stopping`/`stopped` state; both on an error (412: the lease is lost).
fn heartbeat(
    job: &mut Job,
    sdk_2_16: bool,
    q: &mut EnvQueue,
    rng: &mut SplitMix64,
    now: i64,
) -> bool {
    match q.heartbeat(job.seq, Some(&job.last_heartbeat), None, now) {
        Ok(r)
            if r.lease_extended
                && (sdk_2_16 || !matches!(r.state, WorkState::Stopping | WorkState::Stopped)) =>
        {
            job.last_heartbeat = r.last_heartbeat;
            job.next_heartbeat = now + rng.range(3_000, 5_000);
            true
        }
        _ => false,
    }
}

/// Whether `slow-pickups` keeps this item waiting a while longer: one
/// session in `one_in`, chosen by their sequence number.
fn left_waiting(seq: u64, kind: ItemKind, created: i64, now: i64, one_in: u64) -> bool {
    kind == ItemKind::Session && mix(seq) % one_in.max(1) == 0 && now - created < LEFT_WAITING_MS
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
