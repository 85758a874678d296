//! The simulator's shared state: environments with their keys, queues and
//! workloads, the scenario switches, and the tick that advances the workload.

use crate::clock::SharedClock;
use crate::sim::ids::{self, mix, SplitMix64};
use crate::sim::scenario::Scenario;
use crate::sim::state::EnvQueue;
use crate::sim::workload::Workload;
use crate::sim::{seed, Credentials, EnvironmentKey, SimOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the workload advances.
pub(crate) const TICK: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub(crate) struct EnvCell {
    pub q: EnvQueue,
    pub load: Workload,
}

#[derive(Debug)]
pub(crate) struct Env {
    pub id: String,
    /// Only self-hosted environments have a key and a work queue.
    pub key: Option<String>,
    pub self_hosted: bool,
    pub archived: bool,
    /// The environment object, rendered once.
    pub json: String,
    cell: Mutex<EnvCell>,
    scenario: AtomicU8,
}

impl Env {
    pub(crate) fn lock(&self) -> MutexGuard<'_, EnvCell> {
        // A panic while holding the lock cannot leave the queue half-updated
        // in a way worse than serving it, so poisoning is ignored.
        self.cell.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn scenario(&self) -> Scenario {
        Scenario::from_index(self.scenario.load(Ordering::Relaxed))
    }

    pub(crate) fn set_scenario(&self, s: Scenario) {
        self.scenario.store(s.index(), Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub(crate) struct World {
    pub envs: Vec<Env>,
    /// The first `listed` environments are the active self-hosted ones in the credentials.
    pub listed: usize,
    pub by_id: HashMap<String, usize>,
    pub by_key: HashMap<String, usize>,
    pub api_key: String,
    pub admin_token: String,
    pub fault_seed: u64,
    pub clock: SharedClock,
    scenario: AtomicU8,
    requests: AtomicU64,
    token_rng: Mutex<SplitMix64>,
}

impl World {
    pub(crate) fn build(opts: &SimOptions, scenario: Scenario, clock: SharedClock) -> World {
        let now = clock.now_ms();
        // Keys come from the OS, never from --seed: a seed is printed in docs.
        let mut keys = SplitMix64::new(ids::random_seed());
        let mut data = SplitMix64::new(mix(opts.seed));
        let n = opts.environments;
        let mut envs = Vec::with_capacity(n + 2);
        for k in 0..n + 2 {
            let salt = mix(keys.next_u64() ^ k as u64);
            let id = ids::env_id(salt);
            let (self_hosted, archived) = (k != n + 1, k == n);
            let name = match k {
                _ if k < n => format!("sim-self-hosted-{}", k + 1),
                _ if archived => "sim-self-hosted-archived".to_owned(),
                _ => "sim-cloud".to_owned(),
            };
            let mut q = EnvQueue::new(id.clone(), salt);
            let (workers, rate) = if k < n {
                (opts.workers, opts.arrivals_per_minute)
            } else {
                (0, 0.0)
            };
            if k < n {
                seed::populate(&mut q, opts.items_per_environment, &mut data, now);
            }
            envs.push(Env {
                json: environment_json(&id, &name, self_hosted, archived, now),
                key: self_hosted.then(|| ids::token(&mut keys, "sk-ant-envkey-sim-", 40)),
                id,
                self_hosted,
                archived,
                cell: Mutex::new(EnvCell {
                    q,
                    load: Workload::new(opts.seed, k, workers, rate),
                }),
                scenario: AtomicU8::new(scenario.index()),
            });
        }
        let by_id = envs
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
        let by_key = envs
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.key.clone().map(|k| (k, i)))
            .collect();
        World {
            listed: n,
            by_id,
            by_key,
            api_key: ids::token(&mut keys, "sk-ant-api03-sim-", 48),
            admin_token: ids::token(&mut keys, "sim-admin-", 32),
            fault_seed: mix(opts.seed ^ 0xFA17),
            token_rng: Mutex::new(SplitMix64::new(keys.next_u64())),
            envs,
            clock,
            scenario: AtomicU8::new(scenario.index()),
            requests: AtomicU64::new(0),
        }
    }

    pub(crate) fn credentials(&self, base_url: String) -> Credentials {
        Credentials {
            base_url,
            api_key: self.api_key.clone(),
            admin_token: self.admin_token.clone(),
            environments: self.envs[..self.listed]
                .iter()
                .map(|e| EnvironmentKey {
                    id: e.id.clone(),
                    key: e.key.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    pub(crate) fn scenario(&self) -> Scenario {
        Scenario::from_index(self.scenario.load(Ordering::Relaxed))
    }

    /// Switches every environment (and the default for requests tied to none).
    pub(crate) fn set_scenario_all(&self, s: Scenario) {
        self.scenario.store(s.index(), Ordering::Relaxed);
        for e in &self.envs {
            e.set_scenario(s);
        }
    }

    /// Number of this request, for ids and the fault injector.
    pub(crate) fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh random token (request ids, poll secrets).
    pub(crate) fn token(&self, prefix: &str, chars: usize) -> String {
        let mut rng = self.token_rng.lock().unwrap_or_else(|e| e.into_inner());
        ids::token(&mut rng, prefix, chars)
    }

    /// Advances every environment's workload to `now`.
    pub(crate) fn step(&self, now: i64) {
        for env in self.envs.iter().filter(|e| e.self_hosted) {
            let scenario = env.scenario();
            let mut cell = env.lock();
            let EnvCell { q, load } = &mut *cell;
            load.step(q, scenario, now);
        }
    }
}

/// Ticks the workload until shutdown.
pub(crate) async fn tick_loop(world: std::sync::Arc<World>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => world.step(world.clock.now_ms()),
        }
    }
}

fn environment_json(id: &str, name: &str, self_hosted: bool, archived: bool, now: i64) -> String {
    let config = if self_hosted {
        json!({"type": "self_hosted"})
    } else {
        json!({
            "type": "cloud",
            "networking": {"type": "unrestricted"},
            "packages": {"type": "packages", "apt": [], "cargo": [], "gem": [], "go": [], "npm": [], "pip": []},
        })
    };
    let created = now - 30 * 86_400_000;
    json!({
        "type": "environment",
        "id": id,
        "name": name,
        "description": "Simulated by anthropic-work-exporter",
        "config": config,
        "metadata": {"simulator": "true"},
        "created_at": ids::timestamp(created),
        "updated_at": ids::timestamp(if archived { now - 86_400_000 } else { created }),
        "archived_at": if archived { json!(ids::timestamp(now - 86_400_000)) } else { json!(null) },
        "scope": "organization",
    })
    .to_string()
}
