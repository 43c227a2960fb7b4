//! Writes the SSO callback's refusals to the audit log once their minute is
//! over, even when no later refusal comes to close it (see
//! `gatehouse_core::services::sso::REFUSAL_WINDOW`).

use gatehouse_core::services::sso::{REFUSAL_WINDOW, SsoService};
use std::time::Duration;

/// Runs until the task is dropped (at shutdown, which writes what is left).
pub async fn run(sso: SsoService) {
    let every = Duration::from_secs(REFUSAL_WINDOW.num_seconds().unsigned_abs() / 2);
    loop {
        tokio::time::sleep(every).await;
        sso.flush_refusals(false).await;
    }
}
