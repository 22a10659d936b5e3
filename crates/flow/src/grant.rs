//! What a user allowed a client, carried by an authorization code and then by a refresh-token
//! family. The grant id is the family id and appears in every access token issued from it
//! (`gid`), so revoking a grant revokes everything issued from it at once.

use crate::pkce::CodeChallenge;
use crate::scope::ScopeSet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: ScopeSet,
    /// When the user authenticated (unix seconds), for `auth_time` (OIDC Core §2).
    pub auth_time: i64,
    /// Authentication methods (RFC 8176), e.g. `pwd`.
    pub amr: Vec<String>,
    /// The resources granted (RFC 8707); a token request may narrow them. Absent in grants
    /// stored before resource indicators, which read as none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The DPoP key (RFC 7638 thumbprint) a public client's refresh tokens are bound to
    /// (RFC 9449 §5): every refresh of the family must prove possession of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// What an authorization code stands for until it is redeemed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub grant: Grant,
    /// The redirect URI the code was sent to; the token request must repeat it.
    pub redirect_uri: String,
    pub code_challenge: CodeChallenge,
    pub nonce: Option<String>,
    /// `dpop_jkt` of the authorization request (RFC 9449 §10): the code is redeemed only with
    /// a DPoP proof signed by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// Unix seconds: the code is refused after `issued_at + code_ttl` by the clock too, not
    /// only by the store's TTL (which follows the wall clock).
    pub issued_at: i64,
}
