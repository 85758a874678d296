//! One integration-test binary, a module per capability.

mod refresh;
mod rig;
mod upstream;
