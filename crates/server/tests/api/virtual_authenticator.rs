//! A WebDriver virtual authenticator (WebAuthn Level 3 §11.3) in headless Chromium: it answers
//! every ceremony without a prompt, and the test can read, keep and put back what it holds.
//!
//! Chromium's virtual authenticator also answers a *conditional* request at once (as if the
//! person picked the passkey in the autofill), so a page that starts one signs in by itself
//! when a credential is there. To see a button do the work instead, a test takes the
//! authenticator away ([`VirtualAuthenticator::unplug`]) while the page loads and plugs a copy
//! in ([`VirtualAuthenticator::plug_in`]) before the click.

use crate::headless_chromium::Chromium;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};
use url::Url;

/// One WebDriver command under `/session/{id}/webauthn/...`.
#[derive(Debug)]
struct Command {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for Command {
    fn endpoint(&self, base_url: &Url, session_id: Option<&str>) -> Result<Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &Url) -> (reqwest::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

/// A platform authenticator that keeps discoverable credentials and verifies its user.
pub(crate) struct VirtualAuthenticator {
    id: Option<String>,
}

impl VirtualAuthenticator {
    pub(crate) async fn add(browser: &Chromium) -> Self {
        let mut authenticator = Self { id: None };
        authenticator.plug_in(browser, &[]).await;
        authenticator
    }

    async fn issue(
        browser: &Chromium,
        method: reqwest::Method,
        path: String,
        body: Option<Value>,
    ) -> Value {
        browser
            .client
            .issue_cmd(Command { method, path, body })
            .await
            .unwrap_or_else(|e| panic!("WebDriver webauthn command failed: {e}"))
    }

    fn id(&self) -> &str {
        self.id.as_deref().expect("the authenticator is plugged in")
    }

    /// What it holds: `credentialId`, `isResidentCredential`, `rpId`, `privateKey`,
    /// `userHandle`, `signCount`, as WebDriver reports them.
    pub(crate) async fn credentials(&self, browser: &Chromium) -> Vec<Value> {
        let path = format!("authenticator/{}/credentials", self.id());
        let held = Self::issue(browser, reqwest::Method::GET, path, None).await;
        held.as_array()
            .unwrap_or_else(|| panic!("not a list: {held}"))
            .clone()
    }

    /// Takes it out of the browser; returns what it held, to plug back in later.
    pub(crate) async fn unplug(&mut self, browser: &Chromium) -> Vec<Value> {
        let held = self.credentials(browser).await;
        let path = format!("authenticator/{}", self.id());
        Self::issue(browser, reqwest::Method::DELETE, path, None).await;
        self.id = None;
        held
    }

    /// A new authenticator of the same kind, holding `credentials`.
    pub(crate) async fn plug_in(&mut self, browser: &Chromium, credentials: &[Value]) {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        });
        let id = Self::issue(
            browser,
            reqwest::Method::POST,
            "authenticator".into(),
            Some(options),
        )
        .await;
        let id = id
            .as_str()
            .unwrap_or_else(|| panic!("no authenticator id in {id}"))
            .to_owned();
        for credential in credentials {
            let keep = [
                "credentialId",
                "isResidentCredential",
                "rpId",
                "privateKey",
                "userHandle",
                "signCount",
            ];
            let copy: serde_json::Map<String, Value> = keep
                .iter()
                .filter_map(|k| credential.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            let path = format!("authenticator/{id}/credential");
            Self::issue(
                browser,
                reqwest::Method::POST,
                path,
                Some(Value::Object(copy)),
            )
            .await;
        }
        self.id = Some(id);
    }
}
