//! The endpoints of the simulated API: environments and their work.

use crate::auth::{authorize, check_beta, check_version, credential};
use crate::endpoint::Route;
use crate::http::{ok, ok_value, read_json, Resp};
use crate::ids::parse_work_id;
use crate::json;
use crate::state::{Fault, DEFAULT_RECLAIM_MS};
use crate::world::{Env, World};
use hyper::body::Incoming;
use hyper::Request;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use work_api::wire::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// The environment a path names, if it names a known one.
pub(crate) fn env_of_path(world: &World, path: &str) -> Option<usize> {
    let rest = path.strip_prefix("/v1/environments/")?;
    let id = rest.split('/').next()?;
    world.index_of(id)
}

fn not_found(message: impl Into<String>) -> Fault {
    Fault::new(404, "not_found", message)
}

fn bad_request(message: impl Into<String>) -> Fault {
    Fault::new(400, "invalid_request", message)
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    let q = req.uri().query().unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn int_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Fault> {
    q.get(name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| bad_request(format!("{name} must be an integer, got {v:?}")))
        })
        .transpose()
}

fn limit(q: &HashMap<String, String>) -> Result<usize, Fault> {
    let limit = int_param(q, "limit")?.unwrap_or(i64::from(DEFAULT_PAGE_SIZE));
    if !(1..=i64::from(MAX_PAGE_SIZE)).contains(&limit) {
        return Err(bad_request(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}"
        )));
    }
    Ok(limit as usize)
}

pub(crate) async fn dispatch(world: &World, req: Request<Incoming>) -> Result<Resp, Fault> {
    check_version(req.headers())?;
    check_beta(req.headers())?;
    let cred = credential(world, req.headers())?;
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let route = Route::parse(req.method(), &path)
        .ok_or_else(|| not_found(format!("no such endpoint: {} {path}", req.method())))?;
    authorize(cred, route.need(), None)?;
    if let Route::Session(id) = route {
        return crate::session_read::retrieve(world, cred, id);
    }
    let Some(env_id) = route.environment() else {
        return list_environments(world, &query(&req));
    };
    let (i, env) = world
        .index_of(env_id)
        .and_then(|i| Some((i, world.env(i)?)))
        .ok_or_else(|| {
            Fault::new(
                404,
                "environment_not_found",
                format!("environment {env_id} not found"),
            )
        })?;
    if let Route::Environment(_) = route {
        return Ok(ok(env.json()));
    }
    if !env.self_hosted {
        return Err(not_found(format!(
            "environment {env_id} is not self_hosted: it has no work queue"
        )));
    }
    authorize(cred, route.need(), Some(i))?;
    let item = match route {
        Route::Heartbeat { id, .. } | Route::Stop { id, .. } => work_seq(&env, id).ok(),
        _ => None,
    };
    crate::auth::authorize_item(cred, item)?;
    work(world, i, &env, route, req).await
}

/// The endpoints of one self-hosted environment's work queue.
async fn work(
    world: &World,
    env_index: usize,
    env: &Env,
    route: Route<'_>,
    req: Request<Incoming>,
) -> Result<Resp, Fault> {
    let now = world.clock.now_ms();
    let q = query(&req);
    let item =
        |cell: &crate::world::EnvCell, i: usize| ok(json::work(&cell.q, &cell.q.items()[i], None));
    match route {
        Route::ListWork(_) => {
            let (limit, pos) = (
                limit(&q)?,
                world.paging.position(q.get("page").map(String::as_str))?,
            );
            if let Some(empty) = world.paging.empty_page(&pos) {
                return Ok(ok(empty));
            }
            Ok(ok(json::work_page(
                &env.lock().q,
                pos.after,
                limit,
                &world.paging,
            )))
        }
        Route::Stats(_) => ok_value(&env.lock().q.stats(now)),
        Route::Poll(_) => poll(world, env_index, env, &req).await,
        Route::Work { id, .. } => {
            let seq = work_seq(env, id)?;
            let cell = env.lock();
            let it = cell.q.get(seq).ok_or_else(|| work_not_found(id))?;
            Ok(ok(json::work(&cell.q, it, None)))
        }
        Route::UpdateWork { id, .. } => {
            let seq = work_seq(env, id)?;
            let patch = metadata_patch(read_json(req.into_body()).await?)?;
            let mut cell = env.lock();
            let i = cell.q.update_metadata(seq, patch)?;
            Ok(item(&cell, i))
        }
        Route::Ack { id, .. } => {
            let seq = work_seq(env, id)?;
            let mut cell = env.lock();
            let i = cell.q.ack(seq, now)?;
            Ok(item(&cell, i))
        }
        Route::Heartbeat { id, .. } => {
            let seq = work_seq(env, id)?;
            heartbeat(env, seq, q, req.into_body(), now).await
        }
        Route::Stop { id, .. } => {
            let seq = work_seq(env, id)?;
            let body = read_json(req.into_body()).await?;
            let force = body.get("force").and_then(|v| v.as_bool()).unwrap_or(false)
                || q.get("force").is_some_and(|v| v == "true");
            let mut cell = env.lock();
            let i = cell.q.stop(seq, force, now)?;
            Ok(item(&cell, i))
        }
        Route::ListEnvironments | Route::Environment(_) | Route::Session(_) => {
            Err(not_found(format!("no such endpoint: {}", req.uri().path())))
        }
    }
}

fn work_not_found(id: &str) -> Fault {
    Fault::new(404, "work_not_found", format!("work item {id} not found"))
}

fn work_seq(env: &Env, id: &str) -> Result<u64, Fault> {
    parse_work_id(env.lock().q.salt, id).ok_or_else(|| work_not_found(id))
}

fn list_environments(world: &World, q: &HashMap<String, String>) -> Result<Resp, Fault> {
    let pos = world.paging.position(q.get("page").map(String::as_str))?;
    let (limit, after) = (limit(q)?, pos.after);
    if let Some(empty) = world.paging.empty_page(&pos) {
        return Ok(ok(empty));
    }
    let archived = q.get("include_archived").is_some_and(|v| v == "true");
    let start = after.map_or(0, |a| a as usize + 1);
    let mut out = String::from("{\"data\":[");
    let mut shown = 0;
    let mut last = None;
    let mut more = false;
    for (i, env) in world.envs().list.iter().enumerate().skip(start) {
        if env.archived() && !archived {
            continue;
        }
        if shown == limit {
            more = true;
            break;
        }
        if shown > 0 {
            out.push(',');
        }
        out.push_str(&env.json());
        shown += 1;
        last = Some(i);
    }
    out.push(']');
    let next = last
        .filter(|_| more)
        .map(|i| crate::paging::cursor(i as u64));
    world.paging.push_next(&mut out, next.as_deref());
    Ok(ok(out))
}

async fn poll(
    world: &World,
    env_index: usize,
    env: &Env,
    req: &Request<Incoming>,
) -> Result<Resp, Fault> {
    let q = query(req);
    let block_ms = int_param(&q, "block_ms")?;
    if let Some(b) = block_ms.filter(|b| !(1..=999).contains(b)) {
        return Err(bad_request(format!(
            "block_ms must be between 1 and 999, got {b}"
        )));
    }
    let reclaim = int_param(&q, "reclaim_older_than_ms")?.unwrap_or(DEFAULT_RECLAIM_MS);
    if reclaim < 0 {
        return Err(bad_request("reclaim_older_than_ms must not be negative"));
    }
    let worker = req
        .headers()
        .get("anthropic-worker-id")
        .and_then(|v| v.to_str().ok());
    let deadline = Instant::now() + Duration::from_millis(block_ms.unwrap_or(0) as u64);
    loop {
        {
            let mut cell = env.lock();
            if let Some(i) = cell.q.poll(worker, reclaim, world.clock.now_ms()) {
                let it = &cell.q.items()[i];
                let secret = world.sessions.secret(env_index, it.seq);
                return Ok(ok(json::work(&cell.q, it, Some(&secret))));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // No work: the SDK reads a JSON `null` as "no item".
            return Ok(ok("null".to_owned()));
        }
        tokio::time::sleep(left.min(Duration::from_millis(50))).await;
    }
}

async fn heartbeat(
    env: &Env,
    seq: u64,
    q: HashMap<String, String>,
    body: Incoming,
    now: i64,
) -> Result<Resp, Fault> {
    // The SDK sends both parameters in the query; accept a JSON body too.
    let body = read_json(body).await?;
    let expected = q.get("expected_last_heartbeat").cloned().or_else(|| {
        body.get("expected_last_heartbeat")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    });
    let ttl = match int_param(&q, "desired_ttl_seconds")? {
        Some(t) => Some(t),
        None => body.get("desired_ttl_seconds").and_then(|v| v.as_i64()),
    };
    let resp = env.lock().q.heartbeat(seq, expected.as_deref(), ttl, now)?;
    ok_value(&resp)
}

fn metadata_patch(body: serde_json::Value) -> Result<Vec<(String, Option<String>)>, Fault> {
    let meta = match body.get("metadata") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Object(m)) => m,
        Some(_) => return Err(bad_request("metadata must be an object of strings")),
    };
    meta.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.clone(), Some(s.clone()))),
            serde_json::Value::Null => Ok((k.clone(), None)),
            _ => Err(bad_request(format!(
                "metadata value of {k:?} must be a string or null"
            ))),
        })
        .collect()
}
