//! Client credentials (RFC 6749 §2.3): `client_secret_post` or
//! `client_secret_basic`, or just `client_id` for public clients.

use super::params::OAuthParams;
use axum::http::HeaderMap;
use gatehouse_core::{OAuthError, OAuthErrorCode, SecretString};

/// Client credentials from the body (`client_secret_post`) or HTTP Basic
/// (`client_secret_basic`); using both, or naming two client ids, is refused.
pub fn client_credentials(
    headers: &HeaderMap,
    params: &OAuthParams,
) -> Result<(Option<String>, Option<SecretString>), OAuthError> {
    let basic = super::params::single_authorization(headers)?
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let Some(encoded) = basic else {
        return Ok((params.owned("client_id"), params.owned("client_secret").map(SecretString::new)));
    };
    let invalid_client = || OAuthError::new(OAuthErrorCode::InvalidClient, "malformed HTTP Basic credentials");
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
    // RFC 6749 §2.3.1: both halves are form-urlencoded.
    let decode = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    let (id, secret) = (decode(id).unwrap_or_default(), decode(secret).unwrap_or_default());
    if params.get("client_secret").is_some() {
        return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "use one client authentication method"));
    }
    if params.get("client_id").is_some_and(|body_id| body_id != id) {
        return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "client_id does not match the credentials"));
    }
    Ok((Some(id), Some(SecretString::new(secret))))
}
