//! The admin console (`/admin/...`): users, clients, signing keys, the audit log.
//!
//! Who may enter: a signed-in user who holds at least one administrative permission through
//! their roles, resolved on every request (a role taken away closes the console at the next
//! click), and — unless the operator turned it off (`admin_console_requires_mfa`) — whose
//! session was signed in with a second factor: the console can hand out every right the
//! server has, so a stolen password alone must not open it.
//!
//! What they may do is decided by the administration service ([`crate::admin`]) with the
//! [`Caller`] built here; the pages only hide what the caller does not hold.

use super::{Frame, Section, Viewer};
use crate::admin::Caller;
use crate::interaction::{Browser, Refusal};
use crate::mfa::assurance::Assurance;
use crate::server::AuthorizationServer;
use palisade_core::{ErrorCode, OAuthError};

/// A page of the admin console.
#[derive(Debug)]
pub enum AdminView {}

/// A user allowed into the admin console: their session, and the caller the administration
/// service acts for.
#[derive(Debug)]
pub struct AdminViewer {
    pub viewer: Viewer,
    pub caller: Caller,
}

impl AdminViewer {
    /// The admin console's frame at `current`: only the sections the caller may open.
    pub fn frame(&self, current: Section) -> Frame {
        Frame {
            user_display: self.viewer.display_name(),
            csrf_token: self.viewer.session.csrf_token.clone(),
            current,
            nav: Section::ADMIN
                .into_iter()
                .filter(|s| s.needs().is_none_or(|p| self.caller.holds(p)))
                .collect(),
            may_administer: true,
        }
    }

    /// Refuses a section the caller may not open (a typed URL, not a link we showed).
    pub fn may_open(&self, section: Section) -> Result<(), Refusal> {
        match section.needs() {
            Some(p) if !self.caller.holds(p) => Err(Refusal::page(OAuthError::new(
                ErrorCode::AccessDenied,
                "your roles do not let you open this page",
            ))),
            _ => Ok(()),
        }
    }
}

impl AuthorizationServer {
    /// The user at an admin console page, or the page that turns them away.
    pub async fn admin_viewer(&self, browser: &Browser) -> Result<AdminViewer, Refusal> {
        let viewer = self.console_viewer(browser).await?;
        let held = self
            .roles
            .permissions_of_user(&viewer.user.id, self.clock.now())
            .await
            .map_err(|e| Refusal::page(e.into()))?;
        let caller = Caller::for_user(
            &viewer.user.id,
            held,
            browser.client_ip.map(|ip| ip.to_string()),
        );
        if caller.holds_nothing() {
            return Err(Refusal::page(OAuthError::new(
                ErrorCode::AccessDenied,
                "your account has no administrative role",
            )));
        }
        if self.policy.admin_console_requires_mfa
            && Assurance::of_amr(&viewer.session.amr) != Assurance::MultiFactor
        {
            return Err(Refusal::page(OAuthError::new(
                ErrorCode::InteractionRequired,
                "the admin console needs a sign-in with a second factor; sign out, then sign in again with your authenticator app or passkey",
            )));
        }
        Ok(AdminViewer { viewer, caller })
    }
}
