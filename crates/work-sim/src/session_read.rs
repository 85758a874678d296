//! The one session call a worker makes, `GET /v1/sessions/{id}`: the
//! simulator runs no agent, so every session reads `terminated`, which the
//! official worker answers by skipping the item and force-stopping it (the
//! path SDK 2.14 and 2.17 take for an ended session). The object carries the
//! fields the worker reads; agent, stats and usage are left out.

use crate::auth::Cred;
use crate::http::{ok, Resp};
use crate::state::{opt_ts, Fault, ItemKind};
use crate::world::World;

/// `GET /v1/sessions/{id}`: with a sessions token, the session of its own
/// item only; with an environment key, a session of that environment; with
/// the API key, any (found by a scan of the items: fine for a simulator).
pub(crate) fn retrieve(world: &World, cred: Cred, id: &str) -> Result<Resp, Fault> {
    let envs: Vec<usize> = match cred {
        Cred::Sessions(env, _) | Cred::Env(env) => vec![env],
        Cred::Api => (0..world.envs().list.len()).collect(),
    };
    for i in envs {
        let Some(env) = world.env(i) else { continue };
        let cell = env.lock();
        let q = &cell.q;
        let found = q.items().iter().find(|it| {
            it.kind == ItemKind::Session && {
                let mut sid = String::with_capacity(40);
                crate::ids::push_session_id(&mut sid, q.salt, it.seq);
                sid == id
            }
        });
        let Some(it) = found else { continue };
        if let Cred::Sessions(_, seq) = cred {
            if seq != it.seq {
                break;
            }
        }
        let at = |ms| serde_json::Value::from(opt_ts(ms));
        let updated = [it.stopped, it.heartbeat, it.started, it.created]
            .into_iter()
            .find(|&t| t != crate::state::NONE)
            .unwrap_or(it.created);
        let body = serde_json::json!({
            "type": "session",
            "id": id,
            "environment_id": q.id,
            "status": "terminated",
            "created_at": at(it.created),
            "updated_at": at(updated),
            "archived_at": null,
            "title": null,
            "metadata": {},
            "resources": [],
            "vault_ids": [],
            "outcome_evaluations": [],
        });
        return Ok(ok(body.to_string()));
    }
    match cred {
        Cred::Sessions(..) => Err(Fault::new(
            401,
            "authentication_failed",
            "a sessions token reads only the session of the work item whose poll carried it",
        )),
        _ => Err(Fault::new(
            404,
            "session_not_found",
            format!("session {id} not found"),
        )),
    }
}
