//! One integration-test binary, a module per capability.

mod config;
mod exposition;
mod ground_truth;
mod refresh;
mod rig;
mod server;
mod sim;
mod upstream;
