//! Which network a client address counts as. Per-address limits key an
//! IPv4 client by its address and an IPv6 client by its prefix (a /64 by
//! default): one household, phone or server is handed a whole /64 and can
//! send from any address in it, so counting addresses alone would give it
//! 2^64 quotas.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};

/// `address` as the limits count it: an IPv4 address (IPv4-mapped IPv6
/// included) as itself, an IPv6 address as `network/prefix`. Text that is
/// not an address is returned unchanged.
pub fn network_of(address: &str, ipv6_prefix: u8) -> Cow<'_, str> {
    match address.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let prefix = ipv6_prefix.min(128);
            let mask = u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0);
            Cow::Owned(format!("{}/{prefix}", Ipv6Addr::from(u128::from(v6) & mask)))
        }
        Ok(IpAddr::V4(v4)) if v4.to_string() != address => Cow::Owned(v4.to_string()),
        _ => Cow::Borrowed(address),
    }
}

#[cfg(test)]
mod tests {
    use super::network_of;

    #[test]
    fn ipv6_counts_by_prefix_and_ipv4_by_address() {
        assert_eq!(network_of("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(network_of("2001:db8:1:2:ffff::9", 64), "2001:db8:1:2::/64");
        assert_eq!(network_of("2001:db8:1:3::1", 64), "2001:db8:1:3::/64");
        assert_eq!(network_of("2001:db8:1:2::1", 48), "2001:db8:1::/48");
        assert_eq!(network_of("2001:db8::1", 128), "2001:db8::1/128");
        assert_eq!(network_of("203.0.113.9", 64), "203.0.113.9");
        assert_eq!(network_of("::ffff:203.0.113.9", 64), "203.0.113.9");
        assert_eq!(network_of("not an address", 64), "not an address");
    }
}
