//! Network filters on `actor.ip`: a filter value such as `10.0.0.0/8` or
//! `2001:db8::/32` matches every IP address inside the network.
//!
//! `actor.ip` holds what the source sent: an IP address, or any other short
//! source string (`AWS Internal`, `secretsmanager.amazonaws.com`). Values
//! that parse as IP addresses are also indexed by their number
//! ([`address_term`]): IPv4 addresses as IPv4-mapped IPv6 ones, so that
//! `10.0.0.7` and `::ffff:10.0.0.7` are the same address, and a network is
//! one range of those terms ([`network_range`]).
//!
//! A filter value is a network when the part before its `/` parses as an
//! IP address; the prefix length must then be valid for it (`10.0.0.0/33`
//! is an error). Any other value with a `/` is an ordinary string.

use std::net::IpAddr;

use ipnet::IpNet;

/// What a filter value on `actor.ip` asks for.
pub(crate) enum IpFilter {
    /// A network (CIDR).
    Network(IpNet),
    /// The value itself (an address as sent, a name, a prefix `10.1.*`).
    Value,
}

/// Reads a filter value on `actor.ip`.
///
/// # Errors
/// Why a value that starts as a network is not one.
pub(crate) fn ip_filter(value: &str) -> Result<IpFilter, String> {
    let Some((address, length)) = value.split_once('/') else {
        return Ok(IpFilter::Value);
    };
    if address.parse::<IpAddr>().is_err() {
        return Ok(IpFilter::Value);
    }
    value.parse::<IpNet>().map(IpFilter::Network).map_err(|_| {
        format!(
            "`{value}` is not a network: the prefix length `{length}` must be 0 to 32 for IPv4, 0 to 128 for IPv6"
        )
    })
}

/// The address as one number, IPv4 mapped into IPv6.
fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The index term of an `actor.ip` value that is an IP address (`None`
/// for other source strings): its number in 32 hex digits, so that terms
/// sort as addresses do.
pub(crate) fn address_term(value: &str) -> Option<String> {
    value
        .parse::<IpAddr>()
        .ok()
        .map(|ip| format!("{:032x}", number(ip)))
}

/// The first and last terms of the addresses in `network`.
pub(crate) fn network_range(network: &IpNet) -> (String, String) {
    let first = number(network.network());
    let last = number(network.broadcast());
    (format!("{first:032x}"), format!("{last:032x}"))
}

/// Whether the `actor.ip` value `value` is an address inside `network`.
pub(crate) fn contains(network: &IpNet, value: &str) -> bool {
    let Ok(ip) = value.parse::<IpAddr>() else {
        return false;
    };
    let n = number(ip);
    number(network.network()) <= n && n <= number(network.broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        match ip_filter(s) {
            Ok(IpFilter::Network(n)) => n,
            _ => panic!("{s} is a network"),
        }
    }

    #[test]
    fn networks_contain_their_addresses_in_either_spelling() {
        let ten = net("10.0.0.0/8");
        assert!(contains(&ten, "10.255.0.1"));
        assert!(contains(&ten, "::ffff:10.0.0.7"));
        assert!(!contains(&ten, "11.0.0.1"));
        assert!(!contains(&ten, "AWS Internal"));
        let v6 = net("2001:db8::/32");
        assert!(contains(&v6, "2001:db8:0:0::1"));
        assert!(!contains(&v6, "2001:db9::1"));
        assert!(contains(&net("0.0.0.0/0"), "192.168.1.1"));
        assert!(!contains(&net("0.0.0.0/0"), "2001:db8::1"));
        let (lo, hi) = network_range(&net("10.0.0.0/8"));
        let t = address_term("10.1.2.3").unwrap();
        assert!(lo <= t && t <= hi);
        assert_eq!(address_term("secretsmanager.amazonaws.com"), None);
    }

    #[test]
    fn values_that_are_not_networks() {
        assert!(matches!(ip_filter("10.1.*"), Ok(IpFilter::Value)));
        assert!(matches!(ip_filter("arn:aws:iam/x"), Ok(IpFilter::Value)));
        assert!(matches!(ip_filter("AWS Internal"), Ok(IpFilter::Value)));
        let err = ip_filter("10.0.0.0/33").err().unwrap();
        assert!(err.contains("`10.0.0.0/33` is not a network"), "{err}");
        assert!(ip_filter("10.0.0.0/x").is_err());
    }
}
