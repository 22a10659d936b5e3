//! Domain types, parsed at the edge so the rest of the code can trust them.

pub use crate::access::{Permission, RoleName};
use crate::ports::SigningAlgorithm;
use crate::secret::TokenHash;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused by a parser; safe to show to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub &'static str);

/// A server-assigned user identifier (a UUID as text); the `sub` of the user's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login name in the form of RFC 8265 §3.3 (`UsernameCaseMapped`): fullwidth and halfwidth
/// forms mapped to their usual width, lower-cased, NFC-normalised, and allowed by the PRECIS
/// IdentifierClass, so `Alice`, `ALICE` and `ａｌｉｃｅ` are one account. On top of that,
/// Palisade's own, narrower rule: letters, digits and `. _ - @` only, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

/// The longest username, in characters, after enforcement.
pub const MAX_USERNAME_CHARS: usize = 64;

impl Username {
    /// Enforces RFC 8265 `UsernameCaseMapped` on `raw` (after trimming surrounding
    /// whitespace), then Palisade's character rule. Every username typed anywhere — signing
    /// in, the admin API, the CLI — goes through here, so all of them name the same account.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        use precis_profiles::UsernameCaseMapped;
        use precis_profiles::precis_core::profile::PrecisFastInvocation;
        const WRONG_CHARACTERS: ParseError =
            ParseError("a username may contain letters, digits and . _ - @ only");
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 4 * MAX_USERNAME_CHARS {
            return Err(ParseError("a username has 1 to 64 characters"));
        }
        let enforced = UsernameCaseMapped::enforce(trimmed).map_err(|_| WRONG_CHARACTERS)?;
        if enforced.is_empty() || enforced.chars().count() > MAX_USERNAME_CHARS {
            return Err(ParseError("a username has 1 to 64 characters"));
        }
        if !enforced
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(WRONG_CHARACTERS);
        }
        Ok(Self(enforced.into_owned()))
    }

    /// A username for a new account: [`Self::parse`], and its letters and digits must be of
    /// one script, or of Latin with Han, Hiragana and Katakana, or Latin with Han and Hangul
    /// (UTS #39 §5.2 "highly restrictive"), each allowed by the UTS #39 General Security
    /// Profile. This refuses `аlice` with a Cyrillic `а` however the other accounts are
    /// named; [`Self::skeleton`] catches the confusables of one script (`rn` and `m`).
    pub fn parse_new(raw: &str) -> Result<Self, ParseError> {
        use unicode_security::{RestrictionLevel, RestrictionLevelDetection};
        let username = Self::parse(raw)?;
        // `.`, `_`, `-` and `@` belong to no script; `@` is not an identifier character in
        // UTS #39, so the separators are left out of the judgement.
        let letters: String = username
            .0
            .chars()
            .filter(|c| !matches!(c, '.' | '_' | '-' | '@'))
            .collect();
        if !letters
            .as_str()
            .check_restriction_level(RestrictionLevel::HighlyRestrictive)
        {
            return Err(ParseError(
                "a new username must be written in one script (no Latin letters mixed with                  Cyrillic or Greek look-alikes) and use no restricted characters",
            ));
        }
        Ok(username)
    }

    /// A username read back from storage, kept as it was stored. It must be in the form
    /// [`Self::parse`] gives, or at least
    /// follow the rule usernames were stored under before RFC 8265 enforcement (lower-cased
    /// letters, digits and `. _ - @`): such an account is shown with its own spelling, never as
    /// the account its enforced form now names, and a listing is not broken by it.
    pub fn from_stored(stored: &str) -> Result<Self, ParseError> {
        let legacy = || {
            let count = stored.chars().count();
            (1..=MAX_USERNAME_CHARS).contains(&count)
                && stored.to_lowercase() == stored
                && stored
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        };
        match Self::parse(stored) {
            Ok(enforced) if enforced.0 == stored => Ok(enforced),
            _ if legacy() => Ok(Self(stored.to_owned())),
            Ok(_) => Err(ParseError("a stored username is not in its stored form")),
            Err(e) => Err(e),
        }
    }

    /// The UTS #39 §4 skeleton: two usernames with the same skeleton are confusable
    /// (`alice` and `аlice`, `rn` and `m`, `l` and `1`). The store keeps it under a UNIQUE
    /// index, so a new account confusable with an existing one is refused atomically.
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address as a person typed it (case kept: the local part may be case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// At most 320 characters after trimming, with something on each side of the last `@`
    /// and no whitespace, control or format characters ([`crate::text`]: an address is shown to
    /// people).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let email = raw.trim();
        let well_formed = email.chars().count() <= 320
            && !email
                .chars()
                .any(|c| c.is_whitespace() || crate::text::is_hidden_character(c))
            && email
                .rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        if well_formed {
            Ok(Self(email.to_owned()))
        } else {
            Err(ParseError(
                "an email address looks like name@example.com (at most 320 characters)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, ParseError> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

/// An argon2id PHC string (`$argon2id$v=19$m=...`). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub password_hash: PasswordHash,
    pub is_disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Everything resting on an authentication at or before this instant is void: sessions,
    /// codes, refresh-token families, access tokens. Set by account events (password change or
    /// reset, disabling, "sign out everywhere"), never cleared.
    pub sessions_revoked_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether an authentication of this user at `auth_time` (unix seconds) still stands: the
    /// user is enabled and no account event has happened since. An event in the same second
    /// as the authentication voids it (seconds are all `auth_time` has; failing closed).
    pub fn authentication_stands(&self, auth_time: i64) -> bool {
        !self.is_disabled
            && self
                .sessions_revoked_at
                .is_none_or(|revoked| auth_time > revoked.timestamp())
    }
}

/// What a user may change about themselves: how they are shown and reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub display_name: Option<String>,
    pub email: Option<Email>,
    pub email_verified: bool,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub username: Username,
    pub email: Option<Email>,
    pub display_name: Option<String>,
    pub password_hash: PasswordHash,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: RoleName,
    pub description: Option<String>,
    /// Whoever holds this role must sign in with a second factor (docs/mfa.md).
    #[serde(default)]
    pub require_mfa: bool,
}

/// Who gives a role to a user, when, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoleGrant {
    /// `user:<id>`, `client:<id>` or `cli`, as audit events name an actor.
    pub granted_by: String,
    pub granted_at: DateTime<Utc>,
    /// From this instant the grant gives nothing (it lapses by itself).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A user's grant of a role, with its record. Grants made before records began (issue 18)
/// have no `granted_by` and no `granted_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub user_id: UserId,
    pub role: RoleName,
    pub granted_by: Option<String>,
    pub granted_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When an access review last confirmed the grant.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A grant together with what a reviewer needs to know of its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldGrant {
    pub grant: RoleGrant,
    pub username: Username,
    /// The holder's last completed sign-in (none: not since records began).
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// A client identifier, server-generated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientId(pub String);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 6749 §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Public,
    Confidential,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Confidential => "confidential",
        }
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "public" => Ok(Self::Public),
            "confidential" => Ok(Self::Confidential),
            _ => Err(ParseError("client type is public or confidential")),
        }
    }
}

/// Defines a closed set of protocol values whose wire spellings are listed once: `ALL`,
/// `as_str`, `parse`, `Display` and serde are all generated from the one table, so a value
/// cannot be spelt one way on the way in and another on the way out.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident refused_with $refusal:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order the spec lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// The value spelt exactly `raw` (case-sensitive, as on the wire); anything else
            /// is refused.
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                match raw {
                    $($wire => Ok(Self::$variant),)+
                    _ => Err(ParseError($refusal)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_enum! {
    /// OIDC Registration §2 `application_type`: how redirect URIs are judged. A registration
    /// that names none is `web`.
    pub enum ApplicationType refused_with "application_type must be web or native" {
        /// `https` redirect URIs (and `http` on a loopback IP literal).
        Web = "web",
        /// Also private-use schemes (`com.example.app:/cb`) and loopback redirects on any port.
        Native = "native",
    }
}

wire_enum! {
    /// `token_endpoint_auth_method` values Palisade accepts (OIDC Core §9, RFC 7591 §2); no
    /// `client_secret_jwt` (the secret would be a shared HMAC key) and no mutual TLS.
    pub enum TokenEndpointAuthMethod refused_with
        "token_endpoint_auth_method must be client_secret_basic, client_secret_post, private_key_jwt or none"
    {
        ClientSecretBasic = "client_secret_basic",
        ClientSecretPost = "client_secret_post",
        PrivateKeyJwt = "private_key_jwt",
        /// A public client: no credentials (RFC 6749 §2.1).
        None = "none",
    }
}

impl TokenEndpointAuthMethod {
    /// Whether the client authenticates with a server-issued secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    pub fn client_type(self) -> ClientType {
        match self {
            Self::None => ClientType::Public,
            _ => ClientType::Confidential,
        }
    }
}

wire_enum! {
    /// The grant types Palisade implements and a client may register (no `password`, no
    /// `implicit`: RFC 9700 §2.4, §2.1.2).
    pub enum GrantType refused_with
        "grant type must be authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code"
    {
        AuthorizationCode = "authorization_code",
        RefreshToken = "refresh_token",
        ClientCredentials = "client_credentials",
        /// RFC 8628 §3.4: a device polls for what the user approved on another screen.
        DeviceCode = "urn:ietf:params:oauth:grant-type:device_code",
    }
}

/// A registered OAuth client (RFC 7591 §2 metadata, as Palisade stores it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    /// Decides which redirect URIs are allowed.
    pub application_type: ApplicationType,
    pub secret_hash: Option<TokenHash>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// OIDC RP-Initiated Logout §3.1: where the browser may be sent after logout.
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_ttl_secs: Option<i64>,
    /// `None`: the server's default ID token algorithm.
    pub id_token_signed_response_alg: Option<SigningAlgorithm>,
    pub registration_access_token_hash: Option<TokenHash>,
    /// A JWK Set document (JSON text) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Every sign-in to this client needs a second factor (docs/mfa.md).
    pub require_mfa: bool,
    /// RFC 9449 §5.2: every access token this client gets must be DPoP-bound.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: this client's authorization requests must arrive through `/par`.
    pub require_pushed_authorization_requests: bool,
    /// RFC 8707: the resource indicators (absolute URIs) this client may ask tokens for; empty
    /// means none. Each must also be one the server knows.
    pub resources: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Client {
    /// A client whose id is the URL of its metadata document (draft-ietf-oauth-client-id-
    /// metadata-document): no operator registered it. Registered clients get random ids, which
    /// never contain `:`.
    pub fn is_metadata_document(&self) -> bool {
        is_metadata_document_id(&self.id.0)
    }

    /// The host that serves this client's metadata document, shown to users beside its name.
    pub fn metadata_document_host(&self) -> Option<&str> {
        if !self.is_metadata_document() {
            return None;
        }
        let after_scheme = self.id.0.split_once("://")?.1;
        after_scheme.split(['/', '?', '#']).next()
    }
}

/// Whether a client id is a metadata document URL rather than a registered id.
pub fn is_metadata_document_id(id: &str) -> bool {
    id.starts_with("https://") || id.starts_with("http://")
}

/// What a user allowed a client to do; remembered so the consent page is shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: UserId,
    pub client_id: ClientId,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// A refresh-token family: every token rotated from one original grant (RFC 9700 §4.14.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenFamily {
    pub id: String,
    pub client_id: ClientId,
    pub user_id: Option<UserId>,
    pub scopes: Vec<String>,
    /// The grant the family carries (auth_time, amr, nonce-free claims...), as JSON text.
    pub grant: String,
    pub current_hash: TokenHash,
    /// The token rotated away most recently, kept for the retry grace window.
    pub previous_hash: Option<TokenHash>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which token of a family a presented hash matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenMatch {
    Current,
    /// The token the last rotation replaced (a client's retry may present it within the grace
    /// window).
    Previous,
    /// A token rotated away earlier in the family's life: only a thief has a reason to present
    /// it.
    Spent,
}

/// Where a signing key is in its life (docs/design.md §3): published before it signs, published
/// after it stops signing, and removed only when nothing it signed can still be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Next,
    Current,
    Retired,
    /// Withdrawn in an emergency: unpublished at once, tokens it signed are refused.
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "next" => Ok(Self::Next),
            "current" => Ok(Self::Current),
            "retired" => Ok(Self::Retired),
            "revoked" => Ok(Self::Revoked),
            _ => Err(ParseError("unknown key state")),
        }
    }
}

/// A signing key as stored: the public JWK in clear, the private JWK encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    pub state: KeyState,
    /// Public JWK, JSON text.
    pub public_jwk: String,
    /// The private JWK encrypted under a master key (compact JWE).
    pub encrypted_private_jwk: String,
    /// Which master key encrypted it, so master keys can rotate.
    pub master_key_id: String,
    pub created_at: DateTime<Utc>,
    /// When it may start signing (`next` -> `current`).
    pub activates_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    /// When it may leave the JWKS (a retired key outlives every token it signed).
    pub remove_after: Option<DateTime<Utc>>,
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("master_key_id", &self.master_key_id)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .field("remove_after", &self.remove_after)
            .finish_non_exhaustive()
    }
}

/// Durable brute-force state of one account (docs/design.md §2: a Redis flush must not unlock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLockout {
    pub user_id: UserId,
    pub failure_streak: i32,
    pub first_failure_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    /// How many times the account has been locked in a row (drives exponential back-off).
    pub lock_count: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Evidence of something that happened. Never holds passwords, secrets or whole tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub occurred_at: DateTime<Utc>,
    /// Who did it: `user:<id>`, `client:<id>`, `cli`, `system`.
    pub actor: String,
    /// What was done, dotted: `login`, `user.create`, `key.rotate`.
    pub action: String,
    pub target: Option<String>,
    pub outcome: AuditOutcome,
    pub client_ip: Option<String>,
    /// Extra facts as JSON text.
    pub details: Option<String>,
}

/// Which audit events to read back.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
    /// Events this party did or had done to it: `actor` or `target` equals it.
    pub involving: Option<String>,
    /// Events whose action starts with any of these (`login` matches `login` and
    /// `login.passkey`); empty: any action.
    pub action_prefixes: Vec<String>,
    /// Skips this many of the newest matching events (paging); negative counts as zero.
    pub offset: i64,
}

/// The durable index entry of a browser login session: the session itself lives in the
/// ephemeral store under `session_key`; this row lets the user (and an administrator) list and
/// end it. It holds no secret: `handle` is random and public, `session_key` names the
/// ephemeral entry by the cookie's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Names the session in pages and forms; neither the cookie nor its hash.
    pub handle: String,
    pub user_id: UserId,
    /// The ephemeral store's key of the session (`session:` + the cookie's hash).
    pub session_key: String,
    /// The browser's `User-Agent`, shortened and without hidden characters.
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the session ends if it is not used again (the sooner of its two lifetimes).
    pub expires_at: DateTime<Utc>,
}

/// An initial access token (RFC 7591 §1.2, §3): lets its holder register clients when
/// registration is by token. Minted by an operator, shown once, stored as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    /// A public handle for listing and revoking (never the token itself).
    pub id: String,
    pub token_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    /// After this instant the token registers nothing; `None`: it does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many registrations it allows; `None`: unlimited.
    pub max_uses: Option<i32>,
    /// How many registrations it has made.
    pub uses: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_folded_and_checked() {
        assert_eq!(Username::parse("  Alice ").unwrap().as_str(), "alice");
        let cases = [
            ("", false),
            ("   ", false),
            ("a", true),
            ("bob.smith@example.com", true),
            ("has space", false),
            ("semi;colon", false),
            ("zero\u{200B}width", false),
            ("rtl\u{202E}override", false),
            ("soft\u{00AD}hyphen", false),
            ("tab\tname", false),
            (&"x".repeat(64), true),
            (&"x".repeat(65), false),
            (&"x".repeat(100_000), false),
        ];
        for (raw, ok) in cases {
            assert_eq!(Username::parse(raw).is_ok(), ok, "{raw:?}");
        }
    }

    /// RFC 8265 §3.3.2: width mapping, case mapping, NFC.
    #[test]
    fn usernames_follow_rfc_8265_username_case_mapped() {
        let cases = [
            ("ALICE", "alice"),
            ("\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}", "alice"), // fullwidth ａｌｉｃｅ
            ("\u{FF21}\u{FF2C}\u{FF29}\u{FF23}\u{FF25}", "alice"), // fullwidth ＡＬＩＣＥ
            ("Jose\u{0301}", "jos\u{00E9}"),                       // NFC
            ("J\u{00D6}RG", "j\u{00F6}rg"),
            (
                "\u{0391}\u{039B}\u{0395}\u{039E}",
                "\u{03B1}\u{03BB}\u{03B5}\u{03BE}",
            ), // ΑΛΕΞ
        ];
        for (raw, enforced) in cases {
            assert_eq!(Username::parse(raw).unwrap().as_str(), enforced, "{raw:?}");
            // Enforcement is idempotent: what is stored parses to itself.
            assert_eq!(Username::parse(enforced).unwrap().as_str(), enforced);
        }
    }

    #[test]
    fn a_new_username_is_of_one_script_and_confusables_share_a_skeleton() {
        for ok in [
            "alice",
            "bob.smith@example.com",
            "j\u{00F6}rg",
            "\u{0430}\u{043B}\u{0438}\u{0441}\u{0430}",
            "\u{7530}\u{4E2D}",
            "tanaka\u{7530}\u{4E2D}",
        ] {
            assert!(Username::parse_new(ok).is_ok(), "{ok:?}");
        }
        // Latin with a Cyrillic а, or a Greek ο: parse (sign-in) accepts it, a new account not.
        for mixed in ["\u{0430}lice", "b\u{03BF}b", "paypa\u{0406}"] {
            assert!(Username::parse(mixed).is_ok(), "{mixed:?}");
            assert!(Username::parse_new(mixed).is_err(), "{mixed:?}");
        }
        let skeleton = |raw: &str| Username::parse(raw).unwrap().skeleton();
        assert_eq!(skeleton("alice"), skeleton("\u{0430}lice"));
        assert_eq!(skeleton("alice"), skeleton("ALICE"));
        assert_eq!(skeleton("rn"), skeleton("m"));
        assert_eq!(skeleton("user1"), skeleton("userl"));
        assert_ne!(skeleton("alice"), skeleton("alicia"));
        assert_ne!(skeleton("bob"), skeleton("rob"));
    }

    #[test]
    fn a_stored_username_keeps_its_spelling_but_must_still_parse() {
        // Stored before RFC 8265 enforcement: fullwidth letters were kept as typed.
        let legacy = "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}";
        assert_eq!(Username::from_stored(legacy).unwrap().as_str(), legacy);
        assert_eq!(Username::from_stored("alice").unwrap().as_str(), "alice");
        // Allowed before (alphanumeric), refused by the PRECIS IdentifierClass now.
        assert!(Username::parse("x\u{00B2}").is_err());
        assert_eq!(
            Username::from_stored("x\u{00B2}").unwrap().as_str(),
            "x\u{00B2}"
        );
        assert!(Username::from_stored("has space").is_err());
        assert!(Username::from_stored("Upper").is_err());
        assert!(Username::from_stored("").is_err());
    }

    #[test]
    fn emails_need_both_sides_of_an_at_sign() {
        assert_eq!(
            Email::parse(" Bob@Example.com ").unwrap().as_str(),
            "Bob@Example.com"
        );
        let cases = [
            ("a@b", true),
            ("not-an-email", false),
            ("@example.com", false),
            ("bob@", false),
            ("bob smith@example.com", false),
            ("bob\u{200B}@example.com", false),
            ("bob@exa\u{202E}mple.com", false),
            ("", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(Email::parse(raw).is_ok(), ok, "{raw:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "x".repeat(308))).is_ok());
        assert!(Email::parse(&format!("{}@example.com", "x".repeat(309))).is_err());
    }

    #[test]
    fn password_hashes_and_keys_do_not_print_secrets() {
        let h = PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert!(!format!("{h:?}").contains("argon2id"));
        let key = StoredSigningKey {
            kid: "k".into(),
            alg: "ES256".into(),
            state: KeyState::Current,
            public_jwk: "{}".into(),
            encrypted_private_jwk: "SECRET-JWE".into(),
            master_key_id: "m1".into(),
            created_at: Utc::now(),
            activates_at: Utc::now(),
            activated_at: None,
            retired_at: None,
            remove_after: None,
        };
        assert!(!format!("{key:?}").contains("SECRET-JWE"));
    }

    /// Each wire value parses to the variant that prints it, and serde agrees with both.
    fn round_trips<T>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Result<T, ParseError>,
    ) where
        T: Copy + PartialEq + fmt::Debug + Serialize + serde::de::DeserializeOwned,
    {
        for &value in all {
            let wire = as_str(value);
            assert_eq!(parse(wire), Ok(value), "{wire}");
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                serde_json::json!(wire)
            );
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(wire)).unwrap(),
                value
            );
        }
    }

    #[test]
    fn every_client_metadata_value_round_trips_through_its_wire_spelling() {
        round_trips(
            ApplicationType::ALL,
            ApplicationType::as_str,
            ApplicationType::parse,
        );
        round_trips(
            TokenEndpointAuthMethod::ALL,
            TokenEndpointAuthMethod::as_str,
            TokenEndpointAuthMethod::parse,
        );
        round_trips(GrantType::ALL, GrantType::as_str, GrantType::parse);
        assert_eq!(
            GrantType::ALL
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>(),
            [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code"
            ]
        );
    }

    #[test]
    fn unknown_or_misspelt_client_metadata_values_are_refused() {
        for raw in ["", "Web", "native ", "desktop", "bogus"] {
            assert!(ApplicationType::parse(raw).is_err(), "{raw:?}");
        }
        for raw in [
            "",
            "client_secret_jwt",
            "tls_client_auth",
            "None",
            "Client_Secret_Basic",
        ] {
            assert!(TokenEndpointAuthMethod::parse(raw).is_err(), "{raw:?}");
        }
        for raw in [
            "",
            "implicit",
            "password",
            "AUTHORIZATION_CODE",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:Device_Code",
            "device_code",
        ] {
            assert!(GrantType::parse(raw).is_err(), "{raw:?}");
        }
        assert!(serde_json::from_value::<GrantType>(serde_json::json!("implicit")).is_err());
    }

    #[test]
    fn only_the_secret_methods_use_a_secret_and_only_none_is_public() {
        use TokenEndpointAuthMethod as M;
        let cases = [
            (M::ClientSecretBasic, true, ClientType::Confidential),
            (M::ClientSecretPost, true, ClientType::Confidential),
            (M::PrivateKeyJwt, false, ClientType::Confidential),
            (M::None, false, ClientType::Public),
        ];
        for (method, uses_secret, client_type) in cases {
            assert_eq!(method.uses_secret(), uses_secret, "{method}");
            assert_eq!(method.client_type(), client_type, "{method}");
        }
    }
}
