//! The benchmark: what the exporter costs in API requests, CPU and memory per
//! environment and per work item, next to the minimum possible requests and
//! the deserialize-only floor. Not a test: it measures and reports.
//!
//! ```sh
//! cargo run --release --example bench                 # the full grid (about 20 min on 2 cores)
//! cargo run --release --example bench -- --quick      # a small grid (about a minute), a CI smoke run
//! cargo run --release --example bench -- --budget-bound   # 1,000 environments on 10 requests/s (about 11 min)
//! cargo run --release --example bench -- --crowd [--crowd-baseline BIN]   # scrapes beside 2,300 open connections, or 600 slow-loris (about 9 min with a baseline)
//! cargo run --release --example bench -- --auth-flood [--crowd-baseline BIN]   # 16 password guessers (about 2 min)
//! ```
//!
//! For each cell (environments × items per environment) the simulator runs as
//! one child process with a static population and the exporter as another,
//! so the exporter's CPU (utime + stime) and peak RSS are read from its own
//! `/proc/PID`. Results go to `--out` as `results.md` and `results.json`.

mod auth_flood;
mod budget_bound;
mod commit_wait;
mod crowd;
mod deployed;
mod floor;
// The binary's allocator setting, so the benchmark runs the exporter as `main.rs` does.
mod measure;
#[path = "../../src/memory.rs"]
mod memory;
mod meter;
mod probe;
mod procs;
mod render;
mod report;

use clap::Parser;
use measure::Plan;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(about = "Benchmark the exporter against the simulator")]
struct Args {
    /// A small grid with short windows (about a minute): a smoke run, not a measurement to quote.
    #[arg(long)]
    quick: bool,
    /// Where results.md, results.json and the children's logs go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Cells to run instead of the grid, e.g. `1x100,1000x1000` (environments x items per environment).
    #[arg(long, value_delimiter = ',')]
    cells: Vec<String>,
    /// Skip cells with more work items than this in total.
    #[arg(long, default_value_t = 10_000_000)]
    max_items: usize,
    /// Skip the run at the production setting (1,000 x 1,000 at a 30 s interval).
    #[arg(long)]
    no_steady: bool,
    /// Concurrent scrapers of /metrics.
    #[arg(long, default_value_t = 10)]
    scrapers: usize,
    /// Only the budget-bound fleet: 1,000 environments on 10 requests/s, one cadence versus
    /// stats every 30 s and lists every 5 min (time to show a scenario switch, requests/min).
    #[arg(long)]
    budget_bound: bool,
    /// Only the render of every exposition format at this many environments
    /// (100 items each): bytes plain and gzip, render CPU; then exit.
    #[arg(long)]
    formats: Option<usize>,
    /// Only how long refresh commits wait while gzip renders run back to back,
    /// at this many environments of 1,000 items (20 s); then exit.
    #[arg(long = "commit-wait")]
    commit_wait: Option<usize>,
    /// Only new scrapes of /metrics beside 300 busy keep-alive and 2,000 idle connections; then exit.
    #[arg(long)]
    crowd: bool,
    /// Only 16 clients guessing basic-auth passwords: the exporter's CPU, and scrapes meanwhile; then exit.
    #[arg(long = "auth-flood")]
    auth_flood: bool,
    /// With --crowd, --auth-flood or --deployed: also measure this exporter binary (another build, e.g. main's) the same way, in the same run.
    #[arg(long = "crowd-baseline")]
    crowd_baseline: Option<PathBuf>,
    /// Only the cells as deployed, e.g. `1000x1000,100x10000`: loopback beside TLS with a
    /// 40 ms round trip and 100 Mbit/s per connection, the exporter with and without
    /// compression, and the Python peer (official SDK + prometheus_client); then exit.
    #[arg(long, value_delimiter = ',')]
    deployed: Vec<String>,
    /// `--deployed`: the measurement window of each run, seconds.
    #[arg(long, default_value_t = 60.0)]
    window: f64,
    /// `--deployed`: the exporter's refresh interval, seconds.
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// `--deployed`: the Python with the SDK and prometheus_client (tests/requirements.txt's venv).
    #[arg(long, env = "WORK_EXPORTER_PYTHON", default_value = "python3")]
    python: PathBuf,
}

/// `--deployed CELLS`: each cell as deployed, beside loopback; results in `OUT/deployed/`.
fn deployed(args: &Args, rt: &tokio::runtime::Runtime, raw: &[String]) {
    let dir = args.out.join("deployed");
    std::fs::create_dir_all(&dir).expect("create the directory");
    let sdk = deployed::sdk_version(&args.python);
    let machine = report::machine();
    eprintln!("bench: {machine:?}, SDK {sdk}");
    let timing = deployed::Timing {
        interval: args.interval,
        window: args.window,
    };
    let mut cells = Vec::new();
    for cell in args.deployed.iter().map(|s| parse_cell(s)) {
        let cell_dir = dir.join(format!("{}x{}", cell.0, cell.1));
        std::fs::create_dir_all(&cell_dir).expect("create the cell's directory");
        cells.push(rt.block_on(deployed::run_cell(
            &cell_dir,
            cell,
            timing,
            &args.python,
            args.crowd_baseline.as_deref(),
        )));
        let md = format!(
            "Command: `{}`  \nMachine: {machine:?}, load average at the end {}  \nPython peer: anthropic {sdk}\n\n{}",
            raw.join(" "),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            deployed::markdown(&cells)
        );
        std::fs::write(dir.join("results.md"), &md).expect("write results.md");
        let json = serde_json::to_string_pretty(&cells).expect("json");
        std::fs::write(dir.join("results.json"), json).expect("write results.json");
        println!("{md}");
    }
}

const ENVIRONMENTS: [usize; 4] = [1, 10, 100, 1000];
const ITEMS: [usize; 3] = [100, 1_000, 10_000];
const QUICK: [(usize, usize); 3] = [(1, 100), (10, 1_000), (100, 100)];
/// The cell the production targets are stated for.
const TARGET_CELL: (usize, usize) = (1000, 1000);

fn parse_cell(s: &str) -> (usize, usize) {
    let (e, i) = s
        .split_once('x')
        .unwrap_or_else(|| panic!("--cells: {s:?} is not ENVIRONMENTSxITEMS"));
    let n = |v: &str| {
        v.replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("--cells: {v:?} is not a number"))
    };
    (n(e), n(i))
}

/// `--formats N`: the render of every format at N environments.
fn formats(out: &std::path::Path, environments: usize) {
    let dir = out.join(format!("formats-{environments}"));
    std::fs::create_dir_all(&dir).expect("create the directory");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sim = procs::start_sim(&dir, environments, 100);
    let sample = rt.block_on(floor::fetch(&sim.creds, 100));
    let rows = render::measure_formats(&sim.creds, &sample);
    println!("| format | histograms | body | gzip | render | render + gzip |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} MiB | {:.0} KiB | {:.1} ms | {:.1} ms |",
            r.format,
            r.histograms,
            r.bytes as f64 / 1048576.0,
            r.gzip_bytes as f64 / 1024.0,
            r.plain_ms,
            r.gzip_ms
        );
    }
    let json = serde_json::to_string_pretty(&rows).expect("json");
    std::fs::write(dir.join("formats.json"), json).expect("write formats.json");
}

/// `--commit-wait N`: commits timed while renders run, at N environments x 1,000 items.
fn commit_wait(out: &std::path::Path, environments: usize) {
    let dir = out.join(format!("commit-wait-{environments}"));
    std::fs::create_dir_all(&dir).expect("create the directory");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let sim = procs::start_sim(&dir, environments, 1000);
    let sample = rt.block_on(floor::fetch(&sim.creds, 1000));
    let r = commit_wait::measure(&sim.creds, &sample, 20.0);
    println!("{}", serde_json::to_string_pretty(&r).expect("json"));
}

fn main() {
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some(procs::EXEC) {
        procs::exec_main(raw[2..].to_vec());
    }
    if raw.get(1).map(String::as_str) == Some("__count") && raw.len() == 4 {
        floor::count(&raw[2], &raw[3]);
        return;
    }
    let args = Args::parse();
    std::fs::create_dir_all(&args.out).expect("create the output directory");
    if let Some(environments) = args.formats {
        formats(&args.out, environments);
        return;
    }
    if let Some(environments) = args.commit_wait {
        commit_wait(&args.out, environments);
        return;
    }
    let mut cells: Vec<(usize, usize)> = if !args.cells.is_empty() {
        args.cells.iter().map(|s| parse_cell(s)).collect()
    } else if args.quick {
        QUICK.to_vec()
    } else {
        ENVIRONMENTS
            .iter()
            .flat_map(|&e| ITEMS.iter().map(move |&i| (e, i)))
            .collect()
    };
    let skipped: Vec<(usize, usize)> = cells
        .iter()
        .copied()
        .filter(|(e, i)| e * i > args.max_items)
        .collect();
    cells.retain(|(e, i)| e * i <= args.max_items);
    let plan = if args.quick {
        Plan {
            windows: 1,
            window_secs: 3.0,
            scrape_secs: 1.5,
            scrapers: args.scrapers,
        }
    } else {
        Plan {
            windows: 3,
            window_secs: 10.0,
            scrape_secs: 5.0,
            scrapers: args.scrapers,
        }
    };
    let steady = !args.quick && !args.no_steady;
    let machine = report::machine();
    eprintln!("bench: {machine:?}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if args.auth_flood {
        println!(
            "{}",
            auth_flood::run(&args.out, &rt, args.crowd_baseline.as_deref())
        );
        return;
    }
    if args.crowd {
        println!(
            "{}",
            crowd::run(&args.out, &rt, args.crowd_baseline.as_deref())
        );
        return;
    }
    if !args.deployed.is_empty() {
        deployed(&args, &rt, &raw);
        return;
    }
    if args.budget_bound {
        println!("{}", budget_bound::run(&args.out, &rt));
        return;
    }
    let mut results = Vec::new();
    for &(e, i) in &cells {
        eprintln!("bench: {e} environments x {i} items ...");
        let dir = args.out.join(format!("{e}x{i}"));
        std::fs::create_dir_all(&dir).expect("create the cell's directory");
        // The production targets are stated for one cell: measure its CPU at a 30 s interval.
        let window = (steady && (e, i) == TARGET_CELL).then_some(60.0);
        let cell = rt.block_on(measure::run_cell(&dir, e, i, plan, window));
        eprintln!("bench: {}", report::row(&cell));
        results.push(cell);
        // Write after every cell: a long run cut short still leaves its numbers.
        report::write(&args.out, &machine, &raw, &results, &skipped);
    }
    println!("{}", report::markdown(&machine, &raw, &results, &skipped));
}
