//! One integration-test binary, a module per capability.

mod budget;
mod capture;
mod compression;
mod config;
mod crowd;
mod discovery;
mod drilldown;
mod exporter;
mod exposition;
mod failures;
mod faults;
mod formats;

mod ground_truth;
mod healthchecks;
mod hostile_files;
mod leaks;
mod load;
mod metadata_labels;
mod multi_target;
mod network;
mod paging;
mod pair;
mod pickup_slo;
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
