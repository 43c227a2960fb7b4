//! The ports the domain needs; adapters in `gatehouse-store` implement them.
//! Each port offers whole operations so every backend can make them atomic.
//! One file per family of adapter; everything is re-exported here, so a port
//! is always named `ports::Name`.

mod audit;
mod identity_provider;
mod mailer;
mod passkeys;
mod repositories;
mod secrets;
mod state;

pub use audit::*;
pub use identity_provider::*;
pub use mailer::*;
pub use passkeys::*;
pub use repositories::*;
pub use secrets::*;
pub use state::*;
