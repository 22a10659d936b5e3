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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CONSOLE_EN;
    use crate::catalogue::roles::EN;

    const HOSTILE: &str = "<img src=x onerror=alert(1)>";

    fn frame() -> ConsoleFrame<'static> {
        ConsoleFrame {
            text: &CONSOLE_EN,
            console_name: CONSOLE_EN.admin_console,
            heading: "Role auditor",
            user_display: "root",
            nav: vec![],
            other_console: None,
            sign_out_href: "/logout".into(),
            notice: None,
            problem: None,
        }
    }

    fn stamp() -> Option<Stamp> {
        Some(Stamp {
            datetime: "2027-01-01T00:00:00Z".into(),
            shown: "2027-01-01 00:00 UTC".into(),
        })
    }

    fn holders(may_change: bool) -> String {
        RoleHoldersPage {
            frame: frame(),
            text: &EN,
            role: "auditor",
            description: Some(HOSTILE),
            permissions: vec!["audit:read"],
            holders: vec![HolderLine {
                user_id: "u-1",
                username: HOSTILE,
                granted_by: None,
                granted_at: None,
                expires_at: stamp(),
                confirmed_at: None,
                last_sign_in_at: None,
            }],
            may_change,
            csrf_token: "csrf-1",
            form_action: "/admin/roles".into(),
            all_roles_href: "/admin/roles".into(),
            username: HOSTILE,
            expires: "",
            min_expiry: "2026-12-05".into(),
            previous_href: None,
            next_href: Some("/admin/roles?role=auditor&page=1".into()),
            page_label: "Page 1".into(),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn a_role_page_escapes_what_it_shows_and_has_forms_only_for_those_who_may_change() {
        let html = holders(true);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains(r#"<time datetime="2027-01-01T00:00:00Z">"#));
        assert!(html.contains(EN.before_records));
        assert_eq!(
            html.matches(r#"name="csrf_token" value="csrf-1""#).count(),
            2
        );
        assert!(html.contains(r#"<label for="grant-username">"#));
        assert!(html.contains(r#"<label for="grant-expires">"#));
        assert!(html.contains(r#"rel="next""#));

        let html = holders(false);
        assert!(!html.contains("<form"), "{html}");
        assert!(!html.contains("csrf-1"));
    }

    #[test]
    fn a_review_has_one_form_with_a_labelled_checkbox_per_grant_only_for_deciders() {
        let page = |may_decide| {
            ReviewsPage {
                frame: frame(),
                text: &EN,
                stale_after_days: 90,
                grants: vec![ReviewLine {
                    key: "u-1:auditor".into(),
                    username: HOSTILE,
                    role: "auditor",
                    granted_by: Some("root"),
                    granted_at: stamp(),
                    confirmed_at: None,
                    expires_at: None,
                    last_sign_in_at: None,
                }],
                may_decide,
                csrf_token: "csrf-1",
                form_action: "/admin/reviews".into(),
                previous_href: None,
                next_href: None,
                page_label: "Page 1".into(),
            }
            .render()
            .unwrap()
        };
        let html = page(true);
        assert!(!html.contains("<img"), "{html}");
        assert_eq!(html.matches(r#"method="post""#).count(), 1);
        assert!(html.contains(
            r#"type="checkbox" id="grant-1" name="grant" value="u-1:auditor" aria-label="Select: "#
        ));
        assert!(html.contains(r#"name="decision" value="confirm""#));
        assert!(html.contains(r#"name="decision" value="revoke""#));
        let html = page(false);
        assert!(!html.contains(r#"method="post""#) && !html.contains("checkbox"));
        // The filter form (a GET) stays for everyone.
        assert!(html.contains(r#"<label for="stale-days">"#));
    }
}
