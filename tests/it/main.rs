//! One integration-test binary, a module per capability.

mod capture;
mod config;
mod exposition;
mod faults;
mod fuzz_smoke;
mod ground_truth;
mod leaks;
mod load;
mod pair;
mod refresh;
mod rig;
mod server;
mod sim;
mod storm;
mod upstream;
mod web;
