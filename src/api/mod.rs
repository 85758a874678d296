//! The Environments Work API client: one method per endpoint, one credential per request.

pub mod wire;
