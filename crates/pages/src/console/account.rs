//! The account console's pages: the profile and the connected applications (the security
//! page, older, is [`crate::AccountSecurityPage`], in the same frame).

use super::ConsoleFrame;
use crate::Layout;
use crate::catalogue::account::AccountText;
use askama::Template;

/// `/account`: the profile form (`POST form_action` with `csrf_token`, `display_name`,
/// `email`).
#[derive(Template, Debug)]
#[template(path = "account/profile.html")]
pub struct ProfilePage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static AccountText,
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    /// Whether the stored email is verified (shown only when there is one).
    pub has_email: bool,
    pub email_verified: bool,
    /// The field a refused save is about (`display_name` or `email`): it is marked invalid
    /// and described by the page's problem.
    pub invalid_field: Option<&'static str>,
}

impl Layout for ProfilePage<'_> {}

/// One connected application, as the list shows it.
#[derive(Debug)]
pub struct ApplicationRow<'a> {
    pub client_id: &'a str,
    pub client_name: &'a str,
    pub scopes: String,
    /// RFC 3339 and the date shown.
    pub connected_at: String,
    pub connected_on: String,
    pub last_used_at: String,
    pub last_used_on: String,
    /// The accessible name of its "Disconnect" button.
    pub disconnect_label: String,
}

/// `/account/applications`: every application holding a grant, each with a "Disconnect" form
/// (`POST form_action` with `csrf_token`, `action=revoke`, `client_id`).
#[derive(Template, Debug)]
#[template(path = "account/applications.html")]
pub struct ApplicationsPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub text: &'static AccountText,
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub applications: Vec<ApplicationRow<'a>>,
    /// The neighbouring pages of the list, when there are.
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
}

impl Layout for ApplicationsPage<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CONSOLE_EN;
    use crate::catalogue::account::EN;

    fn frame() -> ConsoleFrame<'static> {
        ConsoleFrame {
            text: &CONSOLE_EN,
            console_name: CONSOLE_EN.account_console,
            heading: "Profile",
            user_display: "ada",
            nav: Vec::new(),
            other_console: None,
            sign_out_href: "/logout".into(),
            notice: None,
            problem: Some(EN.invalid_email),
        }
    }

    #[test]
    fn the_profile_form_labels_every_field_and_marks_the_refused_one() {
        let html = ProfilePage {
            frame: frame(),
            text: &EN,
            csrf_token: "csrf-1",
            form_action: "/account",
            username: "ada",
            display_name: "<Ada>",
            email: "not-an-address",
            has_email: false,
            email_verified: false,
            invalid_field: Some("email"),
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<input type="hidden" name="csrf_token" value="csrf-1">"#));
        assert!(html.contains(r#"<label for="display_name">Display name</label>"#));
        assert!(html.contains(r#"<label for="email">Email address</label>"#));
        assert!(html.contains(r#"id="email" name="email" value="not-an-address" autocomplete="email" aria-invalid="true" aria-describedby="page-problem""#), "{html}");
        assert!(!html.contains(r#"id="display_name" name="display_name" value="&#60;Ada&#62;" autocomplete="name" aria-invalid"#));
        assert!(!html.contains("<Ada>"));
    }

    #[test]
    fn each_application_has_its_own_disconnect_form_and_dates_are_times() {
        let html = ApplicationsPage {
            frame: frame(),
            text: &EN,
            csrf_token: "csrf-1",
            form_action: "/account/applications",
            applications: vec![ApplicationRow {
                client_id: "photos",
                client_name: "Photos",
                scopes: "openid profile".into(),
                connected_at: "2026-12-01T10:00:00+00:00".into(),
                connected_on: "2026-12-01".into(),
                last_used_at: "2026-12-04T10:00:00+00:00".into(),
                last_used_on: "2026-12-04".into(),
                disconnect_label: crate::catalogue::account::disconnect_named("Photos"),
            }],
            previous_href: None,
            next_href: Some("/account/applications?page=2".into()),
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<input type="hidden" name="client_id" value="photos">"#));
        assert!(html.contains(r#"<input type="hidden" name="action" value="revoke">"#));
        assert!(html.contains(r#"<time datetime="2026-12-01T10:00:00+00:00">2026-12-01</time>"#));
        assert!(html.contains(r#"aria-label="Disconnect Photos""#));
        assert!(html.contains(r#"data-label="Last used""#));
        assert!(
            html.contains(r#"<a href="/account/applications?page=2" rel="next">Next page</a>"#),
            "{html}"
        );
        assert!(!html.contains("Previous page"));
    }
}
