//! Races that must never double-issue: each runs many rounds and checks the
//! invariants (one token, one outcome, one active row) every round.

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app_overriding, spawn_app_with};
use crate::on_every_backend;
use gatehouse::startup::Overrides;
use gatehouse_core::SecretString;
use gatehouse_core::model::{Account, SubjectId};
use gatehouse_core::ports::{HashError, PasswordHasher};
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::device_flow::{DecideError, DecisionKind};
use serde_json::Value;

const ROUNDS: usize = 200;

/// Hundreds of flows and approvals from one address and one account are the
/// point here, so the rate limits (tested in `rate_limits`) are off.
async fn spawn_unlimited(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.settings.rate_limits = gatehouse_core::rate_limit::RateLimitSettings::off()).await
}

async fn decide(app: &TestApp, code: &str, account: &Account, kind: DecisionKind) -> Result<(), DecideError> {
    app.services.device_flows.decide_as_account(code, account, kind, &Visitor::default()).await.map(|_| ())
}

fn codes(flow: &Value) -> (String, String) {
    (flow["user_code"].as_str().expect("code").to_owned(), flow["device_code"].as_str().expect("code").to_owned())
}

async fn active_token_for(app: &TestApp, account: &Account, label: &str) -> bool {
    app.services
        .ports()
        .tokens
        .find_active_for_device(&SubjectId::account(account.id), "gatehouse-cli", label)
        .await
        .expect("query")
        .is_some()
}

async fn fifty_pollers_racing_an_approval_get_one_token(backend: Backend) {
    let app = spawn_unlimited(backend).await;
    let account = app.create_account("ada@example.com").await;
    for round in 0..ROUNDS {
        let (user_code, device_code) = codes(&app.start_flow(&[("device_label", "racer")]).await);
        let approve = decide(&app, &user_code, &account, DecisionKind::Approve);
        let polls = futures::future::join_all((0..50).map(|_| app.poll(&device_code)));
        let (approved, answers) = tokio::join!(approve, polls);
        approved.expect("approve");
        // Polls after the redemption finished are handed the same token
        // again: one distinct token among all the answers.
        let mut issued: Vec<&str> = answers.iter().filter_map(|(_, body)| body["access_token"].as_str()).collect();
        issued.sort_unstable();
        issued.dedup();
        let mut tokens = issued.len();
        if tokens == 0 {
            // Every poll came before the approval (and slowed the flow down):
            // the next poll that honours the interval redeems.
            let interval = answers.iter().filter_map(|(_, body)| body["interval"].as_i64()).max().unwrap_or(5);
            app.advance(interval);
            tokens += usize::from(app.poll(&device_code).await.0 == 200);
        }
        assert_eq!(tokens, 1, "round {round}: {answers:?}");
        assert!(answers.iter().all(|(status, _)| matches!(status, 200 | 400)), "round {round}: {answers:?}");
        app.advance(60);
        assert_eq!(app.poll(&device_code).await.1["error"], "invalid_grant", "round {round}");
    }
}

async fn approve_against_deny_has_one_outcome_everywhere(backend: Backend) {
    let app = spawn_unlimited(backend).await;
    let account = app.create_account("ada@example.com").await;
    for round in 0..ROUNDS {
        let (user_code, device_code) = codes(&app.start_flow(&[("device_label", "contested")]).await);
        let (approved, denied) = tokio::join!(
            decide(&app, &user_code, &account, DecisionKind::Approve),
            decide(&app, &user_code, &account, DecisionKind::Deny),
        );
        let approve_won = approved.is_ok();
        assert!(approve_won != denied.is_ok(), "round {round}: exactly one decision wins");
        let loser = if approve_won { denied } else { approved };
        assert!(matches!(loser, Err(DecideError::AlreadyResolved)), "round {round}");
        // The device sees the decision that won, and only it.
        let (status, body) = app.poll(&device_code).await;
        if approve_won {
            assert_eq!(status, 200, "round {round}: {body}");
        } else {
            assert_eq!(body["error"], "access_denied", "round {round}");
        }
        assert_eq!(approve_won, active_token_for(&app, &account, "contested").await, "round {round}");
        // Clean slate for the next round: no active token for the label.
        if status == 200 {
            let token = body["access_token"].as_str().expect("token");
            app.device
                .delete(app.url("/v1/oauth/authorizations/self"))
                .bearer_auth(token)
                .send()
                .await
                .expect("revoke");
        }
        app.advance(60);
    }
}

async fn two_concurrent_approves_mint_one_token(backend: Backend) {
    let app = spawn_unlimited(backend).await;
    let account = app.create_account("ada@example.com").await;
    for round in 0..ROUNDS {
        let (user_code, device_code) = codes(&app.start_flow(&[]).await);
        let (a, b) = tokio::join!(
            decide(&app, &user_code, &account, DecisionKind::Approve),
            decide(&app, &user_code, &account, DecisionKind::Approve),
        );
        assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1, "round {round}");
        // One token between them: a poll after the redemption finished is
        // handed the same token again.
        let (first, second) = tokio::join!(app.poll(&device_code), app.poll(&device_code));
        let mut issued: Vec<&str> =
            [&first, &second].iter().filter_map(|(_, body)| body["access_token"].as_str()).collect();
        issued.dedup();
        assert_eq!(issued.len(), 1, "round {round}: {first:?} {second:?}");
        app.advance(60);
    }
}

async fn approvals_racing_expiry_give_a_token_or_expired_token_never_both(backend: Backend) {
    let app = spawn_unlimited(backend).await;
    let account = app.create_account("ada@example.com").await;
    // Which clock read of the race is the first to see the expiry instant:
    // the very first (the approval comes too late, for sure), one of the
    // reads in between (either way, as the race falls), or none (the
    // approval is in time, for sure). So both outcomes happen every run.
    let first_expired_read = [Some(0), Some(1), Some(2), Some(3), Some(4), Some(6), Some(8), Some(12), Some(16), None];
    let (mut tokens, mut expired) = (0, 0);
    for round in 0..ROUNDS {
        let label = format!("expiring-{round}");
        let (user_code, device_code) = codes(&app.start_flow(&[("device_label", &label)]).await);
        // Six seconds before expiry; the flow's interval is five.
        app.advance(594);
        let tick_at = first_expired_read[round % first_expired_read.len()];
        if let Some(reads) = tick_at {
            app.clock.tick_on_read(reads, chrono::Duration::seconds(6));
        }
        let (decided, racing) =
            tokio::join!(decide(&app, &user_code, &account, DecisionKind::Approve), app.poll(&device_code));
        let ticked = tick_at.is_some() && app.clock.disarm();
        // One poll an interval later: one second before expiry if the race
        // never reached it, or past it.
        app.advance(5);
        let after = app.poll(&device_code).await;
        app.advance(61);
        let last = app.poll(&device_code).await;
        let answers = [racing, after, last];

        let mut issued: Vec<&str> = answers.iter().filter_map(|(_, body)| body["access_token"].as_str()).collect();
        issued.dedup();
        let got_expired = answers.iter().any(|(_, body)| body["error"] == "expired_token");
        assert!(issued.len() <= 1, "round {round}: two different tokens: {answers:?}");
        assert!(!(issued.len() == 1 && got_expired), "round {round}: a token and expired_token: {answers:?}");
        assert_eq!(issued.len() == 1, active_token_for(&app, &account, &label).await, "round {round}: {answers:?}");
        match &decided {
            Ok(()) => {}
            Err(DecideError::ExpiredOrUnknown) => assert!(issued.is_empty(), "round {round}: {answers:?}"),
            Err(other) => panic!("round {round}: {other:?}"),
        }
        if tick_at == Some(0) {
            assert!(decided.is_err(), "round {round}: the approval came after expiry");
        }
        if !ticked {
            assert!(decided.is_ok() && issued.len() == 1, "round {round}: in time: {decided:?} {answers:?}");
        }
        if issued.len() == 1 {
            tokens += 1;
        } else {
            assert!(got_expired, "round {round}: {answers:?}");
            expired += 1;
        }
    }
    assert!(tokens > 0 && expired > 0, "both outcomes: {tokens} tokens, {expired} expired");
    assert_eq!(tokens + expired, ROUNDS);
}

async fn twenty_approvals_of_one_device_leave_one_active_row(backend: Backend) {
    let app = spawn_unlimited(backend).await;
    let account = app.create_account("ada@example.com").await;
    for round in 0..10 {
        let label = format!("shared-{round}");
        let mut flows = Vec::new();
        for _ in 0..20 {
            flows.push(codes(&app.start_flow(&[("device_label", &label)]).await));
        }
        for (user_code, _) in &flows {
            decide(&app, user_code, &account, DecisionKind::Approve).await.expect("approve");
        }
        let answers = futures::future::join_all(flows.iter().map(|(_, device_code)| app.poll(device_code))).await;
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "round {round}: no 5xx, every flow redeems: {answers:?}"
        );
        let mut live = 0;
        for (_, token) in &answers {
            live += usize::from(app.me(token["access_token"].as_str().expect("token")).await.status() == 200);
        }
        assert_eq!(live, 1, "round {round}: exactly one active token for the device");
        assert!(active_token_for(&app, &account, &label).await);
    }
}

/// A password hasher that, once armed, holds the next check after it ran
/// until the test lets it go, telling the test when it got there.
struct HeldCheck {
    inner: std::sync::Arc<dyn PasswordHasher>,
    armed: std::sync::Arc<std::sync::Mutex<Option<Hold>>>,
}

type Hold = (tokio::sync::oneshot::Sender<()>, tokio::sync::oneshot::Receiver<()>);

#[async_trait::async_trait]
impl PasswordHasher for HeldCheck {
    async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &SecretString, hash: Option<&str>) -> Result<bool, HashError> {
        let hold = self.armed.lock().expect("lock").take();
        let verified = self.inner.verify(password, hash).await;
        if let Some((reached, release)) = hold {
            let _ = reached.send(());
            let _ = release.await;
        }
        verified
    }

    fn is_busy(&self) -> bool {
        self.inner.is_busy()
    }
}

/// A sign-in whose (slow) password check is overtaken by a password change
/// counts from when it read the hash: the change voids its session, as it
/// voids every other one. Counting from when the check ended kept it.
async fn a_sign_in_overtaken_by_a_password_change_is_signed_out(backend: Backend) {
    let armed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let wrap_armed = armed.clone();
    let overrides = Overrides {
        wrap_passwords: Some(std::sync::Arc::new(move |inner| {
            std::sync::Arc::new(HeldCheck { inner, armed: wrap_armed.clone() })
        })),
        ..Overrides::default()
    };
    let app = spawn_app_overriding(backend, |_| {}, overrides).await;
    let ada = app.ada().await;
    let (reached, at_check) = tokio::sync::oneshot::channel();
    let (release, held) = tokio::sync::oneshot::channel();
    *armed.lock().expect("lock") = Some((reached, held));
    let change = async {
        at_check.await.expect("the sign-in reached its check");
        app.advance(5);
        let new = SecretString::new("a much longer new passphrase");
        app.services
            .accounts
            .change_password(&ada, &SecretString::new(PASSWORD), &new, false, None)
            .await
            .expect("change");
        app.advance(5);
        let _ = release.send(());
    };
    let (signed_in, ()) = tokio::join!(app.sign_in("ada@example.com", PASSWORD), change);
    assert_eq!(signed_in.status(), 200, "the password was right when it was read");
    let page = app.browser.get(app.url("/settings/authorized-apps")).send().await.expect("page");
    assert_eq!(page.status(), 302, "but the change that overtook it signed it out");
}

on_every_backend!(
    a_sign_in_overtaken_by_a_password_change_is_signed_out,
    fifty_pollers_racing_an_approval_get_one_token,
    approve_against_deny_has_one_outcome_everywhere,
    two_concurrent_approves_mint_one_token,
    approvals_racing_expiry_give_a_token_or_expired_token_never_both,
    twenty_approvals_of_one_device_leave_one_active_row,
);
