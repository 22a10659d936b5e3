//! Passkeys: WebAuthn Level 3 ceremonies through webauthn-rs, which checks the challenge,
//! origin, RP id hash, signature, user verification and counter. Palisade adds what is its own:
//! the relying party is the issuer (RP id = its host, origin = its origin), the ceremony state
//! stays on the server (in the ephemeral store, keyed by the step or session it belongs to, so
//! any node can finish it), and the user handle is derived from the user id, so an
//! authenticator holds no identifier that means anything elsewhere.
//!
//! Registration asks for a discoverable credential where the authenticator can make one
//! (`residentKey: preferred`), so the same passkey signs in without a username; every
//! ceremony requires user verification, which is why a passkey alone counts as more than one
//! factor.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::factor::{Factor, FactorKind};
use palisade_core::model::UserId;
use palisade_core::secret::labelled_digest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

/// Why a ceremony failed. The details are for the log; the user sees one message.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// What the browser sent is not a credential of the expected shape.
    #[error("malformed credential: {0}")]
    Malformed(String),
    /// The ceremony failed verification (wrong challenge, origin, signature, user not verified).
    #[error("verification failed: {0}")]
    Rejected(String),
    /// The credential is not one of the expected user's passkeys.
    #[error("unknown credential")]
    UnknownCredential,
    /// Ours to fix (state that does not serialise).
    #[error("internal: {0}")]
    Internal(String),
}

/// A passkey that passed registration.
#[derive(Debug)]
pub struct RegisteredPasskey {
    /// The webauthn-rs `Passkey`, serialised for [`Factor::credential`].
    pub credential: String,
    /// Base64url, for [`Factor::credential_id`].
    pub credential_id: String,
    pub backup_eligible: bool,
}

/// A passkey that passed authentication.
#[derive(Debug)]
pub struct VerifiedPasskey {
    pub factor: Factor,
    /// The credential with its new counter and backup state, when it changed.
    pub updated_credential: Option<String>,
    pub backup_eligible: bool,
}

/// The relying party: the issuer.
pub struct Passkeys {
    webauthn: Webauthn,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys").finish_non_exhaustive()
    }
}

impl Passkeys {
    /// The relying party of `issuer`, or `None` when the issuer cannot be one: its host is an
    /// IP address (WebAuthn RP ids are domains), or it is not https and not localhost (browsers
    /// offer WebAuthn to secure contexts only).
    pub fn for_issuer(issuer: &str, rp_name: &str) -> Option<Self> {
        let url = Url::parse(issuer).ok()?;
        let host = url.domain()?.to_owned();
        let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .ok()?
            .rp_name(rp_name)
            .build()
            .ok()?;
        Some(Self { webauthn })
    }

    /// The WebAuthn user handle of a user: derived, so it reveals nothing and needs no column.
    pub fn user_handle(user: &UserId) -> Uuid {
        let digest = labelled_digest(b"palisade webauthn user handle v1\0", &user.0);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    }

    /// Starts registering a passkey for the user: the options for the browser (JSON) and the
    /// state to keep (JSON). The user's passkeys are excluded, so one authenticator is not
    /// registered twice.
    pub fn start_registration(
        &self,
        user: &UserId,
        username: &str,
        display_name: &str,
        existing: &[Factor],
    ) -> Result<(String, String), PasskeyError> {
        let exclude: Vec<Vec<u8>> = existing
            .iter()
            .filter_map(|f| f.credential_id.as_deref())
            .filter_map(|id| URL_SAFE_NO_PAD.decode(id).ok())
            .collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                Self::user_handle(user),
                username,
                display_name,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        let mut options = serde_json::to_value(&options).map_err(internal)?;
        // A discoverable credential where the authenticator can make one: then it also signs in
        // without a username. Not "required": security keys with no room for one still work
        // as a second factor.
        if let Some(selection) = options["publicKey"]["authenticatorSelection"].as_object_mut() {
            selection.insert("residentKey".into(), "preferred".into());
            selection.insert("requireResidentKey".into(), false.into());
        }
        Ok((options.to_string(), to_json(&state)?))
    }

    /// Finishes a registration started with `state`.
    pub fn finish_registration(
        &self,
        credential: &str,
        state: &str,
    ) -> Result<RegisteredPasskey, PasskeyError> {
        let credential: RegisterPublicKeyCredential = parse(credential)?;
        let state: PasskeyRegistration = from_json(state)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        let stored = serde_json::to_value(&passkey).map_err(internal)?;
        let backup_eligible = stored["cred"]["backup_eligible"].as_bool().unwrap_or(true);
        Ok(RegisteredPasskey {
            credential: stored.to_string(),
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            backup_eligible,
        })
    }

    /// Starts an authentication with one of `factors`' passkeys; `None` when there are none.
    pub fn start_authentication(
        &self,
        factors: &[Factor],
    ) -> Result<Option<(String, String)>, PasskeyError> {
        let passkeys: Vec<Passkey> = factors
            .iter()
            .filter(|f| f.kind == FactorKind::Passkey)
            .filter_map(|f| serde_json::from_str(&f.credential).ok())
            .collect();
        if passkeys.is_empty() {
            return Ok(None);
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        Ok(Some((to_json(&options)?, to_json(&state)?)))
    }

    /// Finishes an authentication started with `state` over `factors`.
    pub fn finish_authentication(
        &self,
        credential: &str,
        state: &str,
        factors: &[Factor],
    ) -> Result<VerifiedPasskey, PasskeyError> {
        let credential: PublicKeyCredential = parse(credential)?;
        let state: PasskeyAuthentication = from_json(state)?;
        let used = URL_SAFE_NO_PAD.encode(credential.get_credential_id());
        let factor = factors
            .iter()
            .find(|f| f.credential_id.as_deref() == Some(used.as_str()))
            .ok_or(PasskeyError::UnknownCredential)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&credential, &state)
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        verified(factor, &result)
    }

    /// Starts a sign-in with whatever discoverable passkey the browser offers.
    pub fn start_discoverable(&self) -> Result<(String, String), PasskeyError> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| PasskeyError::Internal(e.to_string()))?;
        Ok((to_json(&options)?, to_json(&state)?))
    }

    /// Which credential a discoverable sign-in used (base64url) and the user handle it claims.
    pub fn identify(&self, credential: &str) -> Result<(String, Uuid), PasskeyError> {
        let credential: PublicKeyCredential = parse(credential)?;
        let (handle, id) = self
            .webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|e| PasskeyError::Malformed(e.to_string()))?;
        Ok((URL_SAFE_NO_PAD.encode(id), handle))
    }

    /// Finishes a discoverable sign-in started with `state`, with the factor [`Self::identify`]
    /// found. The handle must be the factor's user's.
    pub fn finish_discoverable(
        &self,
        credential: &str,
        state: &str,
        factor: &Factor,
    ) -> Result<VerifiedPasskey, PasskeyError> {
        let (_, handle) = self.identify(credential)?;
        if handle != Self::user_handle(&factor.user_id) {
            return Err(PasskeyError::UnknownCredential);
        }
        let credential: PublicKeyCredential = parse(credential)?;
        let state: DiscoverableAuthentication = from_json(state)?;
        let passkey: Passkey = from_json(&factor.credential)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(
                &credential,
                state,
                DiscoverableKey::from(&passkey),
            )
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        verified(factor, &result)
    }
}

fn verified(
    factor: &Factor,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<VerifiedPasskey, PasskeyError> {
    let mut passkey: Passkey = from_json(&factor.credential)?;
    let updated_credential = match passkey.update_credential(result) {
        Some(true) => Some(to_json(&passkey)?),
        _ => None,
    };
    Ok(VerifiedPasskey {
        factor: factor.clone(),
        updated_credential,
        backup_eligible: result.backup_eligible(),
    })
}

fn internal(e: serde_json::Error) -> PasskeyError {
    PasskeyError::Internal(e.to_string())
}

fn to_json(value: &impl Serialize) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(internal)
}

fn from_json<T: DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(json).map_err(internal)
}

/// What the browser sent: malformed input, not our fault.
fn parse<T: DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(json).map_err(|e| PasskeyError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_address_or_plain_http_host_cannot_be_a_relying_party() {
        assert!(Passkeys::for_issuer("https://id.example.com", "Palisade").is_some());
        assert!(Passkeys::for_issuer("http://localhost:8080", "Palisade").is_some());
        assert!(Passkeys::for_issuer("http://127.0.0.1:8080", "Palisade").is_none());
        assert!(Passkeys::for_issuer("https://[::1]:8443", "Palisade").is_none());
    }

    /// A look-alike site (another host, scheme or port) gets assertions whose client data names
    /// its own origin: webauthn-rs accepts only the origins listed here (Palisade never turns on
    /// its `allow_subdomains` or `allow_any_port`).
    #[test]
    fn the_issuer_origin_is_the_only_one_accepted() {
        for (issuer, origin) in [
            ("https://id.example.com", "https://id.example.com/"),
            ("http://localhost:8080", "http://localhost:8080/"),
        ] {
            let rp = Passkeys::for_issuer(issuer, "Palisade").unwrap();
            let allowed: Vec<&str> = rp
                .webauthn
                .get_allowed_origins()
                .iter()
                .map(Url::as_str)
                .collect();
            assert_eq!(allowed, [origin], "{issuer}");
        }
    }

    #[test]
    fn registration_asks_for_user_verification_and_a_discoverable_credential() {
        let rp = Passkeys::for_issuer("https://id.example.com", "Palisade").unwrap();
        let user = UserId("6b1f0a52-0000-4000-8000-000000000001".into());
        let (options, _state) = rp.start_registration(&user, "alice", "Alice", &[]).unwrap();
        let options: serde_json::Value = serde_json::from_str(&options).unwrap();
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "preferred");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(options["publicKey"]["rp"]["id"], "id.example.com");
        // The handle is derived, the same each time, and not the user id.
        assert_eq!(Passkeys::user_handle(&user), Passkeys::user_handle(&user));
        assert!(!options.to_string().contains("6b1f0a52"));
    }

    #[test]
    fn garbage_from_the_browser_is_malformed_not_internal() {
        let rp = Passkeys::for_issuer("https://id.example.com", "Palisade").unwrap();
        let (_, state) = rp.start_discoverable().unwrap();
        assert!(matches!(rp.identify("{}"), Err(PasskeyError::Malformed(_))));
        assert!(matches!(
            rp.finish_registration("not json", &state),
            Err(PasskeyError::Malformed(_))
        ));
    }
}
