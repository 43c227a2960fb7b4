//! OAuth request parameters from `application/x-www-form-urlencoded` (the
//! RFC encoding) or `application/json`, with the RFC's rules: every other
//! content type, a repeated parameter, or a non-string JSON value is
//! `invalid_request`, and every rejection is JSON — never axum's plain text.

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use gatehouse_core::{OAuthError, OAuthErrorCode};
use std::collections::HashMap;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The parameters of an OAuth request, each present at most once.
#[derive(Debug, Default)]
pub struct OAuthParams(HashMap<String, String>);

impl OAuthParams {
    /// The parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The parameter as an owned string.
    pub fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// Parses form-encoded pairs, rejecting repeats and anything that is not
    /// UTF-8 once decoded (`%C3%28`): a lossy decoding would let two
    /// different byte strings name the same client or code.
    pub fn from_form(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let (name, value) = (decode_strict(name)?, decode_strict(value)?);
            if params.contains_key(&name) {
                return Err(invalid(format!("parameter {name} is repeated")));
            }
            params.insert(name, value);
        }
        Ok(Self(params))
    }

    /// Parses a flat JSON object of string values.
    pub fn from_json(body: &[u8]) -> Result<Self, OAuthError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| invalid("the body is not valid JSON".to_owned()))?;
        let serde_json::Value::Object(object) = value else {
            return Err(invalid("the JSON body must be an object".to_owned()));
        };
        let mut params = HashMap::new();
        for (name, value) in object {
            match value {
                serde_json::Value::String(s) => {
                    params.insert(name, s);
                }
                serde_json::Value::Null => {}
                _ => return Err(invalid(format!("parameter {name} must be a string"))),
            }
        }
        Ok(Self(params))
    }
}

/// One form-urlencoded name or value: `+` is a space, `%XX` a byte, and
/// the bytes must be UTF-8.
fn decode_strict(raw: &[u8]) -> Result<String, OAuthError> {
    let spaced: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| invalid("the form body is not valid UTF-8".to_owned()))
}

/// The request's one `Authorization` header, if any. Two are refused
/// (`invalid_request`) rather than letting the first one win: a proxy and
/// the server must never disagree about who is asking.
pub fn single_authorization(headers: &HeaderMap) -> Result<Option<&HeaderValue>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(invalid("send one Authorization header".to_owned()));
    }
    Ok(first)
}

/// The request's one `DPoP` header (RFC 9449 §4.1), if any; `Err` when
/// there are several or it is not text (§4.3 step 1: exactly one).
pub fn single_dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all("dpop").iter();
    let first = values.next();
    if values.next().is_some() {
        return Err("send one DPoP header");
    }
    first.map(|value| value.to_str().map_err(|_| "the DPoP header is not a compact JWS")).transpose()
}

fn invalid(description: String) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidRequest, description)
}

/// Why the parameters could not be read.
#[derive(Debug)]
pub enum ParamsRejection {
    TooLarge,
    Invalid(OAuthError),
}

impl<S: Send + Sync> FromRequest<S> for OAuthParams {
    type Rejection = ParamsRejection;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        let is_form = content_type == "application/x-www-form-urlencoded";
        let is_json = content_type == "application/json";
        if !is_form && !is_json {
            return Err(ParamsRejection::Invalid(invalid(
                "content type must be application/x-www-form-urlencoded or application/json".to_owned(),
            )));
        }
        let body =
            axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| ParamsRejection::TooLarge)?;
        let parsed = if is_form { Self::from_form(&body) } else { Self::from_json(&body) };
        parsed.map_err(ParamsRejection::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_rejects_repeats_and_treats_empty_as_absent() {
        assert!(OAuthParams::from_form(b"client_id=a&client_id=b").is_err());
        let params = OAuthParams::from_form(b"client_id=a&scope=").unwrap_or_default();
        assert_eq!(params.get("client_id"), Some("a"));
        assert_eq!(params.get("scope"), None);
    }

    #[test]
    fn form_decoding_is_strict_utf8() {
        let params = OAuthParams::from_form(b"client_id=caf%C3%A9&label=a+b&empty").unwrap_or_default();
        assert_eq!(params.get("client_id"), Some("café"));
        assert_eq!(params.get("label"), Some("a b"));
        assert!(OAuthParams::from_form(b"client_id=%C3%28").is_err());
        assert!(OAuthParams::from_form(&[b'a', b'=', 0xff]).is_err());
        // A repeat is a repeat however it is spelled.
        assert!(OAuthParams::from_form(b"client_id=a&client%5Fid=b").is_err());
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(single_authorization(&headers).is_ok_and(|v| v.is_none()));
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        assert!(single_authorization(&headers).is_ok_and(|v| v.is_some()));
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert!(single_authorization(&headers).is_err());
    }

    #[test]
    fn json_takes_only_string_values() {
        assert!(OAuthParams::from_json(br#"{"client_id": 5}"#).is_err());
        assert!(OAuthParams::from_json(b"[]").is_err());
        let params = OAuthParams::from_json(br#"{"client_id": "a", "scope": null}"#).unwrap_or_default();
        assert_eq!(params.get("client_id"), Some("a"));
    }
}
