//! Authentication: which key a route needs, the key a request presents (hashed once and looked
//! up by digest), the failed-attempt throttle, and the client identity for rate limits.

use std::net::IpAddr;

use alistach_api::Access;
use std::sync::Arc;

use alistach_domain::Role;
use alistach_policy::client_key;
use alistach_service::{Grant, Tenant};
use hyper::header::{self, HeaderMap};

use crate::app::App;
use crate::config::{MAX_PRESENTED_KEY_BYTES, digest};
use crate::error::HttpError;

const X_ADMIN_KEY: &str = "x-admin-key";
const X_INTERNAL_KEY: &str = "x-internal-key";

/// Who is calling, as the presented key says.
#[derive(Clone, Debug)]
pub(crate) enum Principal<'a> {
    /// No key was needed, or none presented on an open API.
    Anonymous,
    /// A key of the deployment (`API_KEYS`; `ADMIN_API_KEY`, the super-admin, as `admin`).
    Deployment {
        /// The client name.
        name: &'a str,
        /// True for `ADMIN_API_KEY`.
        admin: bool,
    },
    /// A tenant's key.
    Tenant(Grant),
}

impl Principal<'_> {
    /// The tenant the key belongs to (`None`: the deployment's own, the implicit tenant).
    pub(crate) fn tenant(&self) -> Option<&Arc<Tenant>> {
        match self {
            Principal::Tenant(g) => Some(&g.tenant),
            _ => None,
        }
    }

    /// Who, as the audit log names it: `super-admin`, `key:{id}` of a tenant key, `api-key:{name}`, `anonymous`.
    pub(crate) fn actor(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".to_owned(),
            Principal::Deployment { admin: true, .. } => "super-admin".to_owned(),
            Principal::Deployment { name, .. } => format!("api-key:{name}"),
            Principal::Tenant(g) => format!("key:{}", g.key_id),
        }
    }
}

impl App {
    /// Checks the key the route needs; returns who presented it.
    ///
    /// A presented key is refused unhashed when it is too long, hashed once and looked up by
    /// digest (the deployment's keys, then the tenants' live keys) otherwise; an address that
    /// keeps presenting wrong keys is refused (429) without its keys being checked until its
    /// budget refills. A tenant's client key opens the API routes of its tenant; its
    /// tenant-admin key also the admin routes, for its tenant only.
    /// A valid key refused on the route (an API key on an admin route) is named in
    /// `refused`, for the audit log.
    pub(crate) fn authorize<'s>(
        &'s self,
        access: Access,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        refused: &mut Option<Principal<'s>>,
    ) -> Result<Principal<'s>, HttpError> {
        let tenants = self.tenants.as_ref().filter(|t| t.any());
        let admin_route = match access {
            Access::Public => return Ok(Principal::Anonymous),
            Access::Api => false,
            Access::Admin => true,
        };
        let open_api = !admin_route && self.config.api_keys.is_empty();
        if admin_route && self.config.admin_key.is_none() && tenants.is_none() {
            return Err(HttpError::Forbidden(
                "admin endpoints are disabled: set ADMIN_API_KEY",
            ));
        }
        // An open API ignores keys, as v1.1.0 did, unless tenants exist: then a key names a
        // tenant, and a wrong (or revoked) one must not quietly become another. (Decided
        // before the headers are searched for a key: an open API's calls never look.)
        if open_api && tenants.is_none() {
            return Ok(Principal::Anonymous);
        }
        let presented = presented_key(
            headers,
            if admin_route {
                X_ADMIN_KEY
            } else {
                X_INTERNAL_KEY
            },
        );
        let Some(presented) = presented else {
            if open_api {
                return Ok(Principal::Anonymous);
            }
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
        let digest = digest(presented);
        if let Some(grant) = self.keys.get(&digest) {
            let who = Principal::Deployment {
                name: grant.name.as_str(),
                admin: grant.admin,
            };
            if admin_route && !grant.admin {
                *refused = Some(who);
                return Err(HttpError::Forbidden(
                    "this API key does not give access to admin endpoints",
                ));
            }
            return Ok(who);
        }
        if let Some(grant) = tenants.and_then(|t| t.authenticate(&digest)) {
            let client_key = grant.role != Role::TenantAdmin;
            let who = Principal::Tenant(grant);
            if admin_route && client_key {
                *refused = Some(who);
                return Err(HttpError::Forbidden(
                    "this is a tenant's client key: it opens the product routes and MCP, not \
                     the admin endpoints (a tenant-admin key does, for its tenant)",
                ));
            }
            return Ok(who);
        }
        self.auth_throttle.failed(&client);
        Err(HttpError::Unauthorized(if admin_route {
            "the admin key is not valid"
        } else {
            "the API key is not valid"
        }))
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
        who: &Principal<'_>,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> String {
        match who {
            Principal::Deployment { name, .. } => format!("key:{name}"),
            Principal::Tenant(g) => g.limit_key.to_string(),
            Principal::Anonymous => self.client_ip_key(peer, headers),
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
