//! One integration-test binary, a module per capability.

mod budget;
mod capture;
mod compression;
mod config;
mod discovery;
mod exporter;
mod exposition;
mod failures;
mod faults;
mod formats;

mod ground_truth;
mod healthchecks;
mod leaks;
mod load;
mod multi_target;
mod network;
mod paging;
mod pair;
mod refresh;
mod rig;
mod server;
mod sharding;
mod sim;
mod storm;
mod thresholds;
mod upstream;
mod web;
mod wire;
