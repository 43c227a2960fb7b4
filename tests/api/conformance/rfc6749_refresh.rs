//! RFC 6749 §6 refresh of the grants the device flow creates, with the
//! rotation and reuse detection of RFC 9700 §4.14.2.

use crate::helpers::{Backend, CLI, TestApp, expect_oauth_error, spawn_app, spawn_app_with};
use crate::on_every_backend;
use gatehouse_core::model::{ClientType, TokenPolicy};
use gatehouse_core::ports::AuditKind;
use serde_json::Value;

const TOKEN: &str = "/v1/oauth/device/token";

/// Refreshes `refresh_token` as the CLI client.
async fn refresh(app: &TestApp, refresh_token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("client_id", CLI), ("refresh_token", refresh_token)];
    form.extend_from_slice(extra);
    let response = app.post_form(TOKEN, &form).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or_else(|| panic!("{field} in {body}"))
}

async fn a_refreshing_client_gets_a_refresh_token_and_a_short_access_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.redeemed(&[("device_label", "laptop")]).await;
    assert!(text(&token, "refresh_token").starts_with("gthr_"), "{token}");
    assert_eq!(token["expires_in"], 3600, "access tokens live an hour by default");
    let grant_ends = chrono::DateTime::parse_from_rfc3339(text(&token, "grant_expires_at")).expect("rfc3339");
    let idle = app.clock_now() + chrono::Duration::days(30);
    assert!((grant_ends.timestamp() - idle.timestamp()).abs() <= 2, "the idle lifetime bounds it: {token}");

    // A client not allowed refresh tokens gets none, and no grant end.
    app.register_client("plain", ClientType::Public, &["full"], true).await;
    let account = app.ada().await;
    let flow = app.start_flow_as("plain", &[]).await;
    app.approve(text(&flow, "user_code"), &account).await;
    let (status, plain) = app.poll_as(text(&flow, "device_code"), "plain").await;
    assert_eq!(status, 200, "{plain}");
    assert!(plain.get("refresh_token").is_none() && plain.get("grant_expires_at").is_none(), "{plain}");
    // Its refresh grant is refused as the RFC says.
    let (status, body) = {
        let response = app
            .post_form(
                TOKEN,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "plain"),
                    ("refresh_token", text(&token, "refresh_token")),
                ],
            )
            .await;
        (response.status().as_u16(), response.json::<Value>().await.expect("json"))
    };
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "another client's refresh token: {body}");
}

async fn a_refresh_rotates_both_tokens_of_the_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.redeemed(&[("device_label", "laptop")]).await;
    let old_access = text(&first, "access_token");
    assert_eq!(app.me(old_access).await.status(), 200, "warm the cache");

    let (status, second) = refresh(&app, text(&first, "refresh_token"), &[]).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["token_id"], first["token_id"], "the same grant");
    assert_eq!(second["scope"], first["scope"]);
    assert_eq!(second["subject_type"], "account");
    assert_eq!(second["account"]["email"], "ada@example.com");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert!(text(&second, "access_token").starts_with("gtha_"));

    assert_eq!(app.me(old_access).await.status(), 401, "the replaced access token stops at once");
    assert_eq!(app.me(text(&second, "access_token")).await.status(), 200);
    let (status, third) = refresh(&app, text(&second, "refresh_token"), &[]).await;
    assert_eq!(status, 200, "the new refresh token works: {third}");
}

async fn a_rotated_refresh_token_presented_again_ends_the_grant_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    // A second instance sharing the database and state store (PostgreSQL +
    // Redis); the embedded backend is one process.
    let sibling = match backend {
        Backend::Embedded => None,
        Backend::PostgresRedis | Backend::Postgres => Some(
            spawn_app_with(backend, |config| {
                config.database_url = app.database_url.clone();
                config.redis_key_prefix = app.redis_key_prefix.clone();
            })
            .await,
        ),
    };
    let first = app.redeemed(&[("device_label", "laptop")]).await;
    let (status, second) = refresh(&app, text(&first, "refresh_token"), &[]).await;
    assert_eq!(status, 200, "{second}");
    let access = text(&second, "access_token");
    assert_eq!(app.me(access).await.status(), 200);
    if let Some(sibling) = &sibling {
        assert_eq!(sibling.me(access).await.status(), 200, "cached on the other instance too");
    }

    // The retired token again: a retry whose answer was lost, or a copy.
    let (status, body) = refresh(&app, text(&first, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    assert_eq!(app.me(access).await.status(), 401, "the whole grant ends");
    if let Some(sibling) = &sibling {
        assert_eq!(sibling.me(access).await.status(), 401, "on every instance at once");
    }
    let (status, body) = refresh(&app, text(&second, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "the current refresh token died with it");

    let all = app.services.ports().audit.recent(200).await.expect("audit");
    let reuse: Vec<_> = all.iter().filter(|e| e.kind == AuditKind::RefreshReuseDetected).collect();
    assert_eq!(reuse.len(), 1, "audited once: {reuse:?}");
    assert_eq!(reuse[0].subject.as_deref(), Some("ada@example.com"));
    assert_eq!(reuse[0].details["grant_id"], first["token_id"]);
    let revoked =
        all.iter().filter(|e| e.kind == AuditKind::TokenRevoked && e.details["by"] == "refresh_reuse").count();
    assert_eq!(revoked, 1);

    // Presenting it yet again changes nothing more.
    let (status, _) = refresh(&app, text(&first, "refresh_token"), &[]).await;
    assert_eq!(status, 400);
    let all = app.services.ports().audit.recent(200).await.expect("audit");
    assert_eq!(all.iter().filter(|e| e.kind == AuditKind::RefreshReuseDetected).count(), 1);
}

async fn concurrent_refreshes_with_one_token_give_exactly_one_success(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.redeemed(&[("device_label", "laptop")]).await;
    let refresh_token = text(&first, "refresh_token").to_owned();
    let attempts = (0..20).map(|_| {
        let app = &app;
        let refresh_token = refresh_token.clone();
        async move { refresh(app, &refresh_token, &[]).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let winners: Vec<_> = answers.iter().filter(|(status, _)| *status == 200).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!((*status, text(body, "error")), (400, "invalid_grant"), "{body}");
    }
    // The 19 others presented a token the winner had retired: reuse, so the
    // grant ends (docs/api.md, "Grants and refresh tokens"), the winner's tokens with it.
    let won = &winners[0].1;
    assert_eq!(app.me(text(won, "access_token")).await.status(), 401);
    let (status, _) = refresh(&app, text(won, "refresh_token"), &[]).await;
    assert_eq!(status, 400);
}

/// Refreshes `refresh_token` as `client_id`.
async fn refresh_as(app: &TestApp, client_id: &str, refresh_token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", refresh_token)];
    form.extend_from_slice(extra);
    let response = app.post_form(TOKEN, &form).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn a_refresh_may_narrow_the_scope_never_widen_it(backend: Backend) {
    const BOTH: &str = "apps:run apps:read:permitted-external";
    let app = spawn_app(backend).await;
    app.register_client("narrow", ClientType::Public, &["apps:run", "apps:read:permitted-external"], true).await;
    let refreshing = TokenPolicy { refresh_allowed: true, ..TokenPolicy::default() };
    app.set_client_policy("narrow", refreshing.clone()).await;
    let account = app.ada().await;
    let flow = app.start_flow_as("narrow", &[("scope", BOTH)]).await;
    app.approve(text(&flow, "user_code"), &account).await;
    let (_, first) = app.poll_as(text(&flow, "device_code"), "narrow").await;
    assert_eq!(first["scope"], BOTH, "{first}");

    let (status, narrow) = refresh_as(&app, "narrow", text(&first, "refresh_token"), &[("scope", "apps:run")]).await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "apps:run");
    let me: Value = app.me(text(&narrow, "access_token")).await.json().await.expect("json");
    assert_eq!(me["scopes"], serde_json::json!(["apps:run"]));
    // The grant keeps what was approved: the next refresh may ask for it again.
    let (status, both) = refresh_as(&app, "narrow", text(&narrow, "refresh_token"), &[]).await;
    assert_eq!((status, both["scope"].as_str()), (200, Some(BOTH)), "{both}");

    // An unknown scope, alone or beside a granted one, and one the grant
    // does not hold. (An empty parameter counts as absent, as everywhere on
    // this surface.)
    for scope in ["nonsense", "apps:run nonsense", "full"] {
        let (status, body) = refresh_as(&app, "narrow", text(&both, "refresh_token"), &[("scope", scope)]).await;
        assert_eq!((status, text(&body, "error")), (400, "invalid_scope"), "{scope}: {body}");
    }
    // A refused refresh rotated nothing: the token still works.
    let (status, after) = refresh_as(&app, "narrow", text(&both, "refresh_token"), &[("scope", BOTH)]).await;
    assert_eq!((status, after["scope"].as_str()), (200, Some(BOTH)), "{after}");

    // The client may no longer ask for one of them: the next access token
    // carries only what the client is allowed now.
    let edit = gatehouse_core::ports::ClientEdit {
        name: "narrow".into(),
        allowed_scopes: vec!["apps:run".into()],
        device_grant_enabled: true,
        policy: refreshing,
        approval: Default::default(),
    };
    app.services.clients.update(&gatehouse_core::Admin::command_line(), "narrow", edit).await.expect("update");
    let (status, body) = refresh_as(&app, "narrow", text(&after, "refresh_token"), &[]).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("apps:run")), "{body}");

    // `full` lets its holder use Gatehouse's own routes that need apps:run,
    // but a refresh names only scopes approved by name: a resource server
    // reading the scope literally must never see one nobody approved.
    let cli = app.redeemed(&[("device_label", "laptop")]).await;
    assert_eq!(cli["scope"], "full");
    let (status, body) = refresh(&app, text(&cli, "refresh_token"), &[("scope", "apps:run")]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_scope"), "{body}");
}

async fn every_refresh_checks_the_account_and_the_client_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.redeemed(&[("device_label", "laptop")]).await;
    let (status, second) = refresh(&app, text(&first, "refresh_token"), &[]).await;
    assert_eq!(status, 200);

    // The client loses the right to refresh: unauthorized_client, grant kept.
    app.set_client_policy(CLI, TokenPolicy::default()).await;
    let (status, body) = refresh(&app, text(&second, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "unauthorized_client"), "{body}");
    app.set_client_policy(CLI, TokenPolicy { refresh_allowed: true, ..TokenPolicy::default() }).await;

    // The client is disabled: invalid_client.
    let admin = gatehouse_core::Admin::command_line();
    assert!(app.services.clients.disable(&admin, CLI).await.expect("disable"));
    let (status, body) = refresh(&app, text(&second, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (401, "invalid_client"), "{body}");
    assert!(app.services.clients.enable(&admin, CLI).await.expect("enable"));

    // The account is disabled behind Gatehouse's back: the grant ends.
    let account = app.ada().await;
    app.disable_account_in_database(&account).await;
    let (status, body) = refresh(&app, text(&second, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    let grant = uuid::Uuid::parse_str(text(&first, "token_id")).expect("id");
    let row = app.services.ports().tokens.find_by_id(grant).await.expect("find").expect("row");
    assert!(row.revoked_at.is_some(), "revoked");
}

async fn grants_end_when_idle_or_at_their_absolute_lifetime(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.redeemed(&[("device_label", "laptop")]).await;
    // Past the access token's hour it is refused, and the grant refreshes.
    app.advance(3601);
    let response = app.me(text(&first, "access_token")).await;
    assert_eq!(response.status(), 401);
    let (status, mut current) = refresh(&app, text(&first, "refresh_token"), &[]).await;
    assert_eq!(status, 200, "{current}");
    // Refreshed every 29 days it lives 90 days from its approval, no longer.
    for _ in 0..3 {
        app.advance(29 * 86_400);
        let (status, next) = refresh(&app, text(&current, "refresh_token"), &[]).await;
        assert_eq!(status, 200, "{next}");
        current = next;
    }
    assert!(current["expires_in"].as_u64().expect("expires_in") <= 3600);
    app.advance(4 * 86_400); // day 91
    let (status, body) = refresh(&app, text(&current, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "absolute end: {body}");

    // Unrefreshed for 30 days, a grant ends.
    let other = app.redeemed(&[("device_label", "desktop")]).await;
    app.advance(30 * 86_400 + 1);
    let (status, body) = refresh(&app, text(&other, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "idle end: {body}");

    // A client's own lifetimes win over the server's.
    app.set_client_policy(
        CLI,
        TokenPolicy {
            refresh_allowed: true,
            access_token_ttl: Some(120),
            grant_idle_ttl: Some(600),
            ..TokenPolicy::default()
        },
    )
    .await;
    let short = app.redeemed(&[("device_label", "phone")]).await;
    assert_eq!(short["expires_in"], 120, "{short}");
    app.advance(601);
    let (status, _) = refresh(&app, text(&short, "refresh_token"), &[]).await;
    assert_eq!(status, 400, "idle after 10 minutes");
}

async fn malformed_refresh_requests_get_the_rfc_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_form(TOKEN, &[("grant_type", "refresh_token"), ("client_id", CLI)]).await;
    expect_oauth_error(response, 400, "invalid_request").await;
    for garbage in ["gthr_nonsense", "not-a-token", "gthr_000000000000000000000000000000000000"] {
        let (status, body) = refresh(&app, garbage, &[]).await;
        assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{garbage}: {body}");
    }
    // An access token is not a refresh token.
    let token = app.redeemed(&[]).await;
    let (status, body) = refresh(&app, text(&token, "access_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    let response = app
        .post_form(
            TOKEN,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "nobody"),
                ("refresh_token", text(&token, "refresh_token")),
            ],
        )
        .await;
    expect_oauth_error(response, 401, "invalid_client").await;
    // Nothing above touched the grant.
    let (status, _) = refresh(&app, text(&token, "refresh_token"), &[]).await;
    assert_eq!(status, 200);
}

async fn refresh_tokens_are_revoked_and_introspected_as_their_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let secret = app.register_client("rs", ClientType::Confidential, &["full"], false).await.expect("secret");
    let introspect = |token: String| {
        let (app, secret) = (&app, secret.clone());
        async move {
            let response = app
                .device
                .post(app.url("/v1/oauth/introspect"))
                .basic_auth("rs", Some(&secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .expect("request");
            response.json::<Value>().await.expect("json")
        }
    };
    let first = app.redeemed(&[("device_label", "laptop")]).await;
    let body = introspect(text(&first, "refresh_token").to_owned()).await;
    assert_eq!(body["active"], true, "{body}");
    assert!(body.get("token_type").is_none(), "a refresh token has no access token type: {body}");
    assert_eq!(body["client_id"], CLI);
    assert_eq!(body["grant_id"], first["token_id"]);
    let access = introspect(text(&first, "access_token").to_owned()).await;
    assert_eq!(access["token_type"], "Bearer");
    assert!(body["exp"].as_i64() > access["exp"].as_i64(), "the refresh token outlives the access token");

    let (_, second) = refresh(&app, text(&first, "refresh_token"), &[]).await;
    assert_eq!(introspect(text(&first, "refresh_token").to_owned()).await["active"], false, "retired");

    // Revoking the refresh token (RFC 7009 §2.1) ends the access token too.
    let response = app
        .post_form(
            "/v1/oauth/revoke",
            &[("client_id", CLI), ("token", text(&second, "refresh_token")), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(text(&second, "access_token")).await.status(), 401);
    assert_eq!(introspect(text(&second, "refresh_token").to_owned()).await["active"], false);
    let (status, _) = refresh(&app, text(&second, "refresh_token"), &[]).await;
    assert_eq!(status, 400);

    // An admin revoking a grant (the console's one row per device) ends its
    // refresh token with its access token.
    let other = app.redeemed(&[("device_label", "desktop")]).await;
    let grant = uuid::Uuid::parse_str(text(&other, "token_id")).expect("id");
    let admin = gatehouse_core::Admin::command_line();
    assert!(app.services.authorizations.admin_revoke(&admin, grant, None).await.expect("revoke"));
    let (status, body) = refresh(&app, text(&other, "refresh_token"), &[]).await;
    assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    assert_eq!(app.me(text(&other, "access_token")).await.status(), 401);
}

async fn unknown_refresh_tokens_are_limited_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        crate::helpers::set_limit(config, gatehouse_core::rate_limit::Limiter::UnknownRefreshTokenPerIp, "2/1h");
    })
    .await;
    let token = app.redeemed(&[]).await;
    // Well-formed (prefix and checksum) but unknown: each costs a lookup.
    for i in 0..2u8 {
        let junk = gatehouse_core::formats::token::RefreshToken::derive([i; 32]);
        let (status, body) = refresh(&app, junk.expose(), &[]).await;
        assert_eq!((status, text(&body, "error")), (400, "invalid_grant"), "{body}");
    }
    let junk = gatehouse_core::formats::token::RefreshToken::derive([9; 32]);
    let response = app
        .post_form(TOKEN, &[("grant_type", "refresh_token"), ("client_id", CLI), ("refresh_token", junk.expose())])
        .await;
    assert_eq!(response.status(), 429);
    // A malformed one is refused before any lookup, and a real one still works.
    let (status, _) = refresh(&app, "gthr_not-a-token", &[]).await;
    assert_eq!(status, 400);
    let (status, body) = refresh(&app, text(&token, "refresh_token"), &[]).await;
    assert_eq!(status, 200, "{body}");
}

on_every_backend!(
    unknown_refresh_tokens_are_limited_per_address,
    a_refreshing_client_gets_a_refresh_token_and_a_short_access_token,
    a_refresh_rotates_both_tokens_of_the_grant,
    a_rotated_refresh_token_presented_again_ends_the_grant_everywhere,
    concurrent_refreshes_with_one_token_give_exactly_one_success,
    a_refresh_may_narrow_the_scope_never_widen_it,
    every_refresh_checks_the_account_and_the_client_again,
    grants_end_when_idle_or_at_their_absolute_lifetime,
    malformed_refresh_requests_get_the_rfc_errors,
    refresh_tokens_are_revoked_and_introspected_as_their_grant,
);
