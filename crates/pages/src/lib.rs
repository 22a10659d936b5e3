//! Palisade's HTML pages: plain view models rendered by askama templates in `templates/`.
//!
//! The pages know nothing of OAuth or HTTP: they take strings and booleans and return HTML.
//! askama escapes every interpolated value, so user input can never become markup.

use askama::Template;
use std::borrow::Cow;

pub use askama::Error as RenderError;

pub mod assets;
pub mod catalogue;
pub mod console;

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
///
/// With `passkey_request`, the page also offers a passwordless sign-in: the username field
/// joins the browser's passkey autofill (`autocomplete="username webauthn"`), and a "Sign in
/// with a passkey" button (hidden until `webauthn.js` shows it) posts `csrf_token`,
/// `interaction_id` and `credential` to `passkey_action`.
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
    /// Request options (JSON) for a discoverable passkey, when passkeys are offered.
    pub passkey_request: Option<&'a str>,
    /// Where the passkey form posts, e.g. `/login/passkey`.
    pub passkey_action: &'a str,
}

impl LoginPage<'_> {
    /// Whether the page loads `webauthn.js` (its response then needs `script-src 'self'`).
    pub fn has_script(&self) -> bool {
        self.passkey_request.is_some()
    }
}

/// The second step of a sign-in (`POST form_action` with `csrf_token`, `interaction_id` and
/// `method=totp` + `code`, `method=recovery` + `code`, or `method=passkey` + `credential`).
/// One error slot for every wrong answer, as on the login page.
#[derive(Template, Debug)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage<'a> {
    pub client_name: Option<&'a str>,
    pub csrf_token: &'a str,
    /// Where every form of the page posts, e.g. `/login/factor`.
    pub form_action: &'a str,
    pub interaction_id: &'a str,
    pub has_totp: bool,
    pub has_recovery_codes: bool,
    /// Request options (JSON) for the user's passkeys, when the user has any.
    pub passkey_request: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl SecondFactorPage<'_> {
    /// Whether the page loads `webauthn.js` (its response then needs `script-src 'self'`).
    pub fn has_script(&self) -> bool {
        self.passkey_request.is_some()
    }
}

/// A TOTP authenticator being set up: the secret to type and the `otpauth://` URI that the QR
/// code carries.
#[derive(Debug, Clone, Copy)]
pub struct TotpSetup<'a> {
    /// Base32, in groups for reading.
    pub secret: &'a str,
    pub otpauth_uri: &'a str,
}

impl TotpSetup<'_> {
    /// The URI as a QR code in inline SVG, drawn here by the `qrcode` crate. This is the one
    /// piece of markup a template writes unescaped, so it comes from nowhere else: a
    /// [`QrSvg`] can only be made by this method. `None` when the URI does not fit in a QR
    /// code (the page then shows the secret as text only).
    pub fn qr_svg(&self) -> Option<QrSvg> {
        let code = qrcode::QrCode::new(self.otpauth_uri.as_bytes()).ok()?;
        let svg = code
            .render::<qrcode::render::svg::Color<'_>>()
            // One unit per module; the stylesheet gives the drawing its size.
            .module_dimensions(1, 1)
            .quiet_zone(true)
            .build();
        // Inline in HTML the XML prologue is noise (`<svg>` is in the SVG namespace there).
        let start = svg.find("<svg")?;
        Some(QrSvg(svg[start..].to_owned()))
    }
}

/// SVG markup drawn by the `qrcode` crate from a URI (see [`TotpSetup::qr_svg`]).
#[derive(Debug)]
pub struct QrSvg(String);

impl std::fmt::Display for QrSvg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The enrolment page of a sign-in: set up a TOTP app (`POST form_action` with `csrf_token`,
/// `interaction_id`, `method=totp`, `code`, optional `name`), or register a passkey instead
/// (`method=passkey`, `credential`; hidden until `webauthn.js` shows it).
#[derive(Template, Debug)]
#[template(path = "enrolment.html")]
pub struct EnrolmentPage<'a> {
    pub client_name: Option<&'a str>,
    pub csrf_token: &'a str,
    /// E.g. `/login/enrol`.
    pub form_action: &'a str,
    pub interaction_id: &'a str,
    pub totp: TotpSetup<'a>,
    /// Creation options (JSON) for `navigator.credentials.create`, when passkeys are offered.
    pub passkey_creation: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl EnrolmentPage<'_> {
    /// Whether the page loads `webauthn.js` (its response then needs `script-src 'self'`).
    pub fn has_script(&self) -> bool {
        self.passkey_creation.is_some()
    }
}

/// Fresh recovery codes, shown once. During a sign-in (`step_id` set) a form posts
/// `csrf_token` and `interaction_id` to `form_action` to go on; on the account page a link
/// leads back to `account_url`.
#[derive(Template, Debug)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage<'a> {
    pub codes: &'a [String],
    pub csrf_token: &'a str,
    /// E.g. `/login/recovery-codes`.
    pub form_action: &'a str,
    pub step_id: Option<&'a str>,
    /// E.g. `/account/security`.
    pub account_url: &'a str,
}

/// One enrolled factor on the account page.
#[derive(Debug, Clone, Copy)]
pub struct FactorItem<'a> {
    pub id: &'a str,
    /// `totp` or `passkey`.
    pub kind: &'a str,
    pub name: &'a str,
    /// RFC 3339.
    pub created_at: &'a str,
    pub last_used_at: Option<&'a str>,
}

impl FactorItem<'_> {
    /// The day part of an RFC 3339 time (`2026-12-04`).
    fn day(time: &str) -> &str {
        time.get(..10).unwrap_or(time)
    }

    pub fn added_on(&self) -> &str {
        Self::day(self.created_at)
    }

    pub fn last_used_on(&self) -> &str {
        self.last_used_at.map(Self::day).unwrap_or_default()
    }
}

/// The signed-in user's second factors (`/account/security`). Every form posts `csrf_token`
/// and an `action` to `form_action`: `rename` (`factor_id`, `name`), `remove` (`factor_id`,
/// `password` or `proof_code`), `totp-start`, `totp-confirm` (`code`, `name`), `passkey-add`
/// (`credential`, `name`), `recovery-codes` (`password` or `proof_code`), `password`
/// (`current_password`, `new_password`, `repeat_password`). It renders in the account
/// console's frame.
#[derive(Template, Debug)]
#[template(path = "account_security.html")]
pub struct AccountSecurityPage<'a> {
    /// The console frame: the user, the navigation, and the page's notice or problem.
    pub frame: console::ConsoleFrame<'a>,
    pub text: &'static catalogue::account::AccountText,
    /// A refused password change, said next to its form (the page's problem names it too).
    pub password_refused: bool,
    pub csrf_token: &'a str,
    /// E.g. `/account/security`.
    pub form_action: &'a str,
    pub factors: Vec<FactorItem<'a>>,
    pub recovery_codes_left: u32,
    /// A TOTP setup in progress: its QR code and confirmation form.
    pub totp: Option<TotpSetup<'a>>,
    /// Creation options (JSON) for adding a passkey, when passkeys are offered.
    pub passkey_creation: Option<&'a str>,
    pub must_keep_a_factor: bool,
}

impl AccountSecurityPage<'_> {
    /// Whether the page loads `webauthn.js` (its response then needs `script-src 'self'`).
    pub fn has_script(&self) -> bool {
        self.passkey_creation.is_some()
    }
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
    /// The host serving the metadata document of a client known only by that URL.
    pub document_host: Option<&'a str>,
    pub csrf_token: &'a str,
    pub form_action: &'a str,
    pub interaction_id: &'a str,
    /// Who is signed in, e.g. the username.
    pub user_display: &'a str,
    /// For a device's request (RFC 8628): the user code, shown so the user can compare it
    /// with the device's screen before allowing (RFC 8628 §5.4).
    pub user_code: Option<&'a str>,
}

/// The device flow's user-code form (RFC 8628 §3.3): `POST form_action` with `user_code` and
/// `csrf_token`. One error slot for every wrong code, as on the login page.
#[derive(Template, Debug)]
#[template(path = "device.html")]
pub struct DeviceEntryPage<'a> {
    /// Prefilled from `verification_uri_complete`, or what was typed before.
    pub user_code: &'a str,
    pub csrf_token: &'a str,
    /// E.g. `/device`.
    pub form_action: &'a str,
    pub error: Option<&'a str>,
}

/// Where a device interaction ends: the device is connected, or was denied.
#[derive(Template, Debug)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage<'a> {
    pub client_name: &'a str,
    pub is_approved: bool,
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
pub(crate) trait Layout {
    fn lang(&self) -> &str {
        "en"
    }
    fn stylesheet(&self) -> &'static str {
        assets::STYLESHEET.path()
    }
    /// The one script a page may load: `webauthn.js`, on pages that offer a passkey.
    fn script(&self) -> Option<&'static str> {
        None
    }
}

/// `webauthn.js` when the page offers a passkey.
fn webauthn_script(offered: bool) -> Option<&'static str> {
    offered.then(|| assets::WEBAUTHN_SCRIPT.path())
}

impl Layout for ErrorPage<'_> {}
impl Layout for HomePage<'_> {}
impl Layout for LoginPage<'_> {
    fn script(&self) -> Option<&'static str> {
        webauthn_script(self.has_script())
    }
}
impl Layout for SecondFactorPage<'_> {
    fn script(&self) -> Option<&'static str> {
        webauthn_script(self.has_script())
    }
}
impl Layout for EnrolmentPage<'_> {
    fn script(&self) -> Option<&'static str> {
        webauthn_script(self.has_script())
    }
}
impl Layout for RecoveryCodesPage<'_> {}
impl Layout for AccountSecurityPage<'_> {
    fn script(&self) -> Option<&'static str> {
        webauthn_script(self.has_script())
    }
}
impl Layout for ConsentPage<'_> {}
impl Layout for DeviceEntryPage<'_> {}
impl Layout for DeviceDonePage<'_> {}
impl Layout for LogoutConfirmPage<'_> {}
impl Layout for LoggedOutPage {}

#[cfg(test)]
mod factor_tests;

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

    pub(crate) const HOSTILE: &str = "\"><script>alert(1)</script>";

    /// What every page must be: escaped, script-free, in a language, styled by our own CSS.
    pub(crate) fn assert_safe_page(html: &str) {
        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        assert!(html.contains(r#"<html lang="en">"#), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "third-party: {html}"
        );
        assert!(html.contains(assets::STYLESHEET.path()));
    }

    pub(crate) fn has_hidden(html: &str, name: &str, value: &str) -> bool {
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
            passkey_request: None,
            passkey_action: "/login/passkey",
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
            document_host: None,
            csrf_token: "csrf-123",
            form_action: "/consent",
            interaction_id: "ix-9",
            user_display: HOSTILE,
            user_code: None,
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
            document_host: None,
            csrf_token: "c",
            form_action: "/consent",
            interaction_id: "i",
            user_display: "alice",
            user_code: None,
        }
        .render()
        .unwrap();
        assert!(!html.contains("has not been reviewed"));
        assert!(html.contains("Signed in as alice."));
    }

    #[test]
    fn a_metadata_document_client_is_flagged_with_its_host_escaped() {
        let html = ConsentPage {
            client_name: "Totally Official App",
            scopes: vec![],
            is_client_verified: false,
            document_host: Some(HOSTILE),
            csrf_token: "c",
            form_action: "/consent",
            interaction_id: "i",
            user_display: "alice",
            user_code: None,
        }
        .render()
        .unwrap();
        assert_safe_page(&html);
        assert!(html.contains("not registered with this server"), "{html}");
        assert!(!html.contains("registered itself"), "{html}");
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
    fn a_device_consent_shows_the_user_code_to_compare() {
        let html = ConsentPage {
            client_name: "TV App",
            scopes: vec![],
            is_client_verified: true,
            document_host: None,
            csrf_token: "c",
            form_action: "/consent",
            interaction_id: "i",
            user_display: "alice",
            user_code: Some("BCDF-GHJK"),
        }
        .render()
        .unwrap();
        assert!(
            html.contains(r#"<code class="user-code">BCDF-GHJK</code>"#),
            "{html}"
        );
        assert!(html.contains("Only allow if"), "{html}");
    }

    #[test]
    fn the_device_entry_form_escapes_what_was_typed_and_carries_the_csrf_token() {
        let html = DeviceEntryPage {
            user_code: HOSTILE,
            csrf_token: "csrf-1",
            form_action: "/device",
            error: Some("That code was not recognised."),
        }
        .render()
        .unwrap();
        assert_safe_page(&html);
        assert!(has_hidden(&html, "csrf_token", "csrf-1"), "{html}");
        assert!(html.contains(r#"name="user_code""#));
        assert!(html.contains(r#"role="alert""#));
    }

    #[test]
    fn the_device_done_page_says_connected_or_denied() {
        let connected = DeviceDonePage {
            client_name: HOSTILE,
            is_approved: true,
        }
        .render()
        .unwrap();
        assert_safe_page(&connected);
        assert!(connected.contains("Device connected"), "{connected}");
        let denied = DeviceDonePage {
            client_name: "TV",
            is_approved: false,
        }
        .render()
        .unwrap();
        assert!(denied.contains("Access denied"), "{denied}");
    }

    #[test]
    fn the_logged_out_page_says_so() {
        let html = LoggedOutPage.render().unwrap();
        assert_safe_page(&html);
        assert!(html.contains("You are signed out."));
    }
}
