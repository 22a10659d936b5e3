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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::sessions::EN;
    use crate::console::audit::tests::{assert_every_field_is_labelled, frame};

    #[test]
    fn each_other_session_has_a_named_sign_out_form_and_this_one_none() {
        let row = |handle: &str, is_current| SessionRow {
            handle: handle.into(),
            browser: "Chrome on Linux".into(),
            user_agent: "Mozilla/5.0 <x>".into(),
            address: "192.0.2.1".into(),
            signed_in_at: "2026-12-05T04:00:00+00:00".into(),
            signed_in_shown: "2026-12-05 04:00 UTC".into(),
            last_seen_at: "2026-12-05T04:01:00+00:00".into(),
            last_seen_shown: "2026-12-05 04:01 UTC".into(),
            is_current,
            sign_out_label: "Sign out Chrome on Linux".into(),
        };
        let html = SessionsPage {
            frame: frame("Sessions"),
            text: &EN,
            csrf_token: "tok",
            form_action: "/account/sessions",
            rows: vec![row("this", true), row("other", false)],
            has_others: true,
        }
        .render()
        .unwrap();
        assert_every_field_is_labelled(&html);
        assert!(
            !html.contains(r#"value="this""#),
            "no form for this browser"
        );
        assert!(html.contains(r#"name="handle" value="other""#));
        assert_eq!(html.matches(r#"name="csrf_token" value="tok""#).count(), 2);
        assert!(html.contains(r#"aria-label="Sign out Chrome on Linux""#));
        assert!(!html.contains("<x>"));
    }
}
