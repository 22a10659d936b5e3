//! The consoles' own sign-in (`GET /account/sign-in?return=/account/...`): a visitor without a
//! session (or, for the admin console, without a second factor) at a console page is sent
//! here, signs in on the ordinary sign-in pages, and comes back to the page they asked for.
//!
//! It is an interaction like `/authorize`'s — the same login, second-factor and enrolment
//! pages, limits, single-use steps and browser binding — with no client: it ends in
//! [`Ending::Console`], which skips consent (the console is the server's own page) and sends
//! the browser back to the console path it carries. That path is checked here, once: only a
//! path of our own consoles (`/account...`, `/admin...`) is ever followed, never another site
//! (an open redirect) nor another of our endpoints.

use super::Viewer;
use crate::authorize::{AuthorizationRequest, Ending};
use crate::interaction::admission::Admission;
use crate::interaction::decision::NextStep;
use crate::interaction::{Browser, Interaction, Outcome, Refusal, Step};
use crate::mfa::{AcrRequest, Assurance};
use crate::pkce::{CodeChallenge, CodeVerifier};
use crate::prompt::Prompt;
use crate::scope::ScopeSet;
use crate::server::AuthorizationServer;
use palisade_core::{ErrorCode, OAuthError};
use serde::{Deserialize, Serialize};

/// Where the console's sign-in starts.
pub const SIGN_IN_PATH: &str = "/account/sign-in";

/// Where a console sign-in goes back to when it was given no usable path.
const DEFAULT_RETURN: &str = "/account";

/// The longest return path followed (a console URL with its query is far shorter).
const MAX_RETURN_CHARS: usize = 512;

/// The console page a sign-in goes back to: a path of our own consoles, relative to the issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleReturn {
    pub path: String,
}

impl ConsoleReturn {
    /// `raw` if it is a path of our consoles, else the account console's first page: a
    /// visitor who followed a bad link still lands somewhere of ours.
    pub fn parse(raw: Option<&str>) -> Self {
        let path = raw
            .filter(|raw| is_console_path(raw))
            .unwrap_or(DEFAULT_RETURN);
        Self {
            path: path.to_owned(),
        }
    }
}

/// Whether `raw` is a path of our consoles: `/account` or `/admin`, alone or followed by `/`
/// or `?`, in plain printable ASCII with no `//`, no `\`, no dot segment, no fragment and no
/// percent-escape (which could hide any of those from a later decoder).
pub fn is_console_path(raw: &str) -> bool {
    let rest = ["/account", "/admin"]
        .iter()
        .find_map(|console| raw.strip_prefix(console));
    let Some(rest) = rest else {
        return false;
    };
    let (path, _query) = raw.split_once('?').unwrap_or((raw, ""));
    raw.len() <= MAX_RETURN_CHARS
        && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
        && raw.bytes().all(|b| b.is_ascii_graphic())
        && !raw.contains(['\\', '#', '%'])
        && !path.contains("//")
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

impl AuthorizationServer {
    /// `GET /account/sign-in?return=…&second_factor=1`: back to the console page at once when
    /// the browser's session will do, else a sign-in interaction that ends there.
    pub async fn start_console_sign_in(
        &self,
        return_to: Option<&str>,
        second_factor: bool,
        browser: &Browser,
    ) -> Outcome {
        let back = ConsoleReturn::parse(return_to);
        match self.console_viewer_or_none(browser).await {
            Ok(Some(viewer)) if !second_factor || has_second_factor(&viewer) => {
                return Step::ToConsole(back.path).into();
            }
            Ok(_) => {}
            Err(refusal) => return refusal.into(),
        }
        match self.console_interaction(back, second_factor, browser).await {
            Ok(outcome) => outcome,
            Err(error) => Refusal::page(error).into(),
        }
    }

    /// The signed-in viewer, if the browser's session stands; `None` if there is none.
    async fn console_viewer_or_none(&self, browser: &Browser) -> Result<Option<Viewer>, Refusal> {
        match self.console_viewer(browser).await {
            Ok(viewer) => Ok(Some(viewer)),
            Err(refusal)
                if matches!(
                    refusal.status,
                    crate::interaction::RefusalStatus::SignInFirst { .. }
                ) =>
            {
                Ok(None)
            }
            Err(refusal) => Err(refusal),
        }
    }

    async fn console_interaction(
        &self,
        back: ConsoleReturn,
        second_factor: bool,
        browser: &Browser,
    ) -> Result<Outcome, OAuthError> {
        let request = AuthorizationRequest {
            // No client: the console is the server's own page.
            client_id: String::new(),
            client_name: "Palisade".into(),
            redirect_uri: String::new(),
            state: None,
            scope: ScopeSet::empty(),
            nonce: None,
            // No code is ever issued for the console; should one be, nobody knows its verifier.
            code_challenge: CodeChallenge::s256_of(&CodeVerifier::parse(&self.secrets.token())?),
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            // The admin console's step-up: a required second factor leads a user who has one
            // to prove it, and one who has none through enrolment.
            acr: AcrRequest {
                preferred: None,
                required: second_factor.then_some(Assurance::MultiFactor),
            },
            client_requires_mfa: false,
            ends_in: Ending::Console(back),
            resources: vec![],
            dpop_jkt: None,
        };
        let session = self.session_of(browser).await?;
        let fresh_binding;
        let binding = match browser.binding.as_deref() {
            Some(existing) => existing,
            None => {
                fresh_binding = self.secrets.token();
                fresh_binding.as_str()
            }
        };
        let interaction = Interaction::start(self, request, binding);
        let page = match self.next_step(&interaction, session.as_ref()).await? {
            NextStep::Page(page) => page,
            NextStep::ToConsole(path) => return Ok(Step::ToConsole(path).into()),
            NextStep::RedirectToClient(_) | NextStep::DeviceApproved(_) => {
                return Err(OAuthError::server_error(
                    "a console sign-in ended somewhere other than the console",
                ));
            }
        };
        let interaction = interaction.awaiting(page, session.as_ref());
        let mut outcome = match self.admit(interaction, browser).await? {
            Admission::Admitted(step_id) => Outcome::from(Step::Continue { page, step_id }),
            Admission::Throttled(throttled) => return Ok(Refusal::throttled(throttled).into()),
        };
        if browser.binding.is_none() {
            outcome.cookies.browser = Some(binding.to_owned());
        }
        Ok(outcome)
    }
}

fn has_second_factor(viewer: &Viewer) -> bool {
    Assurance::of_amr(&viewer.session.amr) == Assurance::MultiFactor
}

/// The refusal that sends a visitor without a usable session to the console's sign-in.
pub(crate) fn sign_in_first(second_factor: bool) -> Refusal {
    Refusal::sign_in_first(
        OAuthError::new(
            ErrorCode::LoginRequired,
            if second_factor {
                "this page needs a sign-in with a second factor; sign in again"
            } else {
                "you are not signed in; sign in first"
            },
        ),
        second_factor,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interaction::{InteractionPage, RefusalStatus};
    use crate::test_server::TestServer;

    fn nobody() -> Browser {
        Browser {
            binding: Some("binding".into()),
            session: None,
            client_ip: Some("198.51.100.9".parse().unwrap()),
            user_agent: None,
        }
    }

    #[tokio::test]
    async fn a_console_page_sends_a_visitor_without_a_session_to_sign_in() {
        let server = TestServer::start().await;
        let refused = server.engine.console_viewer(&nobody()).await.unwrap_err();
        assert_eq!(
            refused.status,
            RefusalStatus::SignInFirst {
                second_factor: false
            }
        );
        let started = server
            .engine
            .start_console_sign_in(Some("/account/security"), false, &nobody())
            .await;
        assert!(
            matches!(
                started.step,
                Step::Continue {
                    page: InteractionPage::Login,
                    ..
                }
            ),
            "{started:?}"
        );
    }

    #[tokio::test]
    async fn a_session_goes_straight_back_and_one_without_a_second_factor_steps_up_for_admin() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let (raw, _) = server
            .engine
            .start_session(&alice, vec!["pwd".into()], &Browser::default())
            .await
            .unwrap();
        let browser = Browser {
            session: Some(raw),
            ..nobody()
        };
        let back = server
            .engine
            .start_console_sign_in(Some("https://evil.example/"), false, &browser)
            .await;
        assert!(matches!(&back.step, Step::ToConsole(path) if path == "/account"));
        let back = server
            .engine
            .start_console_sign_in(Some("/account/applications"), false, &browser)
            .await;
        assert!(matches!(&back.step, Step::ToConsole(path) if path == "/account/applications"));
        // A password session is not enough where a second factor is needed: alice has none,
        // so she enrols one; she stays signed in meanwhile.
        let stepped = server
            .engine
            .start_console_sign_in(Some("/admin/users"), true, &browser)
            .await;
        assert!(
            matches!(
                stepped.step,
                Step::Continue {
                    page: InteractionPage::Enrolment,
                    ..
                }
            ),
            "{stepped:?}"
        );
        assert!(server.engine.console_viewer(&browser).await.is_ok());
    }

    #[test]
    fn only_paths_of_our_consoles_are_followed() {
        for ours in [
            "/account",
            "/account/",
            "/account/security",
            "/account/sessions?page=2",
            "/admin",
            "/admin/users/42?tab=roles&x=a/b",
        ] {
            assert!(is_console_path(ours), "{ours}");
            assert_eq!(ConsoleReturn::parse(Some(ours)).path, ours);
        }
        for foreign in [
            "https://evil.example/account",
            "//evil.example/account",
            "/account//evil.example",
            "/accountant",
            "/administrator",
            "/account/../token",
            "/account/./x",
            "/account/%2e%2e/token",
            "/account\\..\\token",
            "/account/\u{202e}x",
            "/account/x y",
            "/account#frag",
            "/authorize?return=/account",
            "account",
            "",
            "/account/\r\nLocation: https://evil.example",
        ] {
            assert!(!is_console_path(foreign), "{foreign:?}");
            assert_eq!(ConsoleReturn::parse(Some(foreign)).path, "/account");
        }
        assert_eq!(ConsoleReturn::parse(None).path, "/account");
        assert!(!is_console_path(&format!("/account/{}", "a".repeat(600))));
    }
}
