//! A stock Rust OAuth client, unchanged: the `oauth2` crate's device flow,
//! then its refresh (RFC 6749 §6).

use crate::helpers::{Backend, spawn_app};
use crate::on_every_backend;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, DeviceAuthorizationUrl, RequestTokenError, Scope, StandardDeviceAuthorizationResponse,
    TokenResponse, TokenUrl,
};

async fn the_oauth2_crate_completes_the_device_flow(backend: Backend) {
    let app = spawn_app(backend).await;
    let account = app.create_account("ada@example.com").await;
    let client = BasicClient::new(ClientId::new("gatehouse-cli".to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(app.url("/v1/oauth/device/token")).expect("url"))
        .set_device_authorization_url(DeviceAuthorizationUrl::new(app.url("/v1/oauth/device/code")).expect("url"));
    let http = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("full".to_owned()))
        .request_async(&http)
        .await
        .expect("device authorization");
    assert_eq!(details.verification_uri().as_str(), app.url("/device"));
    app.approve(details.user_code().secret(), &account).await;

    // The crate sleeps `interval` between polls; the real clock drives it,
    // so move the server's clock along with it.
    let clock = app.clock.clone();
    let sleep = move |duration: std::time::Duration| {
        clock.advance(chrono::Duration::from_std(duration).unwrap_or_default());
        tokio::time::sleep(std::time::Duration::from_millis(10))
    };
    let token = client.exchange_device_access_token(&details).request_async(&http, sleep, None).await.expect("token");
    assert!(token.access_token().secret().starts_with("gtha_"));
    assert_eq!(
        token.scopes().map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["full".to_owned()])
    );
    assert_eq!(app.me(token.access_token().secret()).await.status(), 200);

    // An hour later the access token has ended; the crate refreshes.
    assert_eq!(token.expires_in(), Some(std::time::Duration::from_secs(3600)));
    app.advance(3601);
    assert_eq!(app.me(token.access_token().secret()).await.status(), 401);
    let refresh_token = token.refresh_token().expect("a refresh token");
    let refreshed = client.exchange_refresh_token(refresh_token).request_async(&http).await.expect("refresh");
    assert_eq!(app.me(refreshed.access_token().secret()).await.status(), 200);
    assert_ne!(refreshed.refresh_token().map(|t| t.secret()), Some(refresh_token.secret()), "rotated");

    // The crate sees reuse of the old one as the RFC error it is.
    match client.exchange_refresh_token(refresh_token).request_async(&http).await {
        Err(RequestTokenError::ServerResponse(err)) => {
            assert_eq!(err.error().to_string(), "invalid_grant");
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    assert_eq!(app.me(refreshed.access_token().secret()).await.status(), 401, "the grant ended");
}

on_every_backend!(the_oauth2_crate_completes_the_device_flow);
