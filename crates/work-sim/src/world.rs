//! The simulator's shared state: environments with their keys, queues and
//! workloads, the scenario switches, and the step that advances the workload.

use crate::clock::{Advancer, SimClock};
use crate::ids::{self, mix, SplitMix64};
use crate::paging::Paging;
use crate::record::RequestLog;
use crate::scenario::Scenario;
use crate::state::EnvQueue;
use crate::workload::Workload;
use crate::{seed, Credentials, EnvironmentKey, SimOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::Duration;
use work_api::clock::SharedClock;

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
    name: String,
    /// `organization` or `account`, as the environment object says.
    scope: &'static str,
    /// Its `metadata.team`, so routing by owner can be tested (see `TEAMS`).
    team: &'static str,
    created_ms: i64,
    archived: AtomicBool,
    /// The environment object, rendered again only when it is archived.
    json: Mutex<String>,
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

    pub(crate) fn archived(&self) -> bool {
        self.archived.load(Ordering::Relaxed)
    }

    /// The environment object as `GET /v1/environments` returns it.
    pub(crate) fn json(&self) -> String {
        self.json.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Archive it (its queue keeps answering, as an archived environment's does).
    fn archive(&self, now: i64) {
        self.archived.store(true, Ordering::Relaxed);
        *self.json.lock().unwrap_or_else(|e| e.into_inner()) = environment_json(
            &self.id,
            &self.name,
            self.self_hosted,
            self.scope,
            self.team,
            Some(now),
            self.created_ms,
        );
    }
}

/// Every environment, in creation order: indices never change (environments
/// are archived, never removed), so a key's index stays valid.
#[derive(Debug, Default)]
pub(crate) struct Envs {
    pub list: Vec<Arc<Env>>,
    by_id: HashMap<String, usize>,
    by_key: HashMap<String, usize>,
}

impl Envs {
    fn push(&mut self, env: Env) -> usize {
        let i = self.list.len();
        self.by_id.insert(env.id.clone(), i);
        if let Some(k) = &env.key {
            self.by_key.insert(k.clone(), i);
        }
        self.list.push(Arc::new(env));
        i
    }
}

/// What a new environment's workload looks like: the same as the first ones'.
#[derive(Debug, Clone)]
struct Template {
    seed: u64,
    items: usize,
    workers: usize,
    arrivals_per_minute: f64,
    healthcheck_every_ms: i64,
    worker_sdk: crate::WorkerSdk,
}

#[derive(Debug)]
pub(crate) struct World {
    envs: RwLock<Envs>,
    /// The first `listed` environments are the active self-hosted ones in the credentials.
    pub listed: usize,
    template: Template,
    pub api_key: String,
    pub admin_token: String,
    pub fault_seed: u64,
    pub clock: SharedClock,
    /// Moves `clock` when it is a manual one (`clock::advance`).
    pub(crate) advancer: Advancer,
    scenario: AtomicU8,
    requests: AtomicU64,
    token_rng: Mutex<SplitMix64>,
    /// Signs the sessions tokens of poll secrets.
    pub sessions: crate::sessions::SessionTokens,
    /// How every list pages (`""` endings, empty pages).
    pub paging: Paging,
    /// The headers of the latest API requests (`GET /_sim/requests`).
    pub request_log: RequestLog,
}

impl World {
    pub(crate) fn build(opts: &SimOptions, scenario: Scenario, time: &SimClock) -> World {
        let clock = time.shared();
        let now = clock.now_ms();
        // Keys come from the OS, never from --seed: a seed is printed in docs.
        let mut keys = SplitMix64::new(ids::random_seed());
        let mut data = SplitMix64::new(mix(opts.seed));
        let n = opts.environments;
        let template = Template {
            seed: opts.seed,
            items: opts.items_per_environment,
            workers: opts.workers,
            arrivals_per_minute: opts.arrivals_per_minute,
            healthcheck_every_ms: i64::try_from(opts.healthcheck_interval.as_millis())
                .unwrap_or(i64::MAX),
            worker_sdk: opts.worker_sdk,
        };
        let mut envs = Envs::default();
        for k in 0..n + 2 {
            let (self_hosted, archived) = (k != n + 1, k == n);
            let name = match k {
                _ if k < n => format!("sim-self-hosted-{}", k + 1),
                _ if archived => "sim-self-hosted-archived".to_owned(),
                _ => "sim-cloud".to_owned(),
            };
            let active = k < n;
            let env = new_env(
                &mut keys,
                &mut data,
                k,
                name,
                self_hosted,
                if active {
                    template.clone()
                } else {
                    idle(&template)
                },
                scenario,
                now,
            );
            if archived {
                env.archive(now - 86_400_000);
            }
            envs.push(env);
        }
        World {
            listed: n,
            envs: RwLock::new(envs),
            template,
            api_key: ids::token(&mut keys, "sk-ant-api03-sim-", 48),
            admin_token: ids::token(&mut keys, "sim-admin-", 32),
            fault_seed: mix(opts.seed ^ 0xFA17),
            token_rng: Mutex::new(SplitMix64::new(keys.next_u64())),
            sessions: crate::sessions::SessionTokens::new(keys.next_u64()),
            clock,
            advancer: Advancer::new(time),
            scenario: AtomicU8::new(scenario.index()),
            requests: AtomicU64::new(0),
            paging: opts.paging,
            request_log: RequestLog::default(),
        }
    }

    /// Every environment; hold the guard only briefly (never across an await).
    pub(crate) fn envs(&self) -> RwLockReadGuard<'_, Envs> {
        self.envs.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn env(&self, i: usize) -> Option<Arc<Env>> {
        self.envs().list.get(i).cloned()
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.envs().by_id.get(id).copied()
    }

    pub(crate) fn index_of_key(&self, key: &str) -> Option<usize> {
        self.envs().by_key.get(key).copied()
    }

    /// Create a self-hosted environment while the simulator runs, with the
    /// workload of the first ones; returns its id and key. `account_scoped`
    /// makes it visible only to the owning account (`scope: "account"`).
    pub(crate) fn add_environment(
        &self,
        name: Option<String>,
        account_scoped: bool,
    ) -> (String, String) {
        let now = self.clock.now_ms();
        let mut rng = SplitMix64::new(self.token_rng_next());
        let mut envs = self.envs.write().unwrap_or_else(|e| e.into_inner());
        let k = envs.list.len();
        let mut data = SplitMix64::new(mix(self.template.seed ^ mix(k as u64)));
        let name = name.unwrap_or_else(|| format!("sim-self-hosted-added-{k}"));
        let mut env = new_env(
            &mut rng,
            &mut data,
            k,
            name,
            true,
            self.template.clone(),
            self.scenario(),
            now,
        );
        if account_scoped {
            env.scope = "account";
            *env.json.get_mut().unwrap_or_else(|e| e.into_inner()) = environment_json(
                &env.id,
                &env.name,
                true,
                "account",
                env.team,
                None,
                env.created_ms,
            );
        }
        let out = (env.id.clone(), env.key.clone().unwrap_or_default());
        envs.push(env);
        out
    }

    /// Archive an environment; false when there is no such environment.
    pub(crate) fn archive(&self, id: &str) -> bool {
        match self.index_of(id).and_then(|i| self.env(i)) {
            Some(env) => {
                env.archive(self.clock.now_ms());
                true
            }
            None => false,
        }
    }

    fn token_rng_next(&self) -> u64 {
        self.token_rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64()
    }

    pub(crate) fn credentials(&self, base_url: String) -> Credentials {
        Credentials {
            base_url,
            api_key: self.api_key.clone(),
            admin_token: self.admin_token.clone(),
            environments: self.envs().list[..self.listed]
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
        for e in &self.envs().list {
            e.set_scenario(s);
        }
    }

    /// Number of this request, for ids and the fault injector.
    pub(crate) fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh random token (request ids).
    pub(crate) fn token(&self, prefix: &str, chars: usize) -> String {
        let mut rng = self.token_rng.lock().unwrap_or_else(|e| e.into_inner());
        ids::token(&mut rng, prefix, chars)
    }

    /// Advances every environment's workload to `now`.
    pub(crate) fn step(&self, now: i64) {
        for env in self.envs().list.iter().filter(|e| e.self_hosted) {
            let scenario = env.scenario();
            let mut cell = env.lock();
            let EnvCell { q, load } = &mut *cell;
            load.step(q, scenario, now);
        }
    }
}

/// A workload with no workers and no arrivals (archived and cloud environments).
fn idle(t: &Template) -> Template {
    Template {
        items: 0,
        workers: 0,
        arrivals_per_minute: 0.0,
        healthcheck_every_ms: 0,
        ..t.clone()
    }
}

#[allow(clippy::too_many_arguments)]
fn new_env(
    keys: &mut SplitMix64,
    data: &mut SplitMix64,
    k: usize,
    name: String,
    self_hosted: bool,
    t: Template,
    scenario: Scenario,
    now: i64,
) -> Env {
    let salt = mix(keys.next_u64() ^ k as u64);
    let id = ids::env_id(salt);
    let mut q = EnvQueue::new(id.clone(), salt);
    seed::populate(&mut q, t.items, data, now);
    let created_ms = now - 30 * 86_400_000;
    let team = TEAMS[k % TEAMS.len()];
    // The cloud environment is account-scoped, so the list carries both scopes.
    let scope = if self_hosted {
        "organization"
    } else {
        "account"
    };
    Env {
        json: Mutex::new(environment_json(
            &id,
            &name,
            self_hosted,
            scope,
            team,
            None,
            created_ms,
        )),
        scope,
        team,
        key: self_hosted.then(|| ids::token(keys, "sk-ant-envkey-sim-", 40)),
        id,
        self_hosted,
        name,
        created_ms,
        archived: AtomicBool::new(false),
        cell: Mutex::new(EnvCell {
            q,
            load: Workload::new(t.seed, k, t.workers, t.arrivals_per_minute)
                .with_healthchecks(t.healthcheck_every_ms)
                .with_worker_sdk(t.worker_sdk),
        }),
        scenario: AtomicU8::new(scenario.index()),
    }
}

/// `metadata.team` of environment k is `TEAMS[k % 3]`: the first belongs to payments.
pub(crate) const TEAMS: [&str; 3] = ["payments", "search", "research"];

fn environment_json(
    id: &str,
    name: &str,
    self_hosted: bool,
    scope: &str,
    team: &str,
    archived_ms: Option<i64>,
    created: i64,
) -> String {
    let config = if self_hosted {
        json!({"type": "self_hosted"})
    } else {
        json!({
            "type": "cloud",
            "networking": {"type": "unrestricted"},
            "packages": {"type": "packages", "apt": [], "cargo": [], "gem": [], "go": [], "npm": [], "pip": []},
        })
    };
    json!({
        "type": "environment",
        "id": id,
        "name": name,
        "description": "Simulated by anthropic-work-exporter",
        "config": config,
        "metadata": {"simulator": "true", "team": team},
        "created_at": ids::timestamp(created),
        "updated_at": ids::timestamp(archived_ms.unwrap_or(created)),
        "archived_at": archived_ms.map_or(json!(null), |t| json!(ids::timestamp(t))),
        "scope": scope,
    })
    .to_string()
}
