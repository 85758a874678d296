//! The scheduler: refreshes every environment's stats and list on their own
//! cadences, spread over the interval by a stable per-environment offset,
//! never two refreshes of one environment at once, at most
//! `--api.max-concurrency` at a time. When the fleet needs more requests than
//! the budget allows, it stretches the cadences (lists first, see `plan`)
//! instead of bursting, from the very first cycle, and says so.

use super::plan::{self, Plan, HEADROOM};
use super::{Outcome, Parts, Refresher};
use crate::config::{Cadences, Environment, RefreshSettings};
use crate::snapshot::Store;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use work_api::RequestBudget;

mod slots;

use slots::{demand, sync, take_turn, Slot};

/// How long in-flight refreshes may finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the scheduler drives: the `Refresher`, or, in a test that runs a
/// large fleet's literal numbers on a paused clock, a stand-in whose
/// requests draw on the real budget but never touch a socket.
pub trait Refreshes: Send + Sync + 'static {
    fn store(&self) -> &Store;
    fn settings(&self) -> &RefreshSettings;
    fn budget(&self) -> &RequestBudget;
    /// Refreshes in flight at once (`--api.max-concurrency`).
    fn max_concurrency(&self) -> usize;
    /// Forget whatever is kept for environments no longer watched.
    fn retain(&self, ids: &HashSet<&str>);
    /// Report the current plan (metrics).
    fn plan(&self, plan: &Plan);
    fn refresh_parts(
        &self,
        env: &Environment,
        parts: Parts,
    ) -> impl Future<Output = Outcome> + Send;
}

impl Refreshes for Refresher {
    fn store(&self) -> &Store {
        Refresher::store(self)
    }
    fn settings(&self) -> &RefreshSettings {
        Refresher::settings(self)
    }
    fn budget(&self) -> &RequestBudget {
        self.client().budget()
    }
    fn max_concurrency(&self) -> usize {
        self.client().max_concurrency()
    }
    fn retain(&self, ids: &HashSet<&str>) {
        Refresher::retain(self, ids)
    }
    fn plan(&self, plan: &Plan) {
        self.observer.plan(plan);
    }
    fn refresh_parts(
        &self,
        env: &Environment,
        parts: Parts,
    ) -> impl Future<Output = Outcome> + Send {
        Refresher::refresh_parts(self, env, parts)
    }
}

/// A stable fraction in [0, 1) from an environment id, so each environment
/// keeps its place in the interval across restarts.
pub fn offset_fraction(id: &str) -> f64 {
    work_api::hash::stable_fraction(id.as_bytes())
}

/// The window the first refreshes of `new` environments are spread over: a
/// few seconds so the exporter is ready soon, or as long as the budget needs
/// to serve them (stats and one list page each) when that is longer, so the
/// first cycle never queues more than the budget can serve.
pub fn start_window(new: usize, shortest: Duration, rate: f64) -> Duration {
    let quick = shortest.min(Duration::from_secs(5));
    quick.max(Duration::from_secs_f64(
        2.0 * new as f64 / (rate * HEADROOM),
    ))
}

/// Say so when the budget starts or stops stretching the cadences.
fn log_stretch(plan: &Plan, was_stretched: &mut bool, rate: f64) {
    if plan.stretched() == *was_stretched {
        return;
    }
    *was_stretched = plan.stretched();
    if plan.stretched() {
        tracing::warn!(
            environments = plan.environments,
            demand_ratio = plan.demand_ratio,
            budget_rps = rate,
            stats_interval_effective_seconds = plan.configured.stats.as_secs_f64() * plan.stats_stretch,
            list_interval_effective_seconds = plan.configured.list.as_secs_f64() * plan.list_stretch,
            "request budget too small for the refresh intervals: stretching them (lists first); raise --api.max-requests-per-second or --refresh.list-interval, or shard"
        );
    } else {
        tracing::info!("refresh intervals back to the configured values");
    }
}

/// Run until `shutdown`: refresh every environment of `environments` (which may change).
pub async fn run<R: Refreshes>(
    refresher: Arc<R>,
    mut environments: watch::Receiver<Vec<Environment>>,
    shutdown: CancellationToken,
) {
    let mut scheduler = Scheduler::new(refresher);
    let initial = environments.borrow_and_update().clone();
    scheduler.follow(&initial);
    let mut watching = true;
    loop {
        let wake = scheduler.dispatch_due(Instant::now());
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = scheduler.tasks.join_next(), if !scheduler.tasks.is_empty() => {
                if let Ok((id, outcome)) = done {
                    scheduler.refresh_ended(&id, &outcome);
                }
            }
            changed = environments.changed(), if watching => {
                if changed.is_err() {
                    // The sender is gone (no discovery): keep the current set and stop
                    // watching. (A stand-in receiver whose sender is dropped at once
                    // would be ready again at once: the loop would spin a whole core.)
                    watching = false;
                    continue;
                }
                let envs = environments.borrow_and_update().clone();
                scheduler.follow(&envs);
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    scheduler.stop().await;
}

/// The loop's state: one slot per watched environment and the refreshes in flight.
struct Scheduler<R> {
    refresher: Arc<R>,
    slots: HashMap<String, Slot>,
    tasks: JoinSet<(String, Outcome)>,
    max_in_flight: usize,
    rate: f64,
    configured: Cadences,
    /// Whether the last plan stretched the cadences (logged when it changes).
    stretched: bool,
}

impl<R: Refreshes> Scheduler<R> {
    fn new(refresher: Arc<R>) -> Self {
        Scheduler {
            max_in_flight: refresher.max_concurrency(),
            rate: refresher.budget().rate(),
            configured: refresher.settings().cadences,
            refresher,
            slots: HashMap::new(),
            tasks: JoinSet::new(),
            stretched: false,
        }
    }

    /// Take in a new watched set.
    fn follow(&mut self, envs: &[Environment]) {
        sync(self.refresher.as_ref(), &mut self.slots, envs);
    }

    /// One pass over the slots per wake: plan for what the fleet needs,
    /// start the most overdue refreshes there is room for, and return when
    /// to look again.
    fn dispatch_due(&mut self, now: Instant) -> Instant {
        let plan = self.replan();
        let mut later: Option<Instant> = None;
        let mut due: Vec<&mut Slot> = Vec::new();
        for s in self.slots.values_mut().filter(|s| !s.in_flight) {
            if s.next_due() <= now {
                due.push(s);
            } else {
                later = Some(later.map_or(s.next_due(), |l: Instant| l.min(s.next_due())));
            }
        }
        let free = self.max_in_flight.saturating_sub(self.tasks.len());
        // Only the `free` most overdue are started: pick them without sorting
        // every due slot (a thousand, when the fleet runs behind).
        let left_due = due.len() > free;
        if left_due && free > 0 {
            due.select_nth_unstable_by_key(free - 1, |s| s.next_due());
            due.truncate(free);
        }
        due.sort_by_key(|s| s.next_due());
        for slot in due.into_iter().take(free) {
            slot.in_flight = true;
            let parts = take_turn(slot, &plan, now);
            let r = Arc::clone(&self.refresher);
            let env = Arc::clone(&slot.env);
            self.tasks.spawn(async move {
                let outcome = r.refresh_parts(&env, parts).await;
                (env.id.clone(), outcome)
            });
        }
        let configured = self.configured;
        if self.tasks.len() >= self.max_in_flight {
            // Woken by a refresh ending.
            now + configured.stats.max(configured.list)
        } else if left_due {
            now
        } else {
            later.unwrap_or(now + configured.stats)
        }
    }

    /// What the fleet's cadences need against the budget, reported and
    /// logged when the stretch starts or stops.
    fn replan(&mut self) -> Plan {
        let demand = demand(self.slots.values());
        let plan = plan::plan(demand, self.rate, self.configured, self.slots.len());
        self.refresher.plan(&plan);
        self.refresher
            .store()
            .set_stretch(plan.stats_stretch, plan.list_stretch);
        log_stretch(&plan, &mut self.stretched, self.rate);
        plan
    }

    /// A refresh ended: its slot may be dispatched again, and a list walk
    /// says how many pages the next will take.
    fn refresh_ended(&mut self, id: &str, outcome: &Outcome) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.in_flight = false;
            if let Some(pages) = outcome.list_pages {
                slot.list_pages = pages.max(1);
            }
        }
    }

    /// Stop scheduling; give in-flight refreshes a short grace, then drop them.
    async fn stop(mut self) {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}

/// Multi-target mode (`--probe.only`): refresh nothing, only follow the
/// watched set, so `/probe` knows it and removed environments are forgotten.
pub async fn follow(
    refresher: Arc<Refresher>,
    mut environments: watch::Receiver<Vec<Environment>>,
    shutdown: CancellationToken,
) {
    loop {
        {
            let envs = environments.borrow_and_update();
            refresher.store().set_environments(&envs);
            refresher.retain(&envs.iter().map(|e| e.id.as_str()).collect());
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = environments.changed() => {
                if changed.is_err() {
                    // The sender is gone: the set stays as it is.
                    shutdown.cancelled().await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
