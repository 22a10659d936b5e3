//! Who may administer what: the permission catalogue and role names (RBAC).
//!
//! Both are parsed once, where they enter (an admin request, a command line, a database row),
//! so the rest of the code holds only names that exist: a typo cannot create a permission
//! nobody checks, and a corrupt row is an error rather than a permission granted by accident.

use crate::model::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an administrator may do. Granted to users through roles, to clients through
/// `admin:<permission>` scopes an operator registered on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    UsersRead,
    UsersWrite,
    RolesRead,
    RolesWrite,
    ClientsRead,
    ClientsWrite,
    KeysRead,
    KeysWrite,
    AuditRead,
}

/// Scopes `admin:<permission>` on a confidential client grant that permission to its
/// client_credentials tokens.
pub const CLIENT_SCOPE_PREFIX: &str = "admin:";

impl Permission {
    /// The whole catalogue; nothing else is a permission.
    pub const ALL: [Permission; 9] = [
        Self::UsersRead,
        Self::UsersWrite,
        Self::RolesRead,
        Self::RolesWrite,
        Self::ClientsRead,
        Self::ClientsWrite,
        Self::KeysRead,
        Self::KeysWrite,
        Self::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::RolesRead => "roles:read",
            Self::RolesWrite => "roles:write",
            Self::ClientsRead => "clients:read",
            Self::ClientsWrite => "clients:write",
            Self::KeysRead => "keys:read",
            Self::KeysWrite => "keys:write",
            Self::AuditRead => "audit:read",
        }
    }

    /// A permission of the catalogue, by its exact name (`users:read`).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or(ParseError("unknown permission"))
    }

    /// The client scope that grants this permission to a client_credentials token.
    pub fn scope(self) -> String {
        format!("{CLIENT_SCOPE_PREFIX}{}", self.as_str())
    }

    /// The permission an `admin:<permission>` scope names, if it is one.
    pub fn from_scope(scope: &str) -> Option<Self> {
        scope
            .strip_prefix(CLIENT_SCOPE_PREFIX)
            .and_then(|p| Self::parse(p).ok())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A role's name: 1-64 lowercase ASCII letters, digits, `-`, `_`, `:` (after trimming).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let name = raw.trim();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | ':')
            });
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(ParseError(
                "a role name has 1 to 64 characters: lowercase letters, digits, - _ :",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RoleName {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, ParseError> {
        Self::parse(&raw)
    }
}

impl From<RoleName> for String {
    fn from(name: RoleName) -> String {
        name.0
    }
}

impl PartialEq<&str> for RoleName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_and_their_client_scopes_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Ok(p));
            assert_eq!(Permission::from_scope(&p.scope()), Some(p));
        }
        assert!(Permission::parse("users.write").is_err());
        assert_eq!(Permission::from_scope("users:read"), None);
        assert_eq!(Permission::from_scope("admin:users:delete"), None);
    }

    #[test]
    fn role_names_are_short_lowercase_words() {
        assert_eq!(
            RoleName::parse("  user-admin ").unwrap().as_str(),
            "user-admin"
        );
        let cases = [
            ("", false),
            ("a", true),
            ("team:ops_2", true),
            ("Admin", false),
            ("has space", false),
            (&"r".repeat(64), true),
            (&"r".repeat(65), false),
        ];
        for (raw, ok) in cases {
            assert_eq!(RoleName::parse(raw).is_ok(), ok, "{raw:?}");
        }
    }
}
