//! anthropic-work-exporter: a Prometheus exporter for the work queues of
//! self-hosted Claude Managed Agents environments.
//!
//! Data flows one way, each module owning one step:
//!
//! ```text
//! cli -> config -> api -> refresh -> snapshot -> metrics -> server      (sim beside it)
//! ```
//!
//! `api` is the `work-api` crate (`crates/work-api`: wire types, lean
//! decoders, the client, typed errors, retry, the request budget, the page
//! walker, the clock, the key type, the stable hash), shared with the
//! simulator, the `work-sim` crate (`crates/work-sim`). This crate is the
//! exporter:
//!
//! - `cli`: flags and subcommands, raw values.
//! - `config`: flags + YAML + environment variables -> checked `Config`
//!   (`Config::new`, the one constructor); `config::web`: TLS and basic auth.
//! - `discovery`: lists environments, filters them, reads their keys, and
//!   feeds the scheduler the set this shard watches; `shard`: which that is.
//! - `refresh`: one refresh, the fold of list pages, the plan and the scheduler.
//! - `snapshot`: per-environment results, swapped in whole.
//! - `metrics`: every family, rendered from snapshots at scrape time.
//! - `pages`: landing and drill-down pages.
//! - `server`: HTTP routes (`/probe` in `server::probe_target`) and graceful shutdown.
//! - `app`: the subcommands, each wiring the parts it needs (`serve`, `demo`,
//!   `simulate`, `check-config`, `healthcheck`); `probe`: `check-config --probe`.
//! - `gzip`: the one gzip path (Accept-Encoding, compression); `logging`.
//! - `fuzzing` (feature `fuzzing`, and in unit tests): fuzz targets.

pub mod app;
pub mod cli;
pub mod config;

pub mod discovery;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod gzip;
pub mod logging;
pub mod metrics;
pub mod pages;
pub mod probe;
pub mod refresh;
pub mod server;
pub mod shard;

pub mod snapshot;
