//! Admin endpoints (admin token only, never faulted): switch the scenario and
//! read the ground truth that tests compare the exporter's numbers with.
//!
//! - `POST /_sim/scenario` `{"scenario": NAME, "environment"?: ID,
//!   "arrivals_per_minute"?: N, "workers"?: N, "late_one_in"?: N}`: the
//!   optional knobs reshape the workload (`tuning`): arrivals a minute (at
//!   least 0), workers (0 to 10000; a removed worker abandons its item), and
//!   for `slow-pickups` one session in `late_one_in` left waiting two minutes
//!   (default 20, reset by every switch to it); absent, a setting stays as it is
//! - `GET /_sim/state`
//! - `POST /_sim/environments` `{"name"?: NAME, "scope"?: "organization"|"account"}`:
//!   create a self-hosted environment (answers its `id` and `key`), so
//!   discovery can be tested
//! - `POST /_sim/environments/{id}/archive`
//! - `GET /_sim/requests[?endpoint=work.list]`: the headers of the latest API
//!   requests (credentials shown as `<api_key>` / `<environment_key>`)
//! - `POST /_sim/advance` `{"seconds": N}`: move a manual clock (`--clock
//!   manual`) and step the workload through those seconds; 409 on wall time

use crate::auth::bearer;
use crate::clock::MAX_ADVANCE;
use crate::http::{ok_value, read_json, Resp};
use crate::ids;
use crate::scenario::Scenario;
use crate::state::{Fault, Truth, LEASE_TTL_MS, POLLING_WINDOW_MS};
use crate::ticking;
use crate::tuning::Tuning;
use crate::world::World;
use crate::SimError;
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Serialize)]
struct Workers {
    configured: usize,
    busy: usize,
}

/// One environment's ground truth.
#[derive(Debug, Serialize)]
pub(crate) struct EnvState {
    pub id: String,
    pub scenario: &'static str,
    #[serde(flatten)]
    pub truth: Truth,
    workers: Workers,
}

/// The body of `GET /_sim/state`.
#[derive(Debug, Serialize)]
pub(crate) struct SimState {
    pub scenario: &'static str,
    pub now: String,
    /// `wall`, or `manual` when only `POST /_sim/advance` moves `now`.
    pub clock: &'static str,
    pub lease_ttl_seconds: i64,
    pub polling_window_seconds: i64,
    pub environments: Vec<EnvState>,
}

pub(crate) fn state(world: &World) -> SimState {
    let now = world.clock.now_ms();
    // The active self-hosted environments: the first ones and any created since.
    let environments = world
        .envs()
        .list
        .iter()
        .filter(|env| env.self_hosted && !env.archived())
        .map(|env| {
            let cell = env.lock();
            EnvState {
                id: env.id.clone(),
                scenario: env.scenario().name(),
                truth: cell.q.truth(now),
                workers: Workers {
                    configured: cell.load.worker_count(),
                    busy: cell.load.busy(),
                },
            }
        })
        .collect();
    SimState {
        scenario: world.scenario().name(),
        now: ids::timestamp(now),
        clock: if world.advancer.is_manual() {
            "manual"
        } else {
            "wall"
        },
        lease_ttl_seconds: LEASE_TTL_MS / 1000,
        polling_window_seconds: POLLING_WINDOW_MS / 1000,
        environments,
    }
}

#[derive(Debug, Serialize)]
struct Switched {
    scenario: &'static str,
    environments: Vec<String>,
}

/// `POST /_sim/advance`: `{"seconds": N}`, N from 0 to a day, fractions allowed.
async fn advance(world: Arc<World>, body: serde_json::Value) -> Result<Resp, Fault> {
    if !world.advancer.is_manual() {
        return Err(Fault::new(
            409,
            "wall_clock",
            SimError::WallClock.to_string(),
        ));
    }
    let most = MAX_ADVANCE.as_secs();
    let by = body
        .get("seconds")
        .and_then(serde_json::Value::as_f64)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|by| *by <= MAX_ADVANCE)
        .ok_or_else(|| {
            Fault::new(
                400,
                "invalid_request",
                format!("body must be {{\"seconds\": N}}, N a number of seconds from 0 to {most}"),
            )
        })?;
    // A long advance steps every environment thousands of times: off the async workers.
    let stepped = tokio::task::spawn_blocking(move || ticking::advance(&world, by))
        .await
        .map_err(|e| Fault::new(500, "internal_error", e.to_string()))?;
    let now = stepped.map_err(|e| Fault::new(400, e.reason(), e.to_string()))?;
    tracing::debug!(seconds = by.as_secs_f64(), "simulator clock advanced");
    ok_value(&serde_json::json!({
        "now": ids::timestamp(now),
        "advanced_seconds": by.as_secs_f64(),
    }))
}

pub(crate) async fn handle(world: &Arc<World>, req: Request<Incoming>) -> Result<Resp, Fault> {
    if bearer(req.headers()) != Some(world.admin_token.as_str()) {
        return Err(Fault::new(
            401,
            "authentication_failed",
            "admin endpoints take `Authorization: Bearer <admin_token>`",
        ));
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    match (method, path.as_str()) {
        (Method::GET, "/_sim/state") => ok_value(&state(world)),
        (Method::POST, "/_sim/advance") => {
            let body = read_json(req.into_body()).await?;
            advance(world.clone(), body).await
        }
        (Method::GET, "/_sim/requests") => {
            let q: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let endpoint = q.get("endpoint").map(String::as_str);
            let requests = world.request_log.list(endpoint.filter(|e| !e.is_empty()));
            ok_value(&serde_json::json!({ "requests": requests }))
        }
        (Method::POST, "/_sim/scenario") => {
            switch_scenario(world, read_json(req.into_body()).await?)
        }
        (Method::POST, "/_sim/environments") => {
            create_environment(world, read_json(req.into_body()).await?)
        }
        (Method::POST, p) if p.starts_with("/_sim/environments/") && p.ends_with("/archive") => {
            let id = &p["/_sim/environments/".len()..p.len() - "/archive".len()];
            if !world.archive(id) {
                return Err(Fault::new(
                    404,
                    "environment_not_found",
                    format!("no simulated environment {id}"),
                ));
            }
            tracing::info!(environment_id = %id, "simulated environment archived");
            ok_value(&serde_json::json!({ "id": id, "archived": true }))
        }
        _ => Err(Fault::new(
            404,
            "not_found",
            format!("no such admin endpoint: {path}"),
        )),
    }
}

/// `POST /_sim/scenario {"scenario": NAME, "environment": ID?, knobs?}`:
/// one environment, or every self-hosted one (knobs: the active ones).
fn switch_scenario(world: &World, body: serde_json::Value) -> Result<Resp, Fault> {
    let name = body
        .get("scenario")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            Fault::new(
                400,
                "invalid_request",
                format!(
                    "body must be {{\"scenario\": NAME}}; valid scenarios: {}",
                    Scenario::names()
                ),
            )
        })?;
    let scenario =
        Scenario::parse(name).map_err(|e| Fault::new(400, "unknown_scenario", e.to_string()))?;
    let tuning =
        Tuning::from_body(&body, scenario).map_err(|e| Fault::new(400, "invalid_request", e))?;
    let environments = match body.get("environment").and_then(|v| v.as_str()) {
        Some(id) => {
            let env = world
                .index_of(id)
                .and_then(|i| world.env(i))
                .filter(|e| e.self_hosted)
                .ok_or_else(|| {
                    Fault::new(
                        404,
                        "environment_not_found",
                        format!("no simulated self-hosted environment {id}"),
                    )
                })?;
            env.set_scenario(scenario);
            env.lock().load.retune(scenario, &tuning);
            vec![id.to_owned()]
        }
        None => {
            world.set_scenario_all(scenario);
            let envs = world.envs();
            let hosted = envs.list.iter().filter(|e| e.self_hosted);
            for env in hosted.clone().filter(|e| !e.archived()) {
                env.lock().load.retune(scenario, &tuning);
            }
            hosted.map(|e| e.id.clone()).collect()
        }
    };
    tracing::info!(
        scenario = scenario.name(),
        environments = environments.len(),
        "simulator scenario switched"
    );
    ok_value(&Switched {
        scenario: scenario.name(),
        environments,
    })
}

/// `POST /_sim/environments {"name"?, "scope"?}`: a new self-hosted environment.
fn create_environment(world: &World, body: serde_json::Value) -> Result<Resp, Fault> {
    let name = body.get("name").and_then(|v| v.as_str()).map(str::to_owned);
    let account_scoped = match body.get("scope").and_then(|v| v.as_str()) {
        None | Some("organization") => false,
        Some("account") => true,
        Some(other) => {
            return Err(Fault::new(
                400,
                "invalid_request",
                format!("scope must be \"organization\" or \"account\", got {other:?}"),
            ))
        }
    };
    let (id, key) = world.add_environment(name, account_scoped);
    tracing::info!(environment_id = %id, "simulated environment created");
    ok_value(&serde_json::json!({ "id": id, "key": key }))
}
