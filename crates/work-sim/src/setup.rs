//! Checks the simulator's options and writes its credentials file.

use super::{Credentials, Scenario, SimError, SimOptions};
use std::path::Path;

pub(crate) fn check(opts: &SimOptions) -> Result<Scenario, SimError> {
    let scenario = Scenario::parse(&opts.scenario)?;
    let invalid = |flag, problem: &str| {
        Err(SimError::InvalidOption {
            flag,
            problem: problem.to_owned(),
        })
    };
    if opts.environments == 0 || opts.environments > 100_000 {
        return invalid("--environments", "must be between 1 and 100000");
    }
    if opts.items_per_environment > 1_000_000 {
        return invalid("--items-per-environment", "must be at most 1000000");
    }
    if opts.workers > 10_000 {
        return invalid("--workers", "must be at most 10000");
    }
    if !opts.arrivals_per_minute.is_finite() || opts.arrivals_per_minute < 0.0 {
        return invalid("--arrivals-per-minute", "must be a number of at least 0");
    }
    let every = opts.healthcheck_interval;
    if !every.is_zero() && (every.as_millis() < 250 || every.as_secs() > 86_400) {
        return invalid(
            "--healthcheck-interval",
            "must be 0s (no healthchecks) or between 250ms (the workload's tick) and 24h",
        );
    }
    Ok(scenario)
}

/// Writes the credentials as JSON, readable by the owner only (mode 0600),
/// into a file created new (`O_CREAT|O_EXCL|O_NOFOLLOW`): a planted symlink
/// or someone else's file is never followed, truncated or re-moded. The one
/// file it replaces is an earlier credentials file of this user's (a regular
/// file it owns, mode 0600, holding credentials), as a restarted simulator
/// or demo leaves it.
pub fn write_credentials(path: &Path, credentials: &Credentials) -> Result<(), SimError> {
    use std::io::Write;
    let fail = |source| SimError::CredentialsWrite {
        path: path.to_owned(),
        source,
    };
    let body =
        serde_json::to_vec_pretty(credentials).map_err(|e| fail(std::io::Error::other(e)))?;
    if std::fs::symlink_metadata(path).is_ok() {
        ours_to_replace(path).map_err(fail)?;
        std::fs::remove_file(path).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(&body)
        .and_then(|_| file.write_all(b"\n"))
        .map_err(fail)
}

/// Ok when `path` is an earlier credentials file of this user's.
fn ours_to_replace(path: &Path) -> std::io::Result<()> {
    let refuse = |why: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("it exists and {why}, so it is left alone; remove it or choose another path"),
        ))
    };
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return refuse("is not a regular file (a symlink?)");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if meta.uid() != unsafe { libc::geteuid() } || meta.mode() & 0o077 != 0 {
            return refuse("is not a private file of this user's");
        }
    }
    if meta.len() > 64 << 20 {
        return refuse("is not a credentials file");
    }
    match serde_json::from_slice::<Credentials>(&std::fs::read(path)?) {
        Ok(_) => Ok(()),
        Err(_) => refuse("does not hold simulator credentials"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{start, EnvironmentKey};
    use tokio_util::sync::CancellationToken;

    fn opts() -> SimOptions {
        SimOptions {
            listen_address: "127.0.0.1:0".parse().unwrap(),
            environments: 2,
            scenario: "steady".into(),
            seed: 1,
            items_per_environment: 0,
            workers: 4,
            arrivals_per_minute: 20.0,
            healthcheck_interval: std::time::Duration::from_secs(60),
            worker_sdk: Default::default(),
            credentials_out: None,
            paging: Default::default(),
            clock: Default::default(),
        }
    }

    #[test]
    fn a_healthcheck_interval_below_the_tick_is_refused_and_zero_turns_them_off() {
        let with = |ms| SimOptions {
            healthcheck_interval: std::time::Duration::from_millis(ms),
            worker_sdk: Default::default(),
            ..opts()
        };
        let err = check(&with(100)).unwrap_err();
        assert!(err.to_string().contains("--healthcheck-interval"), "{err}");
        assert!(check(&with(0)).is_ok());
        assert!(check(&with(250)).is_ok());
    }

    #[test]
    fn unknown_scenario_flag_names_the_valid_ones() {
        let err = check(&SimOptions {
            scenario: "chaos".into(),
            ..opts()
        })
        .unwrap_err();
        assert_eq!(err.reason(), "unknown_scenario");
        assert!(
            err.to_string().contains("--scenario") && err.to_string().contains("workers-down"),
            "{err}"
        );
    }

    #[test]
    fn credentials_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        let creds = Credentials {
            base_url: "http://x".into(),
            api_key: "k".into(),
            admin_token: "a".into(),
            environments: vec![EnvironmentKey {
                id: "env_01".into(),
                key: "e".into(),
            }],
        };
        write_credentials(&path, &creds).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let back: Credentials = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back.environments[0].id, "env_01");
        write_credentials(&path, &creds).expect("its own earlier file is replaced");
        // Something it did not write is never overwritten, nor a symlink followed.
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "precious").unwrap();
        let err = write_credentials(&other, &creds).unwrap_err();
        assert!(err.to_string().contains("left alone"), "{err}");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.json");
            std::os::unix::fs::symlink(&other, &link).unwrap();
            let err = write_credentials(&link, &creds).unwrap_err();
            assert!(err.to_string().contains("symlink"), "{err}");
            let dangling = dir.path().join("dangling.json");
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
            assert!(write_credentials(&dangling, &creds).is_err());
            assert!(
                !dir.path().join("nowhere").exists(),
                "no file made through a link"
            );
        }
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "precious");
        let err = write_credentials(&dir.path().join("missing/creds.json"), &creds).unwrap_err();
        assert_eq!(err.reason(), "credentials_write");
    }

    #[tokio::test]
    async fn bind_failure_names_the_flag() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = start(
            SimOptions {
                listen_address: addr,
                ..opts()
            },
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.reason(), "bind");
        assert!(err.to_string().contains("--listen-address"), "{err}");
    }

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_advanced_and_steps_the_workload() {
        let running = start(
            SimOptions {
                scenario: "workers-down".into(),
                clock: crate::SimClock::manual(),
                ..opts()
            },
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let t0 = running.now_ms();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(running.now_ms(), t0, "a manual clock never moves by itself");
        let created = |r: &crate::RunningSim| {
            let envs = r.world.envs();
            envs.list
                .iter()
                .map(|e| e.lock().q.truth(r.now_ms()).total)
                .sum::<u64>()
        };
        let before = created(&running);
        // Ten simulated minutes at 20 arrivals a minute per environment, no workers.
        running
            .advance(std::time::Duration::from_secs(600))
            .unwrap();
        assert_eq!(running.now_ms(), t0 + 600_000);
        let after = created(&running);
        assert!(
            after >= before + 300,
            "the workload stepped: depth {before} -> {after}"
        );
        let wall = start(opts(), CancellationToken::new()).await.unwrap();
        let err = wall.advance(std::time::Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.reason(), "wall_clock");
    }
}
