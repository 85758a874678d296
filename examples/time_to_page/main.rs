//! Time-to-page with the rules exactly as shipped: each drill of
//! docs/runbooks.md ("Time to page") run against the simulator on a manual
//! clock, the exporter refreshing every 30 simulated seconds and scraped every
//! 15 (or 30: the ServiceMonitor's and the Operator's defaults), and the
//! recording replayed through `promtool test rules`, whose clock is virtual
//! too, evaluating as often as it scrapes. An hour of a scenario takes seconds.
//!
//! ```sh
//! cargo run --example time_to_page                 # print the table
//! cargo run --example time_to_page -- --check      # exit 1 when a limit is missed or
//!                                                  # docs/runbooks.md shows another table
//! cargo run --example time_to_page -- --write-docs # refresh the table in docs/runbooks.md
//! cargo run --example time_to_page -- --slo-pairs  # the SLO's burn-rate window pairs on
//!                                                  # days of recorded traffic (`slo_pairs`)
//! ```
//!
//! Flags: `--rules FILE` (default alerts/anthropic-work-exporter.rules.yml),
//! `--alertmanager FILE` (its top-level group_wait is added to every firing
//! time: the first notification of a new group waits that long),
//! `--promtool PATH`, `--keep DIR` (keep the promtool files),
//! `--multi-target TARGETS.json` (instead of the table: the multi-target
//! drill, scraped as the targets of that Prometheus `/api/v1/targets` answer
//! are; see `multi`), `--timeline` (with `--slo-pairs`: also print when each
//! window pair fired).

mod history;
mod multi;
mod promtool;
mod record;
mod rig;
mod slo_drills;
mod slo_pairs;
mod table;

use record::{Fault, Layout};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIN: u64 = 60;
/// Steady minutes before the fault: the 10-minute rate windows are full.
pub(crate) const WARMUP: Duration = Duration::from_secs(10 * MIN);
pub(crate) const BEGIN: &str =
    "<!-- time-to-page:begin (cargo run --example time_to_page -- --write-docs) -->";
pub(crate) const END: &str = "<!-- time-to-page:end -->";

pub(crate) struct Drill {
    pub name: &'static str,
    fault: Option<Fault>,
    /// The alert the drill must deliver, and the limit on its notification time.
    pub expect: Option<(&'static str, Option<Duration>)>,
    /// Simulated time after the fault.
    pub run: Duration,
    /// Scrape and rule evaluation interval of the recording.
    pub interval: Duration,
    /// Steady traffic replayed before the recording (`history.rs`): the
    /// pick-up SLO drills need their 1 h and 6 h windows full.
    pub history: Duration,
    /// Seconds between the replay's samples and promtool's evaluations when
    /// they differ from `interval`: a minute for the SLO drills (hours of
    /// replay; a page can only come later).
    pub replay_step: Option<Duration>,
}

impl Drill {
    /// Seconds between two samples (and evaluations) of the replay.
    pub fn step(&self) -> u64 {
        self.replay_step.unwrap_or(self.interval).as_secs()
    }

    /// Seconds from the start of the replay to the fault.
    pub fn fault_at(&self) -> u64 {
        (self.history + WARMUP).as_secs()
    }

    /// " at 30 s" for a drill not at the table's 15 s.
    pub fn cadence_note(&self) -> String {
        match self.interval.as_secs() {
            15 => String::new(),
            s => format!(" at {s} s"),
        }
    }

    pub fn label(&self) -> String {
        format!("{}{}", self.name, self.cadence_note())
    }
}

const FIFTEEN: Duration = Duration::from_secs(15);
/// The Prometheus Operator's scrape (ServiceMonitor) and evaluation defaults.
const THIRTY: Duration = Duration::from_secs(30);
/// History of the pick-up SLO drills: the longest page window, 6 h.
const SLO_HISTORY: Duration = Duration::from_secs(6 * 60 * MIN);

fn drills() -> Vec<Drill> {
    let d = |name, fault, expect, run_min: u64| Drill {
        name,
        fault,
        expect,
        run: Duration::from_secs(run_min * MIN),
        interval: FIFTEEN,
        history: Duration::ZERO,
        replay_step: None,
    };
    let at30 = |d: Drill| Drill {
        interval: THIRTY,
        ..d
    };
    let slo = |name, fault, expect, run_min: u64| Drill {
        history: SLO_HISTORY,
        replay_step: Some(Duration::from_secs(MIN)),
        ..d(name, fault, expect, run_min)
    };
    let s = |n| Some(Fault::Scenario(n));
    let workers_down = || {
        d(
            "workers-down",
            s("workers-down"),
            Some(("AnthropicWorkNoWorkers", Some(Duration::from_secs(4 * MIN)))),
            20,
        )
    };
    vec![
        workers_down(),
        d(
            "stale-heartbeats",
            s("stale-heartbeats"),
            // The simulated workers heartbeat every 3-5 s, so the fault is
            // within 5 s of the last heartbeat: the limit holds from it too.
            Some((
                "AnthropicWorkHeartbeatsStale",
                Some(Duration::from_secs(3 * MIN)),
            )),
            20,
        ),
        d(
            "stuck-stopping",
            s("stuck-stopping"),
            Some(("AnthropicWorkStuckStopping", None)),
            30,
        ),
        d(
            "backlog",
            s("backlog"),
            Some(("AnthropicWorkBacklogGrowing", None)),
            40,
        ),
        d(
            "api-down",
            s("api-down"),
            Some(("AnthropicWorkRefreshFailing", None)),
            20,
        ),
        d(
            "exporter gone",
            Some(Fault::ExporterGone),
            Some(("AnthropicWorkExporterAbsent", None)),
            20,
        ),
        slo(
            "pick-ups stop (SLO 99%, 6 h history)",
            s("workers-down"),
            Some((
                "AnthropicWorkPickupBudgetFastBurn",
                Some(Duration::from_secs(15 * MIN)),
            )),
            20,
        ),
        slo(
            "slow-pickups (SLO 99%, 6 h history)",
            s("slow-pickups"),
            Some(("AnthropicWorkPickupBudgetSlowBurn", None)),
            120,
        ),
        d("steady", None, None, 60),
        d("saturated", s("saturated"), None, 60),
        // The Kubernetes path's defaults: the same limits at 30 s.
        at30(workers_down()),
        at30(d(
            "api-down",
            s("api-down"),
            Some(("AnthropicWorkRefreshFailing", None)),
            20,
        )),
        at30(d(
            "exporter gone",
            Some(Fault::ExporterGone),
            Some(("AnthropicWorkExporterAbsent", None)),
            20,
        )),
        at30(d("steady", None, None, 60)),
    ]
}

struct Args {
    rules: PathBuf,
    alertmanager: PathBuf,
    promtool: String,
    keep: Option<PathBuf>,
    multi_target: Option<PathBuf>,
    slo_pairs: bool,
    timeline: bool,
    check: bool,
    write_docs: bool,
}

fn parse_args() -> Args {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        rules: root.join("alerts/anthropic-work-exporter.rules.yml"),
        alertmanager: root.join("deploy/alertmanager/alertmanager.yml"),
        promtool: "promtool".into(),
        keep: None,
        multi_target: None,
        slo_pairs: false,
        timeline: false,
        check: false,
        write_docs: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--rules" => a.rules = value().into(),
            "--alertmanager" => a.alertmanager = value().into(),
            "--promtool" => a.promtool = value(),
            "--keep" => a.keep = Some(value().into()),
            "--multi-target" => a.multi_target = Some(value().into()),
            "--slo-pairs" => a.slo_pairs = true,
            "--timeline" => a.timeline = true,
            "--check" => a.check = true,
            "--write-docs" => a.write_docs = true,
            other => usage(&format!("unknown flag {other}")),
        }
    }
    a
}

/// A drill's name as a file name.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn usage(problem: &str) -> ! {
    eprintln!("time_to_page: {problem}\nflags: --check --write-docs --rules FILE --alertmanager FILE --promtool PATH --keep DIR --multi-target TARGETS.json --slo-pairs [--timeline]");
    std::process::exit(2)
}

/// The top-level route's group_wait of an Alertmanager config.
fn group_wait(path: &Path) -> Duration {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| usage(&format!("{}: {e}", path.display())));
    text.lines()
        .find_map(|l| l.strip_prefix("  group_wait: "))
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .unwrap_or_else(|| {
            usage(&format!(
                "{}: no top-level route group_wait",
                path.display()
            ))
        })
}

fn runbooks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/runbooks.md")
}

/// docs/runbooks.md's text and the byte range of its table (markers included).
fn docs_table() -> (String, std::ops::Range<usize>) {
    let text = std::fs::read_to_string(runbooks()).expect("docs/runbooks.md");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        usage("docs/runbooks.md has no time-to-page markers");
    };
    let end = (e + END.len() + 1).min(text.len());
    (text, b..end)
}

// Tokio's clock is paused too: the exporter's retry back-offs (api-down
// retries every request three times) then take no wall time. The runtime
// advances a paused clock only when every task waits and no socket is ready,
// and the simulator answers on loopback in the same runtime, so no request
// times out early.
#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let a = parse_args();
    let rules_text = std::fs::read_to_string(&a.rules)
        .unwrap_or_else(|e| usage(&format!("{}: {e}", a.rules.display())));
    let alerts = promtool::alert_names(&rules_text);
    let groups = promtool::group_order(&rules_text);
    let wait = group_wait(&a.alertmanager);
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = a.keep.clone().unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("promtool file directory");
    let rules = std::fs::canonicalize(&a.rules).expect("rules path");
    if let Some(targets) = &a.multi_target {
        let ctx = multi::Replay {
            promtool: &a.promtool,
            rules_text: &rules_text,
            rules: &rules,
            groups: &groups,
            alerts: &alerts,
            dir: &dir,
        };
        let problems = multi::run(&ctx, targets).await;
        for p in &problems {
            eprintln!("time_to_page: {p}");
        }
        std::process::exit(i32::from(!problems.is_empty()));
    }
    if a.slo_pairs {
        let ctx = slo_pairs::Replay {
            promtool: &a.promtool,
            rules_text: &rules_text,
            timeline: a.timeline,
            dir: &dir,
        };
        let problems = slo_pairs::run(&ctx).await;
        for p in &problems {
            eprintln!("time_to_page: {p}");
        }
        std::process::exit(i32::from(!problems.is_empty()));
    }
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for drill in drills() {
        let started = std::time::Instant::now();
        let layout = Layout::single(drill.interval);
        let rec = record::record(drill.fault, WARMUP, WARMUP + drill.run, &layout).await;
        let rec = history::replayed(rec, drill.history, Duration::from_secs(drill.step()));
        let file = dir.join(format!("{}.test.yml", slug(&drill.label())));
        let test = promtool::test_file(&rules, &groups, &rec, &alerts, rec.step(), None);
        std::fs::write(&file, test).expect("write promtool file");
        let (firing, _) = promtool::firing(&a.promtool, &file).unwrap_or_else(|e| usage(&e));
        let (line, p) = table::row(&drill, &firing, wait);
        eprintln!("{line} ({:.1}s)", started.elapsed().as_secs_f64());
        rows.push(line);
        problems.extend(p);
    }
    let table = table::table(&rows, wait);
    print!("{table}");
    let (docs, range) = docs_table();
    if a.write_docs {
        let new = format!("{}{}{}", &docs[..range.start], table, &docs[range.end..]);
        std::fs::write(runbooks(), new).expect("write docs/runbooks.md");
    } else if docs[range] != table {
        // The run is deterministic (seeded simulator, manual clocks): another
        // table means the rules, the exporter or the simulator changed.
        problems.push(
            "docs/runbooks.md shows another time-to-page table: check the change, then \
             cargo run --example time_to_page -- --write-docs"
                .into(),
        );
    }
    for p in &problems {
        eprintln!("time_to_page: {p}");
    }
    if a.check && !problems.is_empty() {
        std::process::exit(1);
    }
}
