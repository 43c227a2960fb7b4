//! Rate limits (SPEC §7), in one place: the policy and its GCRA arithmetic
//! (`policy`), and how the use cases apply them (`service`). A use case's
//! error enum takes a refusal through `from_limit_error!`, invoked beside
//! the enum, so this module knows none of its callers.

mod network;
mod policy;
mod service;

pub use network::network_of;
pub use policy::*;
pub(crate) use service::from_limit_error;
pub use service::{LimitError, RateLimitService, Visitor};
