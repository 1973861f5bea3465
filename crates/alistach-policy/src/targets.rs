//! Which addresses an outbound request that a user configured (a webhook endpoint, a Slack
//! URL) may reach: public unicast addresses only, unless private targets are allowed. Used by
//! the service when an endpoint is added (address literals) and by the webhook sender at every
//! resolution (every address a name resolves to). Pure: no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address may not be called, or `None` when it may (a public unicast address).
pub fn forbidden_target(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_unspecified() || a == 0 {
        "unspecified (0.0.0.0/8)"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private (RFC 1918)"
    } else if a == 100 && (b & 0xc0) == 64 {
        "shared address space (CGNAT, 100.64.0.0/10)"
    } else if ip.is_link_local() {
        "link-local (169.254.0.0/16)"
    } else if ip.is_broadcast() {
        "broadcast"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_documentation() {
        "documentation"
    } else if a == 192 && b == 0 && c == 0 {
        "IETF protocol assignments (192.0.0.0/24)"
    } else if a == 198 && (b & 0xfe) == 18 {
        "benchmarking (198.18.0.0/15)"
    } else if a >= 240 {
        "reserved (240.0.0.0/4)"
    } else {
        return None;
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address written as IPv6 (`::ffff:127.0.0.1`, or the deprecated compatible
    // form) is what it embeds.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return forbidden_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_unique_local() {
        "unique-local (fc00::/7)"
    } else if ip.is_unicast_link_local() {
        "link-local (fe80::/10)"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "site-local (fec0::/10)"
    } else if ip.is_multicast() {
        "multicast"
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0 {
        "documentation"
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        // NAT64 (64:ff9b::/96 and the local-use /48): the gateway would reach the embedded
        // IPv4 address, which may be private; refuse rather than guess.
        "NAT64 (64:ff9b::/96)"
    } else {
        return None;
    })
}

/// True for an origin as CORS compares it: `http://` or `https://`, then a host (letters,
/// digits, `.`, `-`, `_`, a bracketed IPv6 address) and an optional `:port`, nothing after, at
/// most 255 bytes. `ALLOWED_ORIGINS` and tenants' `allowed_origins` are checked by it.
pub fn is_origin(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && text.len() <= 255
        && rest.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

#[cfg(test)]
mod origin_tests {
    use super::is_origin;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in [
            "https://chatgpt.com",
            "http://127.0.0.1:8080",
            "https://[::1]:443",
            "https://a_b.example",
        ] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in [
            "*",
            "chatgpt.com",
            "https://",
            "https://a.example/",
            "https://a.example/x",
            "ftp://a",
            "https://a b",
            "https://a?x",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
