//! The simulator and the exporter as child processes of the benchmark, so the
//! exporter's CPU time and memory are its own (read from `/proc/PID`), and
//! what the kernel reports for the process: every thread, alive or exited.
//!
//! Both children are this very executable re-run with `__exec` and the
//! arguments of `anthropic-work-exporter` (see `exec_main`): the exporter
//! measured is always the code the benchmark was built from, never a stale
//! binary left in `target/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use work_sim::Credentials;

/// The argument that makes this executable behave as `anthropic-work-exporter`.
pub const EXEC: &str = "__exec";

/// Linux reports utime/stime in USER_HZ, which is 100 on every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// A child process, killed when dropped.
pub struct Child {
    proc: std::process::Child,
    pub pid: u32,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

impl Child {
    fn spawn(args: &[String], envs: &[(String, String)], log: &Path) -> Child {
        let exe = std::env::current_exe().expect("the benchmark's own path");
        let args: Vec<String> = std::iter::once(EXEC.to_string())
            .chain(args.iter().cloned())
            .collect();
        Self::spawn_program(&exe, &args, envs, log)
    }

    /// As `spawn`, or another build's exporter binary (`program`) with the same arguments.
    fn spawn_build(
        program: Option<&Path>,
        args: &[String],
        envs: &[(String, String)],
        log: &Path,
    ) -> Child {
        match program {
            Some(p) => Self::spawn_program(p, args, envs, log),
            None => Self::spawn(args, envs, log),
        }
    }

    /// Any program as a child (another build, the Python peer).
    pub fn spawn_program(
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
        log: &Path,
    ) -> Child {
        let log = std::fs::File::create(log).expect("child log file");
        let proc = Command::new(program)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn a child of the benchmark");
        let pid = proc.id();
        Child { proc, pid }
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.proc.try_wait(), Ok(None))
    }

    /// User + system CPU seconds of the whole process so far.
    pub fn cpu_seconds(&self) -> f64 {
        let (user, system) = self.cpu_split();
        user + system
    }

    /// (user, system) CPU seconds of the whole process so far.
    pub fn cpu_split(&self) -> (f64, f64) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line: 12 and 13 after ")".
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (tick(11) / USER_HZ, tick(12) / USER_HZ)
    }

    /// (peak resident, current resident) in MiB.
    pub fn memory_mib(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (kib("VmHWM:") / 1024.0, kib("VmRSS:") / 1024.0)
    }
}

/// A running simulator with a static population.
pub struct Sim {
    /// Dropping it stops the simulator; read for the simulator's own CPU and memory.
    pub child: Child,
    pub creds: Credentials,
}

pub fn start_sim(dir: &Path, environments: usize, items: usize) -> Sim {
    start_sim_with(dir, environments, items, 0, 0.0)
}

/// A simulator with a live workload (`workers` per environment, `arrivals` a minute each).
pub fn start_sim_with(
    dir: &Path,
    environments: usize,
    items: usize,
    workers: usize,
    arrivals: f64,
) -> Sim {
    start_sim_flags(dir, environments, items, workers, arrivals, &[])
}

/// `start_sim_with` and more `simulate` flags (TLS, round trip, bandwidth).
pub fn start_sim_flags(
    dir: &Path,
    environments: usize,
    items: usize,
    workers: usize,
    arrivals: f64,
    extra: &[String],
) -> Sim {
    let creds_path = dir.join("sim-credentials.json");
    let _ = std::fs::remove_file(&creds_path);
    let args: Vec<String> = [
        "simulate",
        "--listen-address",
        "127.0.0.1:0",
        "--environments",
        &environments.to_string(),
        "--items-per-environment",
        &items.to_string(),
        "--workers",
        &workers.to_string(),
        "--arrivals-per-minute",
        &arrivals.to_string(),
        "--healthcheck-interval",
        "0s",
        "--seed",
        "1",
        "--credentials-out",
        &creds_path.to_string_lossy(),
        "--log.level",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(extra.iter().cloned())
    .collect();
    let mut child = Child::spawn(&args, &[], &dir.join("sim.log"));
    // The credentials file is written once the population is seeded.
    let start = Instant::now();
    loop {
        if let Ok(bytes) = std::fs::read(&creds_path) {
            if let Ok(creds) = serde_json::from_slice::<Credentials>(&bytes) {
                return Sim { child, creds };
            }
        }
        assert!(
            child.alive(),
            "the simulator exited; see {}",
            dir.join("sim.log").display()
        );
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "the simulator did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How the exporter under test is run.
pub struct ExporterRun<'a> {
    pub interval: &'a str,
    pub budget_rps: f64,
    pub timeout: &'a str,
    /// More flags (e.g. `--refresh.list-interval 5m`).
    pub extra: &'a [&'a str],
}

/// A running exporter and the address of its `/metrics`.
pub struct Exporter {
    pub child: Child,
    pub base: String,
}

pub fn start_exporter(dir: &Path, sim: &Sim, run: &ExporterRun<'_>) -> Exporter {
    start_exporter_at(None, dir, &sim.creds, run)
}

/// `start_exporter` against `creds.base_url` (which may be a meter in front of the
/// simulator), of this build or of another build's binary (`program`, for a before/after).
pub fn start_exporter_at(
    program: Option<&Path>,
    dir: &Path,
    creds: &Credentials,
    run: &ExporterRun<'_>,
) -> Exporter {
    // Keys reach the exporter as it is meant to be run: a config file naming variables.
    let mut yaml = String::from("api_key: {env: BENCH_API_KEY}\nenvironments:\n");
    let mut envs = vec![("BENCH_API_KEY".to_string(), creds.api_key.clone())];
    for (i, e) in creds.environments.iter().enumerate() {
        yaml.push_str(&format!(
            "  - id: {}\n    key: {{env: BENCH_ENV_KEY_{i}}}\n",
            e.id
        ));
        envs.push((format!("BENCH_ENV_KEY_{i}"), e.key.clone()));
    }
    let config: PathBuf = dir.join("exporter.yaml");
    std::fs::write(&config, yaml).expect("write the exporter's config");
    let port = free_port();
    let args: Vec<String> = [
        "serve",
        "--config.file",
        &config.to_string_lossy(),
        "--api.base-url",
        &creds.base_url,
        "--web.listen-address",
        &format!("127.0.0.1:{port}"),
        "--refresh.interval",
        run.interval,
        "--refresh.timeout",
        run.timeout,
        "--api.max-requests-per-second",
        &run.budget_rps.to_string(),
        "--log.level",
        "warn",
    ]
    .iter()
    .chain(run.extra)
    .map(|s| s.to_string())
    .collect();
    let child = Child::spawn_build(program, &args, &envs, &dir.join("exporter.log"));
    Exporter {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Run as `anthropic-work-exporter` with `args` (what `src/main.rs` does).
pub fn exec_main(args: Vec<String>) -> ! {
    use clap::Parser;
    use work_exporter::{app, cli::Cli, logging};
    crate::memory::return_large_blocks_to_the_system();
    let cli = Cli::parse_from(std::iter::once("anthropic-work-exporter".to_string()).chain(args));
    logging::init(app::log_args(&cli));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        match app::run(cli, shutdown).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        }
    });
    std::process::exit(code);
}
