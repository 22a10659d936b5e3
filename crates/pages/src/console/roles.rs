//! The roles console's pages: the roles overview, one role's holders (with the grant and
//! revoke forms), and the access review (one form, a checkbox per grant).

use super::ConsoleFrame;
use crate::Layout;
use crate::catalogue::roles::RolesText;
use askama::Template;

/// An instant as a page shows it: `<time datetime="{datetime}">{shown}</time>`.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// RFC 3339.
    pub datetime: String,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub shown: String,
}

/// A role in the overview.
#[derive(Debug)]
pub struct RoleLine<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub permissions: Vec<&'a str>,
    pub require_mfa: bool,
    /// The role's page of holders.
    pub href: String,
    /// How many hold it, worded ("2 holders").
    pub holders: String,
}

/// `GET /admin/roles`.
#[derive(Template, Debug)]
#[template(path = "admin/roles.html")]
pub struct RolesPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static RolesText,
    pub roles: Vec<RoleLine<'a>>,
}

/// One holder of a role.
#[derive(Debug)]
pub struct HolderLine<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    /// `None`: granted before records began.
    pub granted_by: Option<&'a str>,
    pub granted_at: Option<Stamp>,
    pub expires_at: Option<Stamp>,
    pub confirmed_at: Option<Stamp>,
    pub last_sign_in_at: Option<Stamp>,
}

/// `GET /admin/roles?role=NAME`.
#[derive(Template, Debug)]
#[template(path = "admin/roles_holders.html")]
pub struct RoleHoldersPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static RolesText,
    pub role: &'a str,
    pub description: Option<&'a str>,
    pub permissions: Vec<&'a str>,
    pub holders: Vec<HolderLine<'a>>,
    /// Show the grant form and the revoke buttons.
    pub may_change: bool,
    /// The session's, carried by every form.
    pub csrf_token: &'a str,
    pub form_action: String,
    pub all_roles_href: String,
    /// Prefilled after a problem.
    pub username: &'a str,
    pub expires: &'a str,
    /// The earliest date the expiry field accepts (today, UTC).
    pub min_expiry: String,
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
    pub page_label: String,
}

/// One grant in the review.
#[derive(Debug)]
pub struct ReviewLine<'a> {
    /// `<user id>:<role>`, the checkbox's value.
    pub key: String,
    pub username: &'a str,
    pub role: &'a str,
    pub granted_by: Option<&'a str>,
    pub granted_at: Option<Stamp>,
    pub confirmed_at: Option<Stamp>,
    pub expires_at: Option<Stamp>,
    pub last_sign_in_at: Option<Stamp>,
}

/// `GET /admin/reviews`.
#[derive(Template, Debug)]
#[template(path = "admin/reviews.html")]
pub struct ReviewsPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static RolesText,
    pub stale_after_days: u32,
    pub grants: Vec<ReviewLine<'a>>,
    /// Show the checkboxes and the decision buttons.
    pub may_decide: bool,
    /// The session's, carried by the form.
    pub csrf_token: &'a str,
    pub form_action: String,
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
    pub page_label: String,
}

impl Layout for RolesPage<'_> {}
impl Layout for RoleHoldersPage<'_> {}
impl Layout for ReviewsPage<'_> {}
