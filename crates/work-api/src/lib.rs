//! The Environments Work API client: one method per endpoint, one credential
//! per request, a shared request budget, typed errors with a `reason()`.

pub mod budget;
pub mod client;
pub mod clock;
pub mod decode;
pub mod error;
pub mod hash;
pub mod pages;
pub mod redact;
pub mod retry;
pub mod secret;
pub mod wire;

pub use budget::RequestBudget;
pub use client::{ApiClient, Credential, RequestObserver};
pub use error::ApiError;
pub use pages::{PageWalk, Step};
