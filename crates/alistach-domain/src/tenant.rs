//! Tenants: one gateway serving many GPTs or teams, each with its own keys, tracking id,
//! limits, policies and books. A tenant is named by a [`TenantId`]; the deployment without
//! configured tenants is the one implicit [`TenantId::default_tenant`], built from the
//! environment, so v1.1.0 deployments keep working unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// The longest tenant id.
pub const MAX_TENANT_ID_CHARS: usize = 64;

/// A tenant's id: 1 to 64 of `a-z`, `0-9`, `-` and `_`, starting with a letter or a digit.
/// Ids are part of URLs (`/api/admin/tenants/{id}`) and of rate-limit keys, so they are plain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The implicit tenant of a deployment: every request without a tenant key, and every
    /// row stored before tenants existed.
    pub const DEFAULT: &'static str = "default";

    /// The implicit tenant.
    pub fn default_tenant() -> Self {
        TenantId(Self::DEFAULT.to_owned())
    }

    /// Checks `s` against the id rule.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_TENANT_ID_CHARS
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(TenantId(s.to_owned()))
        } else {
            Err(ValidationError::new(
                "id",
                "must be 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or a digit",
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the implicit tenant.
    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TenantId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, ValidationError> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What a tenant's key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The product routes and MCP, for its tenant.
    #[serde(rename = "client")]
    Client,
    /// The admin routes, for its tenant only (its orders, revenue, experiments, webhooks,
    /// watches, analytics, usage, keys); also the product routes.
    #[serde(rename = "tenant-admin")]
    TenantAdmin,
}

impl Role {
    /// `client` or `tenant-admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::TenantAdmin => "tenant-admin",
        }
    }
}

impl FromStr for Role {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        match s {
            "client" => Ok(Role::Client),
            "tenant-admin" => Ok(Role::TenantAdmin),
            _ => Err(ValidationError::new(
                "role",
                "must be \"client\" or \"tenant-admin\"",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_and_bounded() {
        for ok in ["a", "acme", "team-1", "gpt_shop", "0x", &"a".repeat(64)] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "-a", "_a", "Acme", "a b", "a/b", "ü", &"a".repeat(65)] {
            assert_eq!(TenantId::parse(bad).unwrap_err().field, "id", "{bad:?}");
        }
        assert!(TenantId::default_tenant().is_default());
        assert!(serde_json::from_str::<TenantId>("\"Bad\"").is_err());
        assert_eq!(
            serde_json::to_string(&TenantId::parse("acme").unwrap()).unwrap(),
            "\"acme\""
        );
    }

    #[test]
    fn roles_read_as_the_contract_spells_them() {
        assert_eq!("client".parse::<Role>().unwrap(), Role::Client);
        assert_eq!("tenant-admin".parse::<Role>().unwrap(), Role::TenantAdmin);
        assert_eq!("admin".parse::<Role>().unwrap_err().field, "role");
        assert_eq!(
            serde_json::to_string(&Role::TenantAdmin).unwrap(),
            "\"tenant-admin\""
        );
    }
}
