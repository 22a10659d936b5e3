//! The account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.

use super::ConsoleFrame;
use crate::Layout;
use crate::catalogue::sessions::SessionsText;
use askama::Template;

/// `/account/sessions`: each live session with a sign-out button, and "sign out all other
/// sessions". Forms post `csrf_token` and `action` (`end` with `handle`, or `end-others`).
#[derive(Template, Debug)]
#[template(path = "account/sessions.html")]
pub struct SessionsPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static SessionsText,
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub rows: Vec<SessionRow>,
    /// Some session other than this one is listed.
    pub has_others: bool,
}

/// One session.
#[derive(Debug)]
pub struct SessionRow {
    pub handle: String,
    /// "Chrome on Linux".
    pub browser: String,
    /// The whole user agent, as a tooltip.
    pub user_agent: String,
    pub address: String,
    /// RFC 3339, and as shown.
    pub signed_in_at: String,
    pub signed_in_shown: String,
    pub last_seen_at: String,
    pub last_seen_shown: String,
    pub is_current: bool,
    pub sign_out_label: String,
}

impl Layout for SessionsPage<'_> {}
