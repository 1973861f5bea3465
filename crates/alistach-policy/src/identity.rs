//! Who a client is, for limits: the TCP peer, or the address a trusted proxy chain reports
//! through `X-Forwarded-For`, canonicalised, with IPv6 clients grouped by network prefix.
//!
//! The walk follows the usual rule for forwarded chains: read `X-Forwarded-For` from the right
//! (each proxy appends the address it received the request from), skip addresses of trusted
//! proxies, and stop at the first address that is not one: that is the client. An entry that
//! cannot be parsed ends the walk at the trusted hop that passed it on, so an attacker's entry
//! to its left is never believed.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed: addresses and CIDR ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `TRUSTED_PROXIES` entry that is neither an address nor a CIDR range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or a CIDR range (like 10.0.0.0/8 or fd00::/8)")]
pub struct ProxyParseError(pub String);

impl TrustedProxies {
    /// No trusted proxies: the TCP peer is always the client.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// Parses a comma-separated list of addresses and CIDR ranges; returns every bad entry.
    pub fn parse_list(list: &str) -> Result<Self, Vec<ProxyParseError>> {
        let mut nets = Vec::new();
        let mut errors = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match parse_net(item) {
                Some(net) => nets.push(net),
                None => errors.push(ProxyParseError(item.to_owned())),
            }
        }
        if errors.is_empty() {
            Ok(TrustedProxies(nets))
        } else {
            Err(errors)
        }
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `ip` is (inside) a trusted proxy entry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request that arrived from `peer` with these `X-Forwarded-For`
    /// header values (in the order they appeared).
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut current = peer.to_canonical();
        if !self.contains(current) {
            return current;
        }
        let entries: Vec<&str> = forwarded.into_iter().flat_map(|v| v.split(',')).collect();
        for entry in entries.into_iter().rev() {
            let Some(ip) = parse_forwarded_entry(entry) else {
                // Whatever is left of an unreadable entry came through nobody we trust.
                return current;
            };
            if !self.contains(ip) {
                return ip;
            }
            current = ip;
        }
        current
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            // A single address prints as itself, not as a /32 or /128 range.
            if n.prefix_len() == n.max_prefix_len() {
                write!(f, "{}", n.addr())?;
            } else {
                write!(f, "{n}")?;
            }
        }
        Ok(())
    }
}

fn parse_net(item: &str) -> Option<IpNet> {
    if let Ok(net) = IpNet::from_str(item) {
        // 10.1.2.3/8 means 10.0.0.0/8.
        return Some(canonical_net(net).trunc());
    }
    IpAddr::from_str(item)
        .ok()
        .map(|ip| IpNet::from(ip.to_canonical()))
}

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`, canonicalised (IPv4-mapped IPv6 becomes IPv4). `None` for anything
/// else (`unknown`, obfuscated identifiers, garbage).
pub fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if entry.is_empty() || entry.len() > 64 {
        return None;
    }
    let ip = if let Ok(ip) = IpAddr::from_str(entry) {
        ip
    } else if let Ok(sock) = SocketAddr::from_str(entry) {
        sock.ip()
    } else if let Some(inner) = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
        IpAddr::V6(Ipv6Addr::from_str(inner).ok()?)
    } else {
        return None;
    };
    Some(ip.to_canonical())
}

/// The rate-limit identity of a client address: IPv4 addresses as they are, IPv6 addresses by
/// their first `v6_prefix` bits (one household or server usually holds a whole /64), so a
/// client cannot dodge its limit by rotating through its own addresses.
pub fn client_key(ip: IpAddr, v6_prefix: u8) -> String {
    match ip.to_canonical() {
        // Written by hand: this runs per request, and `Ipv4Addr`'s `Display` (which supports
        // padding) was most of the cost of naming a client.
        IpAddr::V4(v4) => {
            let mut key = String::with_capacity(18);
            key.push_str("ip:");
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    key.push('.');
                }
                key.push_str(digits.format(octet));
            }
            key
        }
        IpAddr::V6(v6) => {
            let prefix = v6_prefix.min(128);
            if prefix == 128 {
                return format!("ip:{v6}");
            }
            let bits = u128::from(v6);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            format!("ip:{}/{prefix}", Ipv6Addr::from(bits & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse_list(list).unwrap()
    }

    #[test]
    fn entries_with_ports_and_brackets_parse() {
        for (entry, want) in [
            ("1.2.3.4", "1.2.3.4"),
            (" 1.2.3.4 ", "1.2.3.4"),
            ("1.2.3.4:5678", "1.2.3.4"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("::ffff:10.0.0.1", "10.0.0.1"),
            ("[::ffff:10.0.0.1]:80", "10.0.0.1"),
        ] {
            assert_eq!(parse_forwarded_entry(entry), Some(ip(want)), "{entry}");
        }
        for entry in [
            "",
            "unknown",
            "_hidden",
            "1.2.3",
            "1.2.3.4:99999",
            "[1.2.3.4]",
            "中文",
        ] {
            assert_eq!(parse_forwarded_entry(entry), None, "{entry}");
        }
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_address_from_the_right() {
        let t = trusted("10.0.0.0/8, 192.168.1.1");
        let peer = ip("10.0.0.5");
        // No proxy trusted: the peer is the client whatever the header says.
        assert_eq!(TrustedProxies::none().client_ip(peer, ["6.6.6.6"]), peer);
        // An untrusted peer's header is ignored.
        assert_eq!(t.client_ip(ip("8.8.8.8"), ["6.6.6.6"]), ip("8.8.8.8"));
        // Forged left-most entries are never reached.
        assert_eq!(
            t.client_ip(peer, ["6.6.6.6, 7.7.7.7, 10.1.1.1"]),
            ip("7.7.7.7")
        );
        // Several header lines are one list.
        assert_eq!(
            t.client_ip(peer, ["6.6.6.6", "7.7.7.7:1234"]),
            ip("7.7.7.7")
        );
        // An unreadable entry ends the walk at the trusted hop that passed it on.
        assert_eq!(
            t.client_ip(peer, ["6.6.6.6, garbage, 192.168.1.1"]),
            ip("192.168.1.1")
        );
        assert_eq!(t.client_ip(peer, ["6.6.6.6, unknown"]), peer);
        // Only trusted hops: the left-most of them.
        assert_eq!(t.client_ip(peer, ["10.9.9.9, 10.8.8.8"]), ip("10.9.9.9"));
        // No header at all.
        assert_eq!(t.client_ip(peer, []), peer);
    }

    #[test]
    fn mapped_peers_and_ranges_are_canonical() {
        let t = trusted("::ffff:10.0.0.0/104");
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(!t.contains(ip("11.0.0.1")));
        let mapped_peer = ip("::ffff:10.0.0.7");
        assert_eq!(t.client_ip(mapped_peer, ["1.1.1.1"]), ip("1.1.1.1"));
        assert_eq!(
            TrustedProxies::none().client_ip(mapped_peer, []),
            ip("10.0.0.7")
        );
        assert_eq!(trusted("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(
            trusted("10.1.2.3, fd00::/8").to_string(),
            "10.1.2.3,fd00::/8"
        );
        let errors = TrustedProxies::parse_list("10.0.0.1, proxy.local, 10.0.0.0/33").unwrap_err();
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_prefix() {
        assert_eq!(client_key(ip("1.2.3.4"), 64), "ip:1.2.3.4");
        assert_eq!(client_key(ip("::ffff:1.2.3.4"), 64), "ip:1.2.3.4");
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 64),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            client_key(ip("2001:db8:1:2:ffff::1"), 64),
            client_key(ip("2001:db8:1:2::9"), 64)
        );
        assert_ne!(
            client_key(ip("2001:db8:1:3::1"), 64),
            client_key(ip("2001:db8:1:2::1"), 64)
        );
        assert_eq!(client_key(ip("2001:db8::1"), 128), "ip:2001:db8::1");
        assert_eq!(client_key(ip("2001:db8::1"), 0), "ip:::/0");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn any_header_text_gives_an_address_and_never_panics(
            header in "\\PC{0,80}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let t = trusted("10.0.0.0/8");
            let lossy = String::from_utf8_lossy(&bytes);
            let peer = ip("10.0.0.1");
            let got = t.client_ip(peer, [header.as_str(), lossy.as_ref()]);
            // The answer is the peer or an address that literally appeared in the header.
            proptest::prop_assert!(got == peer || header.contains(&got.to_string()) || lossy.contains(&got.to_string()) || t.contains(got));
            let _ = parse_forwarded_entry(&header);
            let _ = TrustedProxies::parse_list(&header);
        }

        #[test]
        fn a_forged_prefix_never_changes_the_answer(forged in "\\PC{0,40}", real in proptest::prelude::any::<std::net::Ipv4Addr>()) {
            let t = trusted("10.0.0.0/8");
            let real = IpAddr::V4(real);
            proptest::prop_assume!(!t.contains(real));
            let header = format!("{forged}, {real}, 10.2.2.2");
            proptest::prop_assert_eq!(t.client_ip(ip("10.0.0.1"), [header.as_str()]), real);
        }

        #[test]
        fn v4_keys_are_the_dotted_address(bits in proptest::prelude::any::<u32>()) {
            let ip = std::net::Ipv4Addr::from(bits);
            proptest::prop_assert_eq!(client_key(IpAddr::V4(ip), 64), format!("ip:{ip}"));
        }

        #[test]
        fn v6_keys_never_panic(bits in proptest::prelude::any::<u128>(), prefix in proptest::prelude::any::<u8>()) {
            let key = client_key(IpAddr::V6(Ipv6Addr::from(bits)), prefix);
            proptest::prop_assert!(key.starts_with("ip:"));
        }
    }
}
