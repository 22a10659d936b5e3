//! The admin console's signing keys (`/admin/keys`): the lifecycle as a timeline, rotate and revoke.

use super::ConsoleFrame;
use crate::Layout;
use crate::catalogue::keys::KeysText;
use askama::Template;

/// `/admin/keys`: a table per algorithm; with `keys:write`, a rotate form per algorithm and a
/// revoke form per key that is not revoked (each leads to the confirmation page).
#[derive(Template, Debug)]
#[template(path = "admin/keys.html")]
pub struct KeysPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static KeysText,
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub groups: Vec<KeyGroup>,
    pub may_write: bool,
}

/// One algorithm's keys.
#[derive(Debug)]
pub struct KeyGroup {
    pub alg: String,
    pub caption: String,
    pub rotate_label: String,
    pub keys: Vec<KeyRow>,
}

#[derive(Debug)]
pub struct KeyRow {
    pub kid: String,
    pub state: &'static str,
    /// `current`, `next`, … (a class for the badge).
    pub state_class: &'static str,
    /// (label, RFC 3339, as shown), in lifecycle order.
    pub dates: Vec<(&'static str, String, String)>,
    pub may_revoke: bool,
    pub revoke_label: String,
}

/// The confirmation step: what will happen, and the one form that does it.
#[derive(Template, Debug)]
#[template(path = "admin/keys_confirm.html")]
pub struct KeyConfirmPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static KeysText,
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub cancel_href: &'a str,
    /// `rotate` or `revoke`, and its field (`alg` or `kid`) with its value.
    pub action: &'static str,
    pub field: &'static str,
    pub value: &'a str,
    pub consequences: Vec<String>,
    pub confirm_label: String,
    pub is_danger: bool,
}

impl Layout for KeysPage<'_> {}
impl Layout for KeyConfirmPage<'_> {}
