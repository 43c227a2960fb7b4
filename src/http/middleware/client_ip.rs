//! The client's address: the TCP peer, or the `X-Forwarded-For` entry added
//! by the nearest trusted proxy when the peer is one. Untrusted peers cannot
//! choose the address rate limits and audit events see.

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_app::ClientIp;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

/// Walks `X-Forwarded-For` from the right, skipping trusted proxies; the
/// first untrusted hop is the client.
pub fn resolve(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.trusts(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.trusts(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

/// Computes the client address once and stores it in the request extensions.
pub async fn layer(State(trusted): State<Arc<TrustedProxies>>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = resolve(peer, forwarded, &trusted).map(|ip| ip.to_string());
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

/// Extractor for the address `layer` computed.
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<ClientIp>().and_then(|ip| ip.0.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let trusted = TrustedProxies(vec![]);
        assert_eq!(resolve(ip("203.0.113.9"), Some("1.2.3.4"), &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted = TrustedProxies(ip("10.0.0.1").into_iter().chain(ip("10.0.0.2")).collect());
        assert_eq!(resolve(ip("10.0.0.1"), Some("1.2.3.4, 198.51.100.7, 10.0.0.2"), &trusted), ip("198.51.100.7"));
        assert_eq!(resolve(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
        assert_eq!(resolve(ip("10.0.0.1"), Some("garbage"), &trusted), ip("10.0.0.1"));
    }
}
