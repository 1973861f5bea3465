//! Authentication: which key a route needs, the key a request presents (hashed once and looked
//! up by digest), the failed-attempt throttle, and the client identity for rate limits.

use std::net::IpAddr;

use alistach_api::Access;
use alistach_policy::client_key;
use hyper::header::{self, HeaderMap};

use crate::app::App;
use crate::config::{MAX_PRESENTED_KEY_BYTES, digest};
use crate::error::HttpError;

const X_ADMIN_KEY: &str = "x-admin-key";
const X_INTERNAL_KEY: &str = "x-internal-key";

impl App {
    /// Checks the key the route needs; returns the name of the API key presented, if any.
    ///
    /// A presented key is refused unhashed when it is too long, hashed once and looked up by
    /// digest otherwise; an address that keeps presenting wrong keys is refused (429) without
    /// its keys being checked until its budget refills.
    pub(crate) fn authorize(
        &self,
        access: Access,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Option<&str>, HttpError> {
        let admin_route = match access {
            Access::Public => return Ok(None),
            Access::Api if self.config.api_keys.is_empty() => return Ok(None),
            Access::Api => false,
            Access::Admin if self.config.admin_key.is_none() => {
                return Err(HttpError::Forbidden(
                    "admin endpoints are disabled: set ADMIN_API_KEY",
                ));
            }
            Access::Admin => true,
        };
        let presented = presented_key(
            headers,
            if admin_route {
                X_ADMIN_KEY
            } else {
                X_INTERNAL_KEY
            },
        );
        let Some(presented) = presented else {
            return Err(HttpError::Unauthorized(if admin_route {
                "this endpoint needs the admin key (x-admin-key or Bearer)"
            } else {
                "this endpoint needs an API key (Bearer or x-internal-key)"
            }));
        };
        let client = self.client_ip_key(peer, headers);
        if let Some(retry_after) = self.auth_throttle.blocked(&client) {
            return Err(HttpError::AuthThrottled { retry_after });
        }
        if presented.len() > MAX_PRESENTED_KEY_BYTES {
            self.auth_throttle.failed(&client);
            return Err(HttpError::Unauthorized(
                "the presented key is longer than 256 bytes; no key is that long",
            ));
        }
        match self.keys.get(&digest(presented)) {
            Some(grant) if grant.admin || !admin_route => Ok(Some(grant.name.as_str())),
            Some(_) => Err(HttpError::Forbidden(
                "this API key does not give access to admin endpoints",
            )),
            None => {
                self.auth_throttle.failed(&client);
                Err(HttpError::Unauthorized(if admin_route {
                    "the admin key is not valid"
                } else {
                    "the API key is not valid"
                }))
            }
        }
    }

    /// The client address: the TCP peer, unless the peer is a trusted proxy, in which case
    /// what the proxy chain reports in `X-Forwarded-For` (see `TrustedProxies::client_ip`).
    fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if self.config.trusted_proxies.is_empty() {
            return Some(peer.to_canonical());
        }
        // A value that is not text cannot be parsed, so it ends the walk like any bad entry.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        Some(self.config.trusted_proxies.client_ip(peer, forwarded))
    }

    /// The rate-limit identity of the client address (IPv6 by network prefix).
    /// The client's identity, as the rate limits count it: `key:{name}` for a caller with a
    /// key, else its address (see [`App::client_ip_key`]).
    pub(crate) fn client_identity(
        &self,
        key_name: Option<&str>,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> String {
        match key_name {
            Some(name) => format!("key:{name}"),
            None => self.client_ip_key(peer, headers),
        }
    }

    pub(crate) fn client_ip_key(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        match self.client_ip(peer, headers) {
            Some(ip) => client_key(ip, self.config.ipv6_client_prefix),
            None => "ip:unknown".to_owned(),
        }
    }
}

fn presented_key<'a>(headers: &'a HeaderMap, header_name: &str) -> Option<&'a str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer
        .or_else(|| {
            headers
                .get(header_name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[test]
    fn keys_come_from_bearer_or_the_named_header() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h, X_ADMIN_KEY), None);
        h.insert(X_ADMIN_KEY, HeaderValue::from_static("k1"));
        assert_eq!(presented_key(&h, X_ADMIN_KEY), Some("k1"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k2"));
        assert_eq!(presented_key(&h, X_ADMIN_KEY), Some("k2"));
    }
}
