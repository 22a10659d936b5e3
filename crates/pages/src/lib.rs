//! Palisade's HTML pages: plain view models rendered by askama templates in `templates/`.
//!
//! The pages know nothing of OAuth or HTTP: they take strings and booleans and return HTML.
//! askama escapes every interpolated value, so user input can never become markup.

use askama::Template;
use std::borrow::Cow;

pub use askama::Error as RenderError;

pub mod assets;

/// Shown when a request cannot go back to the application: the message says what went wrong
/// without echoing unvalidated input.
#[derive(Template, Debug)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub heading: &'a str,
    pub message: &'a str,
    /// The OAuth error code, when there is one.
    pub error_code: Option<&'a str>,
}

/// The landing page at `/`.
#[derive(Template, Debug)]
#[template(path = "home.html")]
pub struct HomePage<'a> {
    pub discovery_url: &'a str,
}

/// The sign-in form (`POST form_action` with `username`, `password`, `csrf_token`,
/// `interaction_id`). One generic error slot: the page must look the same whatever was wrong
/// (docs/threat-model.md LF-02).
#[derive(Template, Debug)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// The application the user is signing in to, when known.
    pub client_name: Option<&'a str>,
    /// Prefilled username (`login_hint`, or what was typed before a failed attempt).
    pub username: &'a str,
    pub error: Option<&'a str>,
    pub csrf_token: &'a str,
    /// Where the form posts, e.g. `/login`.
    pub form_action: &'a str,
    /// Which pending authorization request this login continues.
    pub interaction_id: &'a str,
}

/// One requested scope, in words.
#[derive(Debug, Clone)]
pub struct ScopeLine<'a> {
    pub name: &'a str,
    pub description: Cow<'a, str>,
}

/// The consent form (`POST form_action` with `decision=allow|deny`, `csrf_token`,
/// `interaction_id`).
#[derive(Template, Debug)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub scopes: Vec<ScopeLine<'a>>,
    /// `false` for clients that registered themselves (RFC 7591): the page warns the user
    /// (docs/threat-model.md RG-07).
    pub is_client_verified: bool,
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub interaction_id: &'a str,
    /// Who is signed in, e.g. the username.
    pub user_display: &'a str,
}

/// Asks before ending the session when logout was not proven to come from the user's own
/// application (OIDC RP-Initiated Logout §2-3; docs/threat-model.md SS-04). Posts `confirm=yes`,
/// `csrf_token` and `hidden_fields` to `form_action`.
#[derive(Template, Debug)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub client_name: Option<&'a str>,
    /// Parameters carried to the confirmation POST, as `(name, value)`: `id_token_hint`,
    /// `post_logout_redirect_uri`, `state`, `client_id`, ...
    pub hidden_fields: Vec<(&'a str, &'a str)>,
}

/// Shown after logout when there is no application to return to.
#[derive(Template, Debug, Default)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage;

/// Methods every page's layout calls.
trait Layout {
    fn lang(&self) -> &str {
        "en"
    }
    fn stylesheet(&self) -> &'static str {
        assets::STYLESHEET.path()
    }
}
impl Layout for ErrorPage<'_> {}
impl Layout for HomePage<'_> {}
impl Layout for LoginPage<'_> {}
impl Layout for ConsentPage<'_> {}
impl Layout for LogoutConfirmPage<'_> {}
impl Layout for LoggedOutPage {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_escapes_what_it_shows() {
        let html = ErrorPage {
            heading: "Not found",
            message: "<script>alert(1)</script>",
            error_code: Some("invalid_request"),
        }
        .render()
        .unwrap();
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("invalid_request"));
        assert!(html.contains(&format!(
            r#"<link rel="stylesheet" href="{}">"#,
            assets::STYLESHEET.path()
        )));
    }

    const HOSTILE: &str = "\"><script>alert(1)</script>";

    /// What every page must be: escaped, script-free, in a language, styled by our own CSS.
    fn assert_safe_page(html: &str) {
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        assert!(html.contains(r#"<html lang="en">"#), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "third-party: {html}"
        );
        assert!(html.contains(assets::STYLESHEET.path()));
    }

    fn has_hidden(html: &str, name: &str, value: &str) -> bool {
        html.contains(&format!(
            r#"<input type="hidden" name="{name}" value="{value}">"#
        ))
    }

    fn login(error: Option<&str>) -> String {
        LoginPage {
            client_name: Some(HOSTILE),
            username: HOSTILE,
            error,
            csrf_token: "csrf-123",
            form_action: "/login",
            interaction_id: "ix-9",
        }
        .render()
        .unwrap()
    }

    #[test]
    fn the_login_page_escapes_hostile_input_and_carries_the_csrf_token() {
        let html = login(Some("Wrong username or password."));
        assert_safe_page(&html);
        assert!(
            html.contains("&#34;&#62;&#60;script&#62;")
                || html.contains("&quot;&gt;&lt;script&gt;")
        );
        assert!(has_hidden(&html, "csrf_token", "csrf-123"), "{html}");
        assert!(has_hidden(&html, "interaction_id", "ix-9"), "{html}");
        assert!(html.contains(r#"<form method="post" action="/login">"#));
    }

    #[test]
    fn the_login_form_is_labelled_and_autofillable() {
        let html = login(None);
        for needle in [
            r#"<label for="username">"#,
            r#"id="username" name="username""#,
            r#"autocomplete="username""#,
            r#"<label for="password">"#,
            r#"type="password" id="password" name="password" autocomplete="current-password""#,
        ] {
            assert!(html.contains(needle), "{needle} missing: {html}");
        }
        assert!(
            !html.contains("aria-describedby"),
            "no error, nothing to describe"
        );
        assert!(!html.contains(r#"role="alert""#));
    }

    #[test]
    fn a_login_error_is_announced_and_tied_to_the_fields() {
        let html = login(Some("Wrong username or password."));
        assert!(html.contains(
            r#"<p class="error" id="login-error" role="alert">Wrong username or password.</p>"#
        ));
        assert_eq!(
            html.matches(r#"aria-describedby="login-error""#).count(),
            2,
            "{html}"
        );
    }

    #[test]
    fn the_consent_page_lists_scopes_in_words_and_offers_allow_and_deny() {
        let html = ConsentPage {
            client_name: HOSTILE,
            scopes: vec![
                ScopeLine {
                    name: "openid",
                    description: "Sign you in and know who you are".into(),
                },
                ScopeLine {
                    name: "x",
                    description: Cow::Owned(format!("Access: {HOSTILE}")),
                },
            ],
            is_client_verified: false,
            csrf_token: "csrf-123",
            form_action: "/consent",
            interaction_id: "ix-9",
            user_display: HOSTILE,
        }
        .render()
        .unwrap();
        assert_safe_page(&html);
        assert!(has_hidden(&html, "csrf_token", "csrf-123"), "{html}");
        assert!(has_hidden(&html, "interaction_id", "ix-9"), "{html}");
        assert!(html.contains("<li>Sign you in and know who you are</li>"));
        assert!(
            html.contains(r#"<button type="submit" name="decision" value="allow">Allow</button>"#)
        );
        assert!(html.contains(r#"name="decision" value="deny""#));
        assert!(
            html.contains("has not been reviewed"),
            "unverified clients are flagged"
        );
    }

    #[test]
    fn a_verified_client_is_not_flagged() {
        let html = ConsentPage {
            client_name: "Example",
            scopes: vec![],
            is_client_verified: true,
            csrf_token: "c",
            form_action: "/consent",
            interaction_id: "i",
            user_display: "alice",
        }
        .render()
        .unwrap();
        assert!(!html.contains("has not been reviewed"));
        assert!(html.contains("Signed in as alice."));
    }

    #[test]
    fn the_logout_confirmation_carries_its_fields_escaped() {
        let html = LogoutConfirmPage {
            csrf_token: "csrf-123",
            form_action: "/logout",
            client_name: Some(HOSTILE),
            hidden_fields: vec![("id_token_hint", "eyJ.x.y"), ("state", HOSTILE)],
        }
        .render()
        .unwrap();
        assert_safe_page(&html);
        assert!(has_hidden(&html, "csrf_token", "csrf-123"), "{html}");
        assert!(has_hidden(&html, "id_token_hint", "eyJ.x.y"), "{html}");
        assert!(
            html.contains(r#"<input type="hidden" name="state" value="&#34;&#62;&#60;script"#)
                || html.contains("&quot;&gt;&lt;script"),
            "{html}"
        );
        assert!(html.contains("Do you want to sign out?"));
        assert!(html.contains(r#"<form method="post" action="/logout">"#));
    }

    #[test]
    fn the_logged_out_page_says_so() {
        let html = LoggedOutPage.render().unwrap();
        assert_safe_page(&html);
        assert!(html.contains("You are signed out."));
    }
}
