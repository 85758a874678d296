//! Which endpoint a request names: its method and path parsed once into a
//! `Route`, which knows the SDK method it is (for the request log) and the
//! credential it needs.

use crate::auth::Need;
use hyper::Method;

/// One endpoint of the simulated API, with the ids its path carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    ListEnvironments,
    Environment(&'a str),
    ListWork(&'a str),
    Stats(&'a str),
    Poll(&'a str),
    Work {
        env: &'a str,
        id: &'a str,
    },
    UpdateWork {
        env: &'a str,
        id: &'a str,
    },
    Ack {
        env: &'a str,
        id: &'a str,
    },
    Heartbeat {
        env: &'a str,
        id: &'a str,
    },
    Stop {
        env: &'a str,
        id: &'a str,
    },
    /// `GET /v1/sessions/{id}`: what SDK 2.14+ workers read before running a
    /// session item.
    Session(&'a str),
}

impl<'a> Route<'a> {
    /// `None` for a path or method the API does not serve.
    pub(crate) fn parse(method: &Method, path: &'a str) -> Option<Route<'a>> {
        let (get, post) = (method == Method::GET, method == Method::POST);
        let segs: Vec<&'a str> = path.trim_matches('/').split('/').collect();
        if let (["v1", "sessions", id], true) = (segs.as_slice(), get) {
            return Some(Route::Session(id));
        }
        let ["v1", "environments", rest @ ..] = segs.as_slice() else {
            return None;
        };
        Some(match (rest, get, post) {
            ([], true, _) => Route::ListEnvironments,
            ([env], true, _) => Route::Environment(env),
            ([env, "work"], true, _) => Route::ListWork(env),
            ([env, "work", "stats"], true, _) => Route::Stats(env),
            ([env, "work", "poll"], true, _) => Route::Poll(env),
            ([env, "work", id], true, _) => Route::Work { env, id },
            ([env, "work", id], _, true) => Route::UpdateWork { env, id },
            ([env, "work", id, "ack"], _, true) => Route::Ack { env, id },
            ([env, "work", id, "heartbeat"], _, true) => Route::Heartbeat { env, id },
            ([env, "work", id, "stop"], _, true) => Route::Stop { env, id },
            _ => return None,
        })
    }

    /// The SDK method it is (its span name without `anthropic.`).
    pub(crate) fn sdk_method(self) -> &'static str {
        match self {
            Route::ListEnvironments => "environments.list",
            Route::Environment(_) => "environments.retrieve",
            Route::ListWork(_) => "work.list",
            Route::Stats(_) => "work.stats",
            Route::Poll(_) => "work.poll",
            Route::Work { .. } => "work.retrieve",
            Route::UpdateWork { .. } => "work.update",
            Route::Ack { .. } => "work.ack",
            Route::Heartbeat { .. } => "work.heartbeat",
            Route::Stop { .. } => "work.stop",
            Route::Session(_) => "sessions.retrieve",
        }
    }

    /// The credential it takes.
    pub(crate) fn need(self) -> Need {
        match self {
            Route::ListEnvironments | Route::Environment(_) => Need::ApiKey,
            Route::Work { .. } | Route::UpdateWork { .. } => Need::ApiKey,
            Route::ListWork(_) | Route::Poll(_) => Need::EnvKey,
            Route::Ack { .. } | Route::Heartbeat { .. } => Need::EnvKey,
            // The official worker stops with its environment key; the SDK offers
            // `workspace_id` on stop, which only an API key can use, and the
            // operations guide says stop takes either key (runbooks stop by hand).
            Route::Stats(_) | Route::Stop { .. } => Need::Either,
            // A worker reads it with its item's sessions token (or, without
            // one, its environment key); the API key reads any.
            Route::Session(_) => Need::Either,
        }
    }

    /// The environment it is about (`None`: the environments list, a session).
    pub(crate) fn environment(self) -> Option<&'a str> {
        match self {
            Route::ListEnvironments | Route::Session(_) => None,
            Route::Environment(env) | Route::ListWork(env) | Route::Stats(env) => Some(env),
            Route::Poll(env) => Some(env),
            Route::Work { env, .. } | Route::UpdateWork { env, .. } => Some(env),
            Route::Ack { env, .. } | Route::Heartbeat { env, .. } | Route::Stop { env, .. } => {
                Some(env)
            }
        }
    }
}

/// The SDK method a request calls, for the request log of `GET /_sim/requests`.
pub(crate) fn sdk_method(method: &Method, path: &str) -> &'static str {
    Route::parse(method, path).map_or("unknown", Route::sdk_method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_parses_once_into_its_endpoint_and_credential() {
        let p = |m: Method, path| Route::parse(&m, path);
        assert_eq!(
            p(Method::GET, "/v1/environments"),
            Some(Route::ListEnvironments)
        );
        assert_eq!(
            p(Method::GET, "/v1/environments/e/work/stats"),
            Some(Route::Stats("e"))
        );
        assert_eq!(
            p(Method::POST, "/v1/environments/e/work/stats"),
            Some(Route::UpdateWork {
                env: "e",
                id: "stats"
            }),
            "a POST to stats names a work item called stats, as the API's router does"
        );
        assert_eq!(p(Method::DELETE, "/v1/environments/e/work/w"), None);
        assert_eq!(p(Method::GET, "/v2/environments"), None);
        let stop = p(Method::POST, "/v1/environments/e/work/w/stop").unwrap();
        assert_eq!(
            (stop.sdk_method(), stop.need()),
            ("work.stop", Need::Either)
        );
        assert_eq!(stop.environment(), Some("e"));
        assert_eq!(sdk_method(&Method::PUT, "/v1/environments"), "unknown");
    }
}
