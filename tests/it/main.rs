//! One integration-test binary, a module per capability.

mod config;
mod exposition;
mod faults;
mod ground_truth;
mod pair;
mod refresh;
mod rig;
mod server;
mod sim;
mod storm;
mod upstream;
