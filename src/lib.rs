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
//! - `clock`: wall time as a parameter.
//! - `api`: HTTP client and wire types of the Environments Work API.
//! - `sim`: the simulated API and workload (demo, tests, benchmarks, drills).

pub mod api;
pub mod cli;
pub mod clock;
pub mod sim;
