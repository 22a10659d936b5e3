//! The people-facing consoles: the self-service account pages (`/account/...`, every signed-in
//! user) and the admin console (`/admin/...`, holders of admin permissions). docs/console.md
//! shows them.
//!
//! Both are server-rendered pages over the browser session, like the sign-in pages, and follow
//! the same rules: the session decides who the user is, its CSRF token guards every form (read
//! through the one form extractor, which also checks the origin), and every rule — what a page
//! may show, what an action may do — lives here or in the administration service
//! ([`crate::admin`]), never only in a page. A page hides what its viewer may not do; the
//! service refuses it anyway when it is posted.
//!
//! Each area has its own module and its own view type, rendered by the server's matching route
//! module and by `palisade-pages`' matching console module:
//! - [`account`]: profile, password, connected applications (the second factors and the
//!   password form live on the security page, [`crate::account_security`]);
//! - [`admin`]: the admin console's users and clients, and the
//!   console's own sign-in rules (admin permissions, a second factor by default);
//! - [`roles`]: roles and permissions, and access reviews of role grants;
//! - [`sessions`]: where the user is signed in;
//! - [`audit`]: the user's activity and the admin console's audit log;
//! - [`keys`]: the signing keys' timeline.

pub mod account;
pub mod admin;
pub mod audit;
pub mod keys;
pub mod roles;
pub mod sessions;
pub mod sign_in;

use crate::interaction::{Browser, Refusal};
use crate::server::AuthorizationServer;
use crate::session::BrowserSession;
use palisade_core::OAuthError;
use palisade_core::model::{Permission, User};

/// A page of a console, as the navigation lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    // The account console.
    Profile,
    Security,
    Sessions,
    Applications,
    Activity,
    // The admin console.
    Users,
    Roles,
    Reviews,
    Clients,
    Keys,
    Audit,
}

impl Section {
    /// The account console's sections, in navigation order.
    pub const ACCOUNT: [Section; 5] = [
        Self::Profile,
        Self::Security,
        Self::Sessions,
        Self::Applications,
        Self::Activity,
    ];
    /// The admin console's sections, in navigation order.
    pub const ADMIN: [Section; 6] = [
        Self::Users,
        Self::Roles,
        Self::Reviews,
        Self::Clients,
        Self::Keys,
        Self::Audit,
    ];

    /// The section's page, relative to the issuer.
    pub fn path(self) -> &'static str {
        match self {
            Self::Profile => "/account",
            Self::Security => "/account/security",
            Self::Sessions => "/account/sessions",
            Self::Applications => "/account/applications",
            Self::Activity => "/account/activity",
            Self::Users => "/admin/users",
            Self::Roles => "/admin/roles",
            Self::Reviews => "/admin/reviews",
            Self::Clients => "/admin/clients",
            Self::Keys => "/admin/keys",
            Self::Audit => "/admin/audit",
        }
    }

    /// The permission needed to see the section at all (an admin section is listed only to
    /// those who hold it; its actions need more, checked by the administration service).
    pub fn needs(self) -> Option<Permission> {
        match self {
            Self::Profile
            | Self::Security
            | Self::Sessions
            | Self::Applications
            | Self::Activity => None,
            Self::Users => Some(Permission::UsersRead),
            Self::Roles | Self::Reviews => Some(Permission::RolesRead),
            Self::Clients => Some(Permission::ClientsRead),
            Self::Keys => Some(Permission::KeysRead),
            Self::Audit => Some(Permission::AuditRead),
        }
    }
}

/// The signed-in user at a console page, and their session.
#[derive(Debug)]
pub struct Viewer {
    pub user: User,
    pub session: BrowserSession,
    /// The session cookie's value: names the page's ceremonies (passkey registration).
    pub raw_session: String,
    /// The browser at the page: a session it starts (after a password change) is indexed
    /// with its user agent and address.
    pub browser: Browser,
}

impl Viewer {
    /// The name the console greets the user by.
    pub fn display_name(&self) -> String {
        self.user
            .display_name
            .clone()
            .unwrap_or_else(|| self.user.username.as_str().to_owned())
    }

    /// Whether a posted form carries this session's CSRF token.
    pub fn posted_by_its_page(&self, csrf_token: Option<&str>) -> bool {
        crate::interaction::csrf_matches(&self.session.csrf_token, csrf_token)
    }
}

/// What every console page shows around its content: who is signed in, the navigation (only
/// the sections the viewer may open), and the CSRF token every form of the page carries.
#[derive(Debug, Clone)]
pub struct Frame {
    pub user_display: String,
    pub csrf_token: String,
    pub current: Section,
    pub nav: Vec<Section>,
    /// The viewer holds some administrative permission: the account console links to the
    /// admin console, and back.
    pub may_administer: bool,
}

impl AuthorizationServer {
    /// The signed-in user at a console page, or the refusal that sends a signed-out visitor to
    /// the console's sign-in and back ([`sign_in`]).
    pub async fn console_viewer(&self, browser: &Browser) -> Result<Viewer, Refusal> {
        let signed_out = || sign_in::sign_in_first(false);
        let Some(raw_session) = browser.session.clone() else {
            return Err(signed_out());
        };
        let session = match self.find_session(&raw_session).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(signed_out()),
            Err(e) => return Err(Refusal::page(e.into())),
        };
        match self
            .user_signed_in_at(&session.user_id, session.auth_time)
            .await
        {
            Ok(Some(user)) => Ok(Viewer {
                user,
                session,
                raw_session,
                browser: browser.clone(),
            }),
            Ok(None) => Err(signed_out()),
            Err(e) => Err(Refusal::page(e.into())),
        }
    }

    /// The account console's frame for `viewer` at `current`.
    pub async fn account_frame(
        &self,
        viewer: &Viewer,
        current: Section,
    ) -> Result<Frame, OAuthError> {
        let held = self
            .roles
            .permissions_of_user(&viewer.user.id, self.clock.now())
            .await?;
        Ok(Frame {
            user_display: viewer.display_name(),
            csrf_token: viewer.session.csrf_token.clone(),
            current,
            nav: Section::ACCOUNT.to_vec(),
            may_administer: !held.is_empty(),
        })
    }
}

/// The page that answers an administration error no console page can show as a problem: the
/// viewer may not (403), or the store or the server failed (the error page). One mapping for
/// every console area, so a refusal reads and counts the same wherever it happens.
pub(crate) fn admin_refusal(error: crate::admin::AdminError) -> Refusal {
    use crate::admin::AdminError;
    match error {
        AdminError::Forbidden(why) => Refusal::forbidden(OAuthError::access_denied(why)),
        AdminError::NotFound(what) => Refusal::page(OAuthError::invalid_request(what)),
        AdminError::Invalid(why) | AdminError::Conflict(why) => {
            Refusal::page(OAuthError::invalid_request(why))
        }
        AdminError::Protocol(e) => Refusal::page(e),
        AdminError::Store(e) => Refusal::page(e.into()),
        AdminError::Internal(why) => {
            tracing::error!(error = %why, "an administrative action failed");
            Refusal::page(OAuthError::server_error(why))
        }
    }
}
