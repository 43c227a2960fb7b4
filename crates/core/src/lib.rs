//! Gatehouse's framework-free domain: the device-flow rules and state machine,
//! user-code and token formats, token kinds and scopes, the ports (traits) the
//! domain needs from the outside world, and the use cases combining them.
//!
//! Nothing here knows about HTTP, Leptos, SQL or Redis; adapters live in
//! `gatehouse-store` and the edges in the `gatehouse` binary and `gatehouse-app`.

pub mod actor;
pub mod approval_policy;
pub mod clock;
pub mod error;
pub mod flow;
pub mod formats;
pub mod listing;
pub mod metrics;
pub mod model;
mod named_enum;
pub mod ports;
pub mod random;
pub mod rate_limit;
pub mod scope;
pub mod secret;
pub mod services;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use actor::{Actor, Admin, Principal};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{OAuthError, OAuthErrorCode, StoreError};
pub use formats::{device_code::DeviceCode, token::TokenKind, user_code::UserCode};
pub use secret::SecretString;
