//! Reading answers: an OAuth error's status, body and headers, and a
//! hidden input of server-rendered HTML.

use serde_json::Value;

/// Checks an OAuth error answer (RFC 6749 §5.2): the status, a JSON body with
/// `error` and a string `error_description`, no caching, and the
/// `WWW-Authenticate` challenge that a 401 needs. Returns the body.
pub async fn expect_oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status, "status for {error}");
    let headers = response.headers().clone();
    assert_eq!(headers.get("content-type").map(|v| v.as_bytes()), Some(&b"application/json"[..]), "{error}");
    assert_eq!(headers.get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{error}");
    assert_eq!(headers.get("pragma").map(|v| v.as_bytes()), Some(&b"no-cache"[..]), "{error}");
    if status == 401 {
        assert!(headers.contains_key("www-authenticate"), "401 {error} needs a challenge");
    }
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    body
}

/// The value of `<input … name="NAME" value="…">` in server-rendered HTML.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let start = html.find(&marker)?;
    let tag_start = html[..start].rfind('<')?;
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let value_at = tag.find("value=\"")? + "value=\"".len();
    let value_end = value_at + tag[value_at..].find('"')?;
    Some(tag[value_at..value_end].to_owned())
}
