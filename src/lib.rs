//! anthropic-work-exporter: a Prometheus exporter for the work queues of
//! self-hosted Claude Managed Agents environments.
//!
//! Data flows one way, each module owning one step:
//!
//! ```text
//! cli -> config -> api -> refresh -> snapshot -> metrics -> server      (sim beside it)
//! ```
//!
//! - `cli`: flags and subcommands, raw values.
//! - `config`: flags + YAML + environment variables -> checked `Config`.
//! - `secret`: a key type that never prints.
//! - `api`: HTTP client, request budget, wire types and lean decoders, typed errors.
//! - `refresh`: one refresh (`refresh_once`), the fold of list pages, the scheduler.
//! - `snapshot`: per-environment results, swapped in whole.
//! - `metrics`: every family, rendered from snapshots at scrape time.
//! - `pages`: landing and drill-down pages.
//! - `server`: HTTP routes and graceful shutdown; `web_config`: its TLS and basic auth.
//! - `discovery`: lists environments, filters them, reads their keys, and
//!   feeds the scheduler the set this shard watches; `shard`: which that is.
//! - `probe_target`: `/probe?environment=ID`, one environment refreshed on demand.
//! - `app`: wires the parts for each subcommand; `demo`: simulator + exporter in
//!   one process; `probe`: `check-config --probe`.
//! - `sim`: the simulated API and workload (demo, tests, benchmarks, drills).
//! - `gzip`: the one gzip path (Accept-Encoding, compression).
//! - `clock`: wall time as a parameter; `fuzzing`: fuzz targets (cargo-fuzz and a smoke test).

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod discovery;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod gzip;
pub mod logging;
pub mod metrics;
pub mod pages;
pub mod probe;
pub mod probe_target;
pub mod refresh;
pub mod server;
pub mod shard;
pub mod simulate;
pub mod snapshot;
pub mod web_config;
