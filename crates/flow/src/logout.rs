//! RP-initiated logout: OpenID Connect RP-Initiated Logout 1.0 §2-3.
//!
//! An `id_token_hint` we issued identifies the client and the user. Without one (or when it
//! names someone other than the logged-in user) the user confirms on a page, so a link on a
//! hostile site cannot log people out. The browser is sent back only to a
//! `post_logout_redirect_uri` registered by the client the request is verified to come from.

use crate::redirect_uri;
use crate::server::AuthorizationServer;
use crate::session::BrowserSession;
use palisade_core::OAuthError;
use palisade_core::model::ClientId;
use serde_json::Value;

/// A logout request after validation.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    /// Registered for the verified client; `None` means show the "signed out" page instead.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub hinted_subject: Option<String>,
}

impl LogoutRequest {
    /// Whether the user must confirm: a session exists and the request does not prove that the
    /// client logging out is acting for that session's user.
    pub fn needs_confirmation(&self, session: Option<&BrowserSession>) -> bool {
        match session {
            None => false,
            Some(s) => self.hinted_subject.as_deref() != Some(s.user_id.as_str()),
        }
    }

    /// Where to send the browser afterwards, with `state` (§3).
    pub fn redirect_after(&self) -> Option<String> {
        let uri = self.post_logout_redirect_uri.as_deref()?;
        Some(match self.state.as_deref() {
            Some(state) => redirect_uri::append_query(uri, &[("state", state)]),
            None => uri.to_owned(),
        })
    }
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

impl AuthorizationServer {
    /// Validates the logout parameters. Errors are shown on a page, never redirected.
    pub async fn validate_logout(
        &self,
        pairs: &[(String, String)],
    ) -> Result<LogoutRequest, OAuthError> {
        let mut request = LogoutRequest {
            state: get(pairs, "state").map(str::to_owned),
            ..LogoutRequest::default()
        };
        let mut client_id = get(pairs, "client_id").map(str::to_owned);
        if let Some(hint) = get(pairs, "id_token_hint") {
            let (sub, aud) = self.check_id_token_hint(hint)?;
            if client_id.as_ref().is_some_and(|c| *c != aud) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the id_token_hint",
                ));
            }
            client_id = Some(aud);
            request.hinted_subject = Some(sub);
        }
        let client = match &client_id {
            Some(id) => self.clients.find_client(&ClientId(id.clone())).await?,
            None => None,
        };
        if request.hinted_subject.is_some() && client.is_none() {
            // An ID token's audience is a registered client; anything else is not one of ours.
            return Err(OAuthError::invalid_request(
                "id_token_hint is not a valid ID token from this server",
            ));
        }
        if let Some(uri) = get(pairs, "post_logout_redirect_uri") {
            let Some(client) = &client else {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri needs id_token_hint or client_id",
                ));
            };
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri is not registered for this application",
                ));
            }
            request.post_logout_redirect_uri = Some(uri.to_owned());
        }
        request.client_name = client.as_ref().map(|c| c.name.clone());
        request.client_id = client.map(|c| c.id.0);
        Ok(request)
    }

    /// An ID token we issued (it may have expired: logout comes late), as (`sub`, `aud`).
    fn check_id_token_hint(&self, hint: &str) -> Result<(String, String), OAuthError> {
        let bad = || {
            OAuthError::invalid_request("id_token_hint is not a valid ID token from this server")
        };
        let verified = self.signer.verify(hint).map_err(|e| bad().with_source(e))?;
        // Only an ID token will do: an access token (`at+jwt`) also names the user, and anyone
        // holding one (a resource server) could otherwise log the user out unconfirmed.
        if !matches!(verified.typ.as_deref(), None | Some("JWT")) {
            return Err(bad());
        }
        let claims = &verified.claims;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(bad());
        }
        let sub = claims.get("sub").and_then(Value::as_str).ok_or_else(bad)?;
        let aud = match claims.get("aud") {
            Some(Value::String(a)) => a.clone(),
            Some(Value::Array(list)) if list.len() == 1 => {
                list[0].as_str().ok_or_else(bad)?.to_owned()
            }
            _ => return Err(bad()),
        };
        Ok((sub.to_owned(), aud))
    }
}
