//! The client's address: the TCP peer, or, when the peer is a trusted proxy,
//! the address the proxies recorded in the forwarding header. Untrusted peers
//! cannot choose the address rate limits and audit events see.
//!
//! The proxies' header is a setting (`GATEHOUSE_PROXY_HEADER`), never a
//! guess: a proxy that appends to `X-Forwarded-For` passes a client's own
//! `Forwarded` header through untouched, so reading whichever is present
//! would let the client pick its address.

use super::access_log::{REQUEST_ID, acceptable_request_id};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_app::ClientIp;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The header the trusted proxies record the client in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (every line, in order).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

impl ProxyHeader {
    /// Parses the setting's value.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(Self::XForwardedFor),
            "forwarded" => Some(Self::Forwarded),
            _ => None,
        }
    }

    /// The hops the header lists, left (the client, as the first proxy saw
    /// it) to right (what the nearest proxy saw). All lines of the header are
    /// joined in order (RFC 9110 §5.3); an entry that is not an address
    /// (`unknown`, an obfuscated node, garbage) is `None`.
    fn hops(self, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
        let name = match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        };
        let mut hops = Vec::new();
        for line in headers.get_all(name) {
            let Ok(line) = line.to_str() else {
                hops.push(None);
                continue;
            };
            match self {
                Self::XForwardedFor => hops.extend(line.split(',').map(|hop| parse_node(hop.trim()))),
                Self::Forwarded => hops.extend(forwarded_line(line)),
            }
        }
        hops
    }
}

/// The proxies whose forwarding header is believed: addresses and CIDR
/// ranges of either family.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    pub ranges: Vec<IpNet>,
    pub header: ProxyHeader,
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|range| range.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers`: the peer
    /// itself unless it is trusted; else the header's hops walked from the
    /// right, skipping trusted proxies, and the first untrusted one is the
    /// client. A hop that is not an address stops the walk at the last
    /// trusted proxy, which is then counted as the client: a proxy's bucket
    /// is shared, but nobody escapes counting.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in self.header.hops(headers).into_iter().rev() {
            let Some(ip) = hop else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One node of either header: an address, with IPv4-mapped IPv6 addresses
/// made IPv4 so each client has one spelling. `Forwarded` writes IPv6 in
/// brackets and either family may carry a port.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    let ip = if let Some(rest) = node.strip_prefix('[') {
        rest.split_once(']')?.0.parse::<IpAddr>().ok()?
    } else if let Ok(ip) = node.parse::<IpAddr>() {
        ip
    } else {
        node.parse::<SocketAddr>().ok()?.ip()
    };
    Some(ip.to_canonical())
}

/// The `for` node of each element of one `Forwarded` line (RFC 7239 §4:
/// elements split on commas, their pairs on semicolons, both only outside
/// quoted strings). An element that is malformed or names no `for` is
/// `None`, which stops the walk; so does a quoted string left open at the
/// end of the line, which ends it as one malformed element. Without that a
/// client sending `for=198.51.100.9;x="` would swallow the element its proxy
/// appends and choose its own address.
fn forwarded_line(line: &str) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    let mut element = Vec::new();
    let mut pair = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' | ',' if !quoted => {
                element.push(std::mem::take(&mut pair));
                if c == ',' {
                    hops.extend(element_for(&std::mem::take(&mut element)));
                }
                continue;
            }
            _ => {}
        }
        pair.push(c);
    }
    if quoted || escaped {
        hops.push(None);
    } else {
        element.push(pair);
        hops.extend(element_for(&element));
    }
    hops
}

/// The `for` node of one element's pairs: `None` when a pair is not
/// `token=value`, a parameter comes twice, or there is no `for`; nothing at
/// all for an empty element (RFC 9110 §5.6.1: empty list elements are
/// ignored).
fn element_for(pairs: &[String]) -> Option<Option<IpAddr>> {
    if pairs.iter().all(|pair| pair.trim().is_empty()) {
        return None;
    }
    let mut names = Vec::new();
    let mut node = None;
    for pair in pairs.iter().map(|pair| pair.trim()).filter(|pair| !pair.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else { return Some(None) };
        let name = name.to_ascii_lowercase();
        if !is_token(&name) || names.contains(&name) {
            return Some(None);
        }
        let value = match value.strip_prefix('"') {
            Some(quoted) => match quoted.strip_suffix('"').and_then(unquote) {
                Some(inner) => inner,
                None => return Some(None),
            },
            None if value.chars().all(|c| c.is_ascii_graphic() && c != '"') && !value.is_empty() => value.to_owned(),
            None => return Some(None),
        };
        if name == "for" {
            node = parse_node(&value);
        }
        names.push(name);
    }
    Some(node)
}

/// Whether `text` is an RFC 9110 token (a parameter's name).
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_graphic() && !"\"(),/:;<=>?@[\\]{}".contains(c))
}

/// A quoted string's content with its backslash escapes undone; `None`
/// when a quote inside is not escaped or the last backslash escapes nothing.
fn unquote(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => {
                escaped = true;
                continue;
            }
            '"' => return None,
            _ => {}
        }
        out.push(c);
    }
    (!escaped).then_some(out)
}

/// Computes the client address once and stores it in the request
/// extensions; keeps an `X-Request-Id` only from a trusted proxy, and only
/// one that is safe to log (`SetRequestId` then makes one when none is left).
pub async fn layer(State(trusted): State<Arc<TrustedProxies>>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let from_proxy = peer.is_some_and(|peer| trusted.trusts(peer.to_canonical()));
    let ids = request.headers().get_all(REQUEST_ID).iter().collect::<Vec<_>>();
    let adoptable = from_proxy && ids.len() == 1 && ids.first().is_some_and(|id| acceptable_request_id(id));
    if !adoptable {
        request.headers_mut().remove(REQUEST_ID);
    }
    let resolved = peer.map(|peer| trusted.resolve(peer, request.headers()));
    // The address is the client's own unless the walk ended on a trusted
    // proxy (no forwarding header, or one it could not read): limits count
    // that proxy, but no approval-policy network rule matches it.
    let proven = resolved.is_some_and(|ip| !trusted.trusts(ip));
    request.extensions_mut().insert(ClientIp { ip: resolved.map(|ip| ip.to_string()), proven });
    next.run(request).await
}

/// Extractor for the address `layer` computed.
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<ClientIp>().and_then(|ip| ip.ip.clone())))
    }
}

/// Extractor for the address `layer` computed and whether it is proven,
/// for the requests an approval policy judges.
pub struct ClientAddress(pub ClientIp);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let found = parts.extensions.get::<ClientIp>().cloned();
        Ok(ClientAddress(found.unwrap_or(ClientIp { ip: None, proven: false })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s} is an address"))
    }

    fn proxies(ranges: &[&str], header: ProxyHeader) -> TrustedProxies {
        TrustedProxies { ranges: ranges.iter().map(|r| r.parse().expect("range")).collect(), header }
    }

    fn headers(name: &'static str, lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(name, line.parse().expect("header value"));
        }
        map
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        headers("x-forwarded-for", lines)
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let trusted = proxies(&[], ProxyHeader::XForwardedFor);
        assert_eq!(trusted.resolve(ip("203.0.113.9"), &xff(&["1.2.3.4"])), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right_across_every_line() {
        let trusted = proxies(&["10.0.0.1/32", "10.0.0.2/32"], ProxyHeader::XForwardedFor);
        let peer = ip("10.0.0.1");
        assert_eq!(trusted.resolve(peer, &xff(&["1.2.3.4, 198.51.100.7, 10.0.0.2"])), ip("198.51.100.7"));
        // The client's forged line comes first; the proxy appends its own
        // line, which is the one that counts.
        assert_eq!(trusted.resolve(peer, &xff(&["1.2.3.4", "198.51.100.7"])), ip("198.51.100.7"));
        assert_eq!(trusted.resolve(peer, &HeaderMap::new()), peer);
        assert_eq!(trusted.resolve(peer, &xff(&["garbage"])), peer);
        assert_eq!(trusted.resolve(peer, &xff(&["198.51.100.7, garbage, 10.0.0.2"])), ip("10.0.0.2"));
    }

    #[test]
    fn ranges_of_both_families_and_mapped_addresses_are_trusted() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"], ProxyHeader::XForwardedFor);
        // A [::] listener sees an IPv4 proxy as ::ffff:10.1.2.3.
        assert_eq!(trusted.resolve(ip("::ffff:10.1.2.3"), &xff(&["198.51.100.7"])), ip("198.51.100.7"));
        assert_eq!(trusted.resolve(ip("fd00::5"), &xff(&["2001:db8::1, 10.9.9.9"])), ip("2001:db8::1"));
        // A mapped client address is spelt as IPv4 too.
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &xff(&["::ffff:198.51.100.7"])), ip("198.51.100.7"));
        assert_eq!(trusted.resolve(ip("::ffff:192.0.2.1"), &xff(&["198.51.100.7"])), ip("192.0.2.1"));
    }

    #[test]
    fn forwarded_is_read_only_when_configured() {
        let forwarded =
            headers("forwarded", &[r#"for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711""#]);
        let rfc7239 = proxies(&["203.0.113.43/32"], ProxyHeader::Forwarded);
        assert_eq!(rfc7239.resolve(ip("203.0.113.43"), &forwarded), ip("2001:db8:cafe::17"));
        let xff_only = proxies(&["203.0.113.43/32"], ProxyHeader::XForwardedFor);
        assert_eq!(xff_only.resolve(ip("203.0.113.43"), &forwarded), ip("203.0.113.43"));
        // Lines join, quoted commas do not split, and unknown stops the walk.
        let trusted = proxies(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        let lines = headers("forwarded", &["for=198.51.100.1", r#"for="10.0.0.7:80";host="a,b", For=10.0.0.8"#]);
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &lines), ip("198.51.100.1"));
        let unknown = headers("forwarded", &["for=198.51.100.1, for=unknown"]);
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &unknown), ip("10.0.0.1"));
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &headers("forwarded", &["for=_hidden"])), ip("10.0.0.1"));
    }

    /// A proxy that appends its element to the client's line (the common
    /// nginx recipe) must not have it swallowed by the client's open quote.
    #[test]
    fn a_client_cannot_hide_its_proxys_element_behind_an_open_quote() {
        let trusted = proxies(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        let peer = ip("10.0.0.1");
        let forged = headers("forwarded", &[r#"for=198.51.100.9;x=", for=203.0.113.5"#]);
        assert_eq!(trusted.resolve(peer, &forged), peer);
        let escaped_close = headers("forwarded", &[r#"for=198.51.100.9;x="\", for=203.0.113.5"#]);
        assert_eq!(trusted.resolve(peer, &escaped_close), peer);
        // A well-formed client element leaves the proxy's element the last.
        let honest = headers("forwarded", &[r#"for=198.51.100.9;x="a, b", for=203.0.113.5"#]);
        assert_eq!(trusted.resolve(peer, &honest), ip("203.0.113.5"));
    }

    #[test]
    fn pairs_split_on_semicolons_only_outside_quotes_and_malformed_elements_stop_the_walk() {
        let trusted = proxies(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        let peer = ip("10.0.0.1");
        let resolve = |line: &str| trusted.resolve(peer, &headers("forwarded", &[line]));
        assert_eq!(resolve(r#"for=203.0.113.5, by="x;for=198.51.100.9""#), peer, "no for in the last element");
        assert_eq!(resolve(r#"for=203.0.113.5;proto="a;for=198.51.100.9""#), ip("203.0.113.5"));
        assert_eq!(resolve("for=203.0.113.5;for=198.51.100.9"), peer, "a parameter twice");
        assert_eq!(resolve("for=203.0.113.5;garbage"), peer, "a pair without =");
        assert_eq!(resolve(r#"for="203.0.113.5"x"#), peer, "text after a quoted string");
        assert_eq!(resolve(r#"for="203.0.113.5" x=1"#), peer);
        assert_eq!(resolve(r#"for=""203.0.113.5""#), peer, "a quote inside the address");
        assert_eq!(resolve(r#"for="[2001:db8::1]:4711";proto=https"#), ip("2001:db8::1"));
        assert_eq!(resolve("for=198.51.100.9,, for=203.0.113.5 ,"), ip("203.0.113.5"), "empty elements are ignored");
    }
}
