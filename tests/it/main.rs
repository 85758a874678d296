//! One integration-test binary, a module per capability.

mod config;
mod discovery;
mod exposition;
mod ground_truth;
mod multi_target;
mod refresh;
mod rig;
mod server;
mod sharding;
mod sim;
mod upstream;
