//! The benchmark's output: a Markdown report (tables, targets, the machine and
//! the command) and the same numbers as JSON.

use crate::measure::Cell;
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub load_average_at_start: String,
    pub revision: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn machine() -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    let revision = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default(),
        memory_gib: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0 / 1024.0),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        load_average_at_start: read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        revision,
    }
}

fn secs(s: f64) -> String {
    if s < 0.01 {
        format!("{:.2} ms", s * 1e3)
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", n as f64 / 1024.0)
    }
}

/// Spread of the windows around their median, as ±%.
fn noise(c: &Cell) -> String {
    let v = &c.cpu_per_cycle_windows_s;
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    if v.len() < 2 {
        return String::new();
    }
    format!(" ±{:.0}%", (hi - lo) / 2.0 / c.cpu_per_cycle_s * 100.0)
}

const HEADER: &str = "| environments × items | requests/cycle (min) | ratio | CPU/cycle | floor | CPU ÷ floor | wall/cycle | refresh wall | peak RSS | /metrics | render (gzip) | 1 scraper p50 | 10 scrapers p50 / p99 (gzip) | (plain) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

pub fn row(c: &Cell) -> String {
    let p = &c.production;
    format!(
        "| {} × {} | {:.0} ({:.0}) | {:.2} | {}{} | {} | {:.2} | {} | {:.1} ms | {:.1} MiB | {} ({}) | {:.1} ms ({:.1} ms) | {:.1} ms | {:.1} / {:.1} ms | {:.1} / {:.1} ms |",
        c.environments,
        c.items_per_environment,
        c.requests_per_cycle,
        c.min_requests_per_cycle,
        c.request_ratio,
        secs(c.cpu_per_cycle_s),
        noise(c),
        secs(c.floor_per_cycle_s),
        c.cpu_over_floor,
        secs(c.wall_per_cycle_s),
        c.refresh_wall_mean_ms,
        c.peak_rss_mib.max(p.peak_rss_mib),
        bytes(c.render_cost.bytes),
        bytes(c.render_cost.gzip_bytes),
        c.render_cost.plain_ms,
        c.render_cost.gzip_ms,
        p.render.p50_ms,
        p.concurrent_gzip.p50_ms,
        p.concurrent_gzip.p99_ms,
        p.concurrent_plain.p50_ms,
        p.concurrent_plain.p99_ms,
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

pub fn markdown(
    m: &Machine,
    command: &[String],
    cells: &[Cell],
    skipped: &[(usize, usize)],
) -> String {
    let mut s = String::new();
    let cmd: Vec<&str> = command.iter().skip(1).map(String::as_str).collect();
    let _ = writeln!(
        s,
        "Command: `cargo run --release --example bench -- {}` at `{}`  ",
        cmd.join(" "),
        m.revision
    );
    let _ = writeln!(
        s,
        "Machine: {} CPUs ({}), {:.1} GiB, Linux {}, load average at start {} (shared with other builds: expect noise).\n",
        m.cpus, m.cpu_model, m.memory_gib, m.kernel, m.load_average_at_start
    );
    s.push_str(HEADER);
    for c in cells {
        s.push_str(&row(c));
        s.push('\n');
    }
    for (e, i) in skipped {
        let _ = writeln!(s, "| {e} × {i} | skipped (over --max-items) |||||||||||||");
    }
    s.push_str("\nPer work item, one thread's CPU time on the same page bytes: serde_json decoders (`typed`, the fields the exporter reads as borrowed `&str`, is the floor above), then the exporter's own decoder and decoder + fold in process, then the exporter's whole refresh (HTTP included):\n\n| environments × items | bytes/item | IgnoredAny | typed (floor) | serde_json::Value | exporter decode | decode + fold | refresh CPU/item |\n|---|---|---|---|---|---|---|---|\n");
    for c in cells {
        let f = &c.floor;
        let per_item = c.cpu_per_cycle_s / (c.environments * c.items_per_environment) as f64;
        let _ = writeln!(
            s,
            "| {} × {} | {:.0} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs |",
            c.environments,
            c.items_per_environment,
            f.bytes_per_item,
            f.ignored_any_per_item * 1e6,
            f.typed_per_item * 1e6,
            f.value_per_item * 1e6,
            f.exporter_decode_per_item * 1e6,
            f.exporter_decode_fold_per_item * 1e6,
            per_item * 1e6
        );
    }
    s.push_str("\nThe simulator (the upstream, its own process), flat out: CPU per request it answered (one stats call or one list page of up to 1,000 items) and its peak resident memory with the whole population:\n\n| environments × items | simulator CPU/request | of which kernel | simulator peak RSS |\n|---|---|---|---|\n");
    for c in cells {
        let _ = writeln!(
            s,
            "| {} × {} | {:.0} µs | {:.0} µs | {:.1} MiB |",
            c.environments,
            c.items_per_environment,
            c.sim_cpu_per_request_us,
            c.sim_system_cpu_per_request_us,
            c.sim_peak_rss_mib
        );
    }
    let target = cells.iter().find(|c| c.production.core_share.is_some());
    if let Some(c) = target {
        let p = &c.production;
        let _ = writeln!(
            s,
            "\nAs deployed: {} × {} at a {:.0} s interval, {:.0} s window, {:.2} cycles: {:.0} requests/cycle (min {:.0}), \
             **{:.2}% of one core** on average, peak RSS **{:.1} MiB** (now {:.1} MiB).",
            c.environments, c.items_per_environment, p.interval_s, p.window_s.unwrap_or(0.0), p.cycles.unwrap_or(0.0),
            p.requests_per_cycle.unwrap_or(0.0), c.min_requests_per_cycle, p.core_share.unwrap_or(0.0) * 100.0,
            p.peak_rss_mib, p.rss_mib
        );
    }
    s.push_str("\nTargets:\n\n");
    let ratio_ok = cells
        .iter()
        .all(|c| (c.request_ratio - 1.0).abs() < 0.01 && c.requests_not_200 == 0.0);
    let _ = writeln!(
        s,
        "- requests per cycle = minimum (ratio 1.00, no non-200 response): {}",
        verdict(ratio_ok)
    );
    let worst = cells.iter().map(|c| c.cpu_over_floor).fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "- CPU per refresh within 2× the floor: worst {worst:.2}×: {}",
        verdict(worst <= 2.0)
    );
    if let Some(c) = target {
        let p = &c.production;
        let share = p.core_share.unwrap_or(1.0);
        let _ = writeln!(
            s,
            "- 1,000 × 1,000 at 30 s under 5% of one core: {:.2}%: {}; under 64 MiB: {:.1} MiB: {}",
            share * 100.0,
            verdict(share < 0.05),
            p.peak_rss_mib,
            verdict(p.peak_rss_mib < 64.0)
        );
    }
    for c in cells.iter().filter(|c| c.environments >= 1000) {
        let p = &c.production;
        let _ = writeln!(
            s,
            "- /metrics at {} × {} p99 < 10 ms with {} scrapers: {:.1} ms gzip, {:.1} ms plain: {}",
            c.environments,
            c.items_per_environment,
            p.concurrent_gzip.scrapers,
            p.concurrent_gzip.p99_ms,
            p.concurrent_plain.p99_ms,
            verdict(p.concurrent_gzip.p99_ms < 10.0 && p.concurrent_plain.p99_ms < 10.0)
        );
    }
    s
}

pub fn write(
    out: &Path,
    m: &Machine,
    command: &[String],
    cells: &[Cell],
    skipped: &[(usize, usize)],
) {
    let md = markdown(m, command, cells, skipped);
    let json = serde_json::json!({
        "command": command.iter().skip(1).collect::<Vec<_>>(),
        "machine": m,
        "cells": cells,
        "skipped": skipped,
    });
    let _ = std::fs::write(out.join("results.md"), md);
    let _ = std::fs::write(
        out.join("results.json"),
        serde_json::to_vec_pretty(&json).unwrap_or_default(),
    );
}
