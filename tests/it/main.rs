//! One integration-test binary; a module per capability.

mod sim;
