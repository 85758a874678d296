//! Files that are not what they should be, given to the binary as an
//! operator would: a 300 MiB file and a FIFO as `key: {file:}` and in the
//! keys directory. Each is a configuration error naming the file (before
//! serving for `key: {file:}` and in `check-config`; logged while serving
//! for the keys directory), nothing is read whole (the peak resident memory
//! stays where it always is), and SIGTERM stops the process within its
//! shutdown grace.

use crate::web::proc::{command, wait_exit, Exporter};
use std::path::Path;
use std::time::Duration;

fn fifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A 300 MiB file that takes no disk (sparse).
fn huge(path: &Path) {
    std::fs::File::create(path)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
}

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    kb * 1024
}

/// Run to the end (at most 10 s, however the file behaves); status and stderr.
fn run(mut c: std::process::Command) -> (Option<i32>, String) {
    let mut child = c.spawn().unwrap();
    let took = wait_exit(&mut child, Duration::from_secs(10));
    let out = child.wait_with_output().unwrap();
    assert!(took < Duration::from_secs(10));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_fifo_or_a_huge_file_as_a_key_file_is_a_configuration_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    fifo(&dir.path().join("fifo.key"));
    huge(&dir.path().join("huge.key"));
    for (name, needle) in [
        ("fifo.key", "is a FIFO, not a regular file"),
        (
            "huge.key",
            "314572800 bytes, more than the 65536 bytes allowed",
        ),
    ] {
        let key = dir.path().join(name);
        let config = dir.path().join(format!("{name}.yml"));
        std::fs::write(
            &config,
            format!(
                "environments:\n  - id: env_x\n    key: {{file: {}}}\n",
                key.display()
            ),
        )
        .unwrap();
        for check in [false, true] {
            let sub: &[&str] = if check { &["check-config"] } else { &[] };
            let mut c = command(sub);
            c.arg("--config.file").arg(&config);
            let (code, stderr) = run(c);
            assert_eq!(code, Some(2), "{name} check={check}: {stderr}");
            for n in ["environments[0].key", key.to_str().unwrap(), needle] {
                assert!(
                    stderr.contains(n),
                    "{name} check={check}: no {n:?} in\n{stderr}"
                );
            }
        }
    }
}

#[test]
fn a_fifo_and_a_huge_file_in_the_keys_directory_are_named_and_cost_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    fifo(&keys.join("env_fifo"));
    huge(&keys.join("env_huge"));
    std::fs::write(keys.join("env_ok"), "sk-env-ok\n").unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "api_key: {{env: ANTHROPIC_API_KEY}}\nenvironments:\n  - id: env_fifo\n  - id: env_huge\n  - id: env_ok\ndiscovery:\n  keys_dir: {}\n",
            keys.display()
        ),
    )
    .unwrap();
    let mut c = command(&["--config.file", config.to_str().unwrap()]);
    c.env("ANTHROPIC_API_KEY", "sk-api");
    let exporter = Exporter::start(c);
    std::thread::sleep(Duration::from_millis(300));
    let log = exporter.log();
    for (file, needle) in [("env_fifo", "is a FIFO"), ("env_huge", "314572800 bytes")] {
        let path = keys.join(file);
        assert!(
            log.lines().any(
                |l| l.contains("configuration error in --discovery.keys-dir")
                    && l.contains(path.to_str().unwrap())
                    && l.contains(needle)
            ),
            "{file}:\n{log}"
        );
    }
    let peak = peak_rss(exporter.child.id());
    assert!(
        peak < 100 << 20,
        "peak RSS {peak} bytes: something was read whole"
    );
    let took = exporter.stop(Duration::from_secs(5));
    assert!(took < work_exporter::server::SHUTDOWN_GRACE, "{took:?}");

    let mut c = command(&["check-config", "--config.file", config.to_str().unwrap()]);
    c.env("ANTHROPIC_API_KEY", "sk-api");
    let (code, stderr) = run(c);
    assert_eq!(code, Some(2), "{stderr}");
    for n in [
        "--discovery.keys-dir",
        "env_fifo",
        "is a FIFO",
        "env_huge",
        "314572800 bytes",
    ] {
        assert!(stderr.contains(n), "check-config: no {n:?} in\n{stderr}");
    }
    assert!(!stderr.contains("sk-env-ok"));
}

#[test]
fn a_fifo_as_the_configuration_file_is_refused_at_once() {
    // It used to block `open` for as long as no writer came (8 minutes, deaf
    // to SIGTERM); reads run on the blocking pool now, and SIGTERM is
    // answered while they do (app::load_config).
    let dir = tempfile::tempdir().unwrap();
    let fifo_path = dir.path().join("config.yml");
    fifo(&fifo_path);
    for sub in [&["check-config"][..], &[]] {
        let mut c = command(sub);
        c.arg("--config.file").arg(&fifo_path);
        let (code, stderr) = run(c);
        assert_eq!(code, Some(2), "{sub:?}: {stderr}");
        assert!(
            stderr.contains("--config.file") && stderr.contains("is a FIFO, not a regular file"),
            "{sub:?}: {stderr}"
        );
    }
}

#[test]
fn hostile_yaml_and_oversized_labels_are_refused_naming_the_field() {
    use work_exporter::config::check_file_text;
    let env = |_: &str| Some("k".to_string());
    let nested = format!("environments: {}", "[".repeat(200_000));
    let e = check_file_text(&nested, &env).unwrap_err();
    assert!(e.problem.contains("nested deeper than 64"), "{e}");
    let long = "x".repeat(2000);
    let labels = format!(
        "environments:\n  - id: env_a\n    key: {{env: K}}\n    labels: {{team: {long}}}\n"
    );
    let e = check_file_text(&labels, &env).unwrap_err();
    assert_eq!(e.field, "environments[0].labels.team", "{e}");
    assert!(e.problem.contains("2000 bytes"), "{e}");
    let name = format!("environments:\n  - id: env_a\n    name: {long}\n    key: {{env: K}}\n");
    assert_eq!(
        check_file_text(&name, &env).unwrap_err().field,
        "environments[0].name"
    );
    // The web configuration: the same depth limit, named by its flag.
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users: {}", "{".repeat(200_000))).unwrap();
    let e = work_exporter::config::web::WebServerConfig::load(&web).unwrap_err();
    assert_eq!(e.field, "--web.config.file");
    assert!(e.problem.contains("nested deeper than 64"), "{e}");
}

#[test]
fn check_config_names_a_key_that_cannot_go_in_a_header_and_warns_of_one_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "sk-ant-first\r\nX-Injected: 1\n").unwrap();
    let open = dir.path().join("open.key");
    std::fs::write(&open, "sk-ant-readable\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = |key: &Path| {
        let path = dir.path().join("c.yml");
        std::fs::write(
            &path,
            format!(
                "environments:\n  - id: env_x\n    key: {{file: {}}}\n",
                key.display()
            ),
        )
        .unwrap();
        path
    };
    let (code, stderr) = run(command(&[
        "check-config",
        "--config.file",
        config(&bad).to_str().unwrap(),
    ]));
    assert_eq!(code, Some(2), "{stderr}");
    for n in [
        "environments[0].key",
        bad.to_str().unwrap(),
        "carriage return",
        "at byte 12",
    ] {
        assert!(stderr.contains(n), "no {n:?} in\n{stderr}");
    }
    assert!(
        !stderr.contains("sk-ant") && !stderr.contains("Injected"),
        "{stderr}"
    );
    let (code, stderr) = run(command(&[
        "check-config",
        "--config.file",
        config(&open).to_str().unwrap(),
    ]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("readable by every user") && stderr.contains(open.to_str().unwrap()),
        "{stderr}"
    );
    // The telemetry path may not be one the health endpoints answer unauthenticated.
    let (code, stderr) = run(command(&["--web.telemetry-path", "/-/healthy"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--web.telemetry-path"), "{stderr}");
}
