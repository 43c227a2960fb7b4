//! Leavers cut off at the SSO provider (docs/sso.md): a grant
//! of an SSO person keeps the provider's refresh token, sealed, and each
//! refresh asks the provider again once its last answer is older than the
//! recheck period. The provider's `invalid_grant` ends the grant; an outage
//! changes nothing and fails closed.

use crate::helpers::{Backend, TestApp, expect_oauth_error};
use crate::on_every_backend;
use crate::sso::{approve_external_as, external_grant, initiate, refresh_at, sso_app_with};
use crate::sso_provider::{Spoil, TestProvider};
use gatehouse_core::ports::AuditKind;
use serde_json::Value;

/// An hour and a second: past the default recheck period.
const PAST_THE_PERIOD: i64 = 3601;

async fn leaver_app(backend: Backend, provider: &TestProvider) -> TestApp {
    sso_app_with(backend, provider.config(&[])).await
}

fn refresh_token(grant: &Value) -> &str {
    grant["refresh_token"].as_str().expect("refresh token")
}

async fn refreshed(app: &TestApp, grant: &Value) -> Value {
    let (status, next) = refresh_at(app, refresh_token(grant)).await;
    assert_eq!(status, 200, "{next}");
    next
}

async fn a_person_who_left_at_the_provider_loses_the_grant_at_the_next_recheck(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = leaver_app(backend, &provider).await;
    let grant = external_grant(&app, &provider, "laptop").await;
    assert_eq!(provider.live_refresh_tokens(), 1, "the sign-in asked for offline_access and got a refresh token");

    // Within the period the provider is not asked.
    let grant = refreshed(&app, &grant).await;
    assert_eq!(provider.refreshes(), 0);
    // Past it, the provider is asked once and its rotated token kept.
    app.advance(PAST_THE_PERIOD);
    let grant = refreshed(&app, &grant).await;
    assert_eq!(provider.refreshes(), 1);
    let grant = refreshed(&app, &grant).await;
    assert_eq!(provider.refreshes(), 1, "asked at most once per period");

    // The person leaves. Until the period is over the grant still refreshes
    // (the documented bound); at the first refresh past it, it ends.
    provider.revoke_sign_ins();
    app.advance(PAST_THE_PERIOD - 60);
    let grant = refreshed(&app, &grant).await;
    app.advance(61);
    let (status, body) = refresh_at(&app, refresh_token(&grant)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(body["error_description"], "the identity provider no longer honours this sign-in");
    assert_eq!(provider.refreshes(), 2);
    let access_token = grant["access_token"].as_str().expect("token");
    assert_eq!(app.me(access_token).await.status(), 401, "its access token ends at once");
    let (status, _) = refresh_at(&app, refresh_token(&grant)).await;
    assert_eq!(status, 400, "revoked, not only refused");
    assert_eq!(provider.refreshes(), 2, "a revoked grant does not ask the provider again");

    let events = app.services.ports().audit.recent(100).await.expect("audit");
    let revoked = events.iter().find(|e| e.kind == AuditKind::TokenRevoked).expect("revocation audited");
    assert_eq!(revoked.details["by"], "revoked_at_provider");
    assert_eq!(revoked.subject.as_deref(), Some("sam@sso.example"));
}

async fn a_provider_outage_fails_the_refresh_closed_and_changes_nothing(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = leaver_app(backend, &provider).await;
    let grant = external_grant(&app, &provider, "laptop").await;
    app.advance(PAST_THE_PERIOD);
    provider.set_refresh_outage(true);
    let response = app
        .post_form(
            "/v1/oauth/device/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", crate::helpers::CLI),
                ("refresh_token", refresh_token(&grant)),
            ],
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    expect_oauth_error(response, 503, "temporarily_unavailable").await;
    // Back up: the same refresh token still works, and the provider is asked.
    provider.set_refresh_outage(false);
    refreshed(&app, &grant).await;
    assert_eq!(provider.refreshes(), 2);
}

async fn racing_refreshes_due_a_recheck_ask_the_provider_once(backend: Backend) {
    let provider = TestProvider::start().await;
    let app = leaver_app(backend, &provider).await;
    let grant = external_grant(&app, &provider, "laptop").await;
    app.advance(PAST_THE_PERIOD);
    let token = refresh_token(&grant).to_owned();
    let answers = futures::future::join_all((0..20).map(|_| refresh_at(&app, &token))).await;
    let successes = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(successes, 1, "{answers:?}");
    assert!(answers.iter().all(|(status, body)| *status == 200 || body["error"] == "invalid_grant"), "{answers:?}");
    // One call at the provider: a provider that rotates refresh tokens would
    // take a second use of one as theft and end the person's sign-in there.
    assert_eq!(provider.refreshes(), 1);
    assert_eq!(provider.live_refresh_tokens(), 1);
    // As for every grant, the others were reuse: the grant ended.
    let winner = &answers.iter().find(|(status, _)| *status == 200).expect("winner").1;
    assert_eq!(app.me(winner["access_token"].as_str().expect("token")).await.status(), 401);
}

async fn without_offline_access_nothing_is_kept_and_nothing_is_asked(backend: Backend) {
    let provider = TestProvider::start().await;
    let app =
        sso_app_with(backend, gatehouse::config::SsoConfig { offline_access: false, ..provider.config(&[]) }).await;
    let flow = app.start_flow(&[]).await;
    let started = initiate(&app, flow["user_code"].as_str().expect("code")).await;
    assert!(!started.authorize_url.contains("offline_access") && !started.authorize_url.contains("prompt="));
    let with = leaver_app(backend, &provider).await;
    let flow = with.start_flow(&[]).await;
    let started = initiate(&with, flow["user_code"].as_str().expect("code")).await;
    let url = url::Url::parse(&started.authorize_url).expect("url");
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert!(param("scope").is_some_and(|s| s.split(' ').any(|s| s == "offline_access")), "{url}");
    assert_eq!(param("prompt").as_deref(), Some("consent"), "OpenID Connect Core §11");

    // Without a provider refresh token, refreshes never ask the provider.
    let grant = external_grant(&app, &provider, "laptop").await;
    assert_eq!(provider.live_refresh_tokens(), 0);
    app.advance(PAST_THE_PERIOD);
    refreshed(&app, &grant).await;
    assert_eq!(provider.refreshes(), 0);
}

const ADMINS: &str = "gatehouse-admins";

/// Ada's `admin` grant, approved while she is in `gatehouse-admins`, with
/// the app whose admins that group's members are.
async fn an_sso_admins_grant(backend: Backend, provider: &TestProvider, offline: bool) -> (TestApp, Value) {
    let mut sso = gatehouse::config::SsoConfig { offline_access: offline, ..provider.config(&[]) };
    sso.admin_groups = vec![ADMINS.to_owned()];
    let app = sso_app_with(backend, sso).await;
    let flow = app.start_flow(&[("scope", "full admin"), ("device_label", "ops-box")]).await;
    let ada = Spoil {
        sub: Some("ada-1".into()),
        email: Some(Some("ada@sso.example".into())),
        extra_claims: vec![("groups", serde_json::json!([ADMINS]))],
        ..Spoil::default()
    };
    let approved = approve_external_as(&app, provider, flow["user_code"].as_str().expect("code"), ada).await;
    assert_eq!(approved.status(), 200);
    let (status, grant) = app.poll(flow["device_code"].as_str().expect("code")).await;
    assert_eq!(status, 200, "{grant}");
    (app, grant)
}

/// The admin API's answer to `grant`'s access token.
async fn admin_call(app: &TestApp, grant: &Value) -> u16 {
    let access = grant["access_token"].as_str().expect("token");
    let response = app.device.get(app.url("/v1/admin/clients")).bearer_auth(access).send().await.expect("call");
    response.status().as_u16()
}

async fn audited(app: &TestApp, kind: AuditKind) -> Vec<gatehouse_core::ports::AuditEvent> {
    let events = app.services.ports().audit.recent(200).await.expect("audit");
    events.into_iter().filter(|e| e.kind == kind).collect()
}

/// Admin rights follow the provider's groups at every recheck, not only at
/// interactive sign-ins: taken out of the admin group, a person's refreshed
/// grant no longer administers, and back in, it does again. The groups come
/// from the refreshed ID token, or from userinfo when a refresh has none.
async fn admin_rights_follow_the_providers_groups_at_each_recheck(backend: Backend) {
    let provider = TestProvider::start().await;
    let (app, grant) = an_sso_admins_grant(backend, &provider, true).await;
    assert_eq!(admin_call(&app, &grant).await, 200);

    provider.change_claims("ada-1", vec![("groups", serde_json::json!(["staff"]))]);
    let grant = refreshed(&app, &grant).await;
    assert_eq!(admin_call(&app, &grant).await, 200, "within the period the provider is not asked");
    app.advance(PAST_THE_PERIOD);
    let grant = refreshed(&app, &grant).await;
    assert_eq!(provider.refreshes(), 1);
    assert_eq!(admin_call(&app, &grant).await, 403, "out of the group at the provider");
    let removed = audited(&app, AuditKind::AdminRemoved).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].details["by"], "sso_groups_recheck");
    assert_eq!(removed[0].subject.as_deref(), Some("ada@sso.example"));

    // Back in the group, told by userinfo this time.
    provider.refresh_without_id_token(true);
    provider.change_claims("ada-1", vec![("groups", serde_json::json!([ADMINS]))]);
    app.advance(PAST_THE_PERIOD);
    let grant = refreshed(&app, &grant).await;
    assert_eq!(admin_call(&app, &grant).await, 200);
    let granted = audited(&app, AuditKind::AdminGranted).await;
    assert_eq!(granted[0].details["by"], "sso_groups_recheck");
    assert_eq!(granted[0].details["admin_groups_held"], serde_json::json!([ADMINS]));
}

/// A refreshed ID token that fails verification tells nothing about the
/// person: their admin rights lapse, but the grant and the provider's
/// rotated refresh token are kept, so the next recheck still works.
async fn an_unverifiable_recheck_lapses_admin_rights_and_keeps_the_grant(backend: Backend) {
    let provider = TestProvider::start().await;
    let (app, grant) = an_sso_admins_grant(backend, &provider, true).await;
    provider.forge_refreshed_id_tokens(true);
    app.advance(PAST_THE_PERIOD);
    let grant = refreshed(&app, &grant).await;
    assert_eq!(admin_call(&app, &grant).await, 403, "not confirmed, so not kept");
    provider.forge_refreshed_id_tokens(false);
    app.advance(PAST_THE_PERIOD);
    let grant = refreshed(&app, &grant).await;
    assert_eq!(provider.refreshes(), 2, "the rotated provider token was kept and honoured");
    assert_eq!(admin_call(&app, &grant).await, 200);
}

/// A provider answering a recheck for someone else (another `sub`) no
/// longer vouches for the grant's person: the grant ends.
async fn a_recheck_naming_another_person_ends_the_grant(backend: Backend) {
    let provider = TestProvider::start().await;
    let (app, grant) = an_sso_admins_grant(backend, &provider, true).await;
    provider.refresh_without_id_token(true);
    provider.change_claims("ada-1", vec![("sub", serde_json::json!("someone-else"))]);
    app.advance(PAST_THE_PERIOD);
    let (status, body) = refresh_at(&app, refresh_token(&grant)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(app.me(grant["access_token"].as_str().expect("token")).await.status(), 401);
}

/// Without the provider's refresh token nothing could recheck the groups,
/// so an `admin` grant gets no refresh token and ends with its access token.
async fn an_admin_grant_the_provider_cannot_recheck_gets_no_refresh_token(backend: Backend) {
    let provider = TestProvider::start().await;
    let (app, grant) = an_sso_admins_grant(backend, &provider, false).await;
    assert_eq!(admin_call(&app, &grant).await, 200);
    assert!(grant.get("refresh_token").is_none_or(Value::is_null), "{grant}");
    // A grant without `admin` still refreshes as before.
    let plain = external_grant(&app, &provider, "laptop").await;
    assert!(plain["refresh_token"].is_string(), "{plain}");
}

on_every_backend!(
    admin_rights_follow_the_providers_groups_at_each_recheck,
    an_unverifiable_recheck_lapses_admin_rights_and_keeps_the_grant,
    a_recheck_naming_another_person_ends_the_grant,
    an_admin_grant_the_provider_cannot_recheck_gets_no_refresh_token,
    a_person_who_left_at_the_provider_loses_the_grant_at_the_next_recheck,
    a_provider_outage_fails_the_refresh_closed_and_changes_nothing,
    racing_refreshes_due_a_recheck_ask_the_provider_once,
    without_offline_access_nothing_is_kept_and_nothing_is_asked,
);
