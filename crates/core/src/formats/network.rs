//! A network range as an approval policy names it (`10.0.0.0/8`,
//! `2001:db8::/32`, or one address), and the address a request came from,
//! when Gatehouse could establish it.

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A CIDR range of either family, held with its host bits cleared so one
/// range has one spelling; an address alone is its /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network(IpNet);

/// Why typed text is not a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or CIDR range (like 10.0.0.0/8 or 2001:db8::/32)")]
pub struct NotANetwork(pub String);

impl Network {
    /// Whether `address` is inside the range (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.contains(&address.to_canonical())
    }

    /// Whether any of `ranges` holds `address`; an address that was not
    /// established (`None`) is inside none.
    pub fn any_contains(ranges: &[Network], address: Option<IpAddr>) -> bool {
        address.is_some_and(|address| ranges.iter().any(|range| range.contains(address)))
    }

    /// Parses a comma-separated list, as the command line and the editor
    /// take it; blank text is the empty list.
    pub fn parse_list(typed: &str) -> Result<Vec<Network>, NotANetwork> {
        let mut ranges: Vec<Network> = Vec::new();
        for part in typed.split([',', '\n']).map(str::trim).filter(|part| !part.is_empty()) {
            let range = part.parse()?;
            if !ranges.contains(&range) {
                ranges.push(range);
            }
        }
        Ok(ranges)
    }

    /// The list as `parse_list` reads it back.
    pub fn join(ranges: &[Network]) -> String {
        ranges.iter().map(Network::to_string).collect::<Vec<_>>().join(", ")
    }
}

impl FromStr for Network {
    type Err = NotANetwork;

    fn from_str(typed: &str) -> Result<Self, Self::Err> {
        let typed = typed.trim();
        let range = match typed.parse::<IpNet>() {
            Ok(range) => range,
            Err(_) => match typed.parse::<IpAddr>() {
                Ok(address) => IpNet::from(address),
                Err(_) => return Err(NotANetwork(typed.to_owned())),
            },
        };
        // An IPv4-mapped IPv6 range names IPv4 addresses: held as IPv4.
        let range = match range {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map(IpNet::V4).unwrap_or(range),
                None => range,
            },
            other => other,
        };
        Ok(Network(range.trunc()))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a client address as the edge recorded it; `None` for text that
/// is not one.
pub fn address(text: Option<&str>) -> Option<IpAddr> {
    text.and_then(|text| text.parse::<IpAddr>().ok()).map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Network {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    #[test]
    fn ranges_have_one_spelling_and_hold_their_addresses() {
        assert_eq!(net("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(net("203.0.113.7").to_string(), "203.0.113.7/32");
        assert_eq!(net("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(net("::ffff:192.0.2.0/120").to_string(), "192.0.2.0/24");
        assert!(net("10.0.0.0/8").contains(ip("10.200.0.1")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.0.2.0/24").contains(ip("::ffff:192.0.2.9")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ff::1")));
        assert!(!net("2001:db8::/32").contains(ip("10.0.0.1")));
        for bad in ["", "10.0.0.0/33", "office", "10.0.0.0/8/8", "2001:db8::/129"] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_parse_from_commas_and_an_unknown_address_is_in_none() {
        let list = Network::parse_list(" 10.0.0.0/8, 192.0.2.0/24,,10.0.0.0/8 ").unwrap_or_default();
        assert_eq!(list, vec![net("10.0.0.0/8"), net("192.0.2.0/24")]);
        assert_eq!(Network::join(&list), "10.0.0.0/8, 192.0.2.0/24");
        assert_eq!(Network::parse_list("  ").ok(), Some(Vec::new()));
        assert!(Network::parse_list("10.0.0.0/8, nope").is_err());
        assert!(Network::any_contains(&list, Some(ip("10.0.0.1"))));
        assert!(!Network::any_contains(&list, None));
        let json = serde_json::to_string(&list).unwrap_or_default();
        assert_eq!(json, r#"["10.0.0.0/8","192.0.2.0/24"]"#);
        assert_eq!(serde_json::from_str::<Vec<Network>>(&json).ok(), Some(list));
        assert!(serde_json::from_str::<Vec<Network>>(r#"["nope"]"#).is_err());
    }
}
