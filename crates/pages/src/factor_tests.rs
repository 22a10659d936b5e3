//! The second-factor pages: what they offer, what they escape, and which of them may load the
//! passkey script.

use super::tests::{HOSTILE, assert_safe_page, has_hidden};
use super::*;

const OPTIONS: &str = r#"{"publicKey":{"challenge":"Y2hhbGxlbmdl","rpId":"localhost","allowCredentials":[],"userVerification":"preferred"},"mediation":"conditional"}"#;
const OTPAUTH: &str = "otpauth://totp/Palisade:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Palisade&algorithm=SHA1&digits=6&period=30";

/// The `<script>` tag of the passkey script, as a page that offers a passkey carries it.
fn script_tag() -> String {
    format!(
        r#"<script src="{}" defer></script>"#,
        assets::WEBAUTHN_SCRIPT.path()
    )
}

/// A page that offers a passkey: everything [`assert_safe_page`] asks except the script, which
/// is exactly one, ours, from our origin.
fn assert_safe_scripted_page(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert_eq!(lower.matches("<script").count(), 1, "{html}");
    assert!(html.contains(&script_tag()), "{html}");
    assert_safe_page(&html.replace(&script_tag(), ""));
}

/// The page without its QR code, whose SVG names its XML namespace (`http://www.w3.org/...`).
fn without_qr(html: &str) -> String {
    match (html.find("<svg"), html.find("</svg>")) {
        (Some(start), Some(end)) => format!("{}{}", &html[..start], &html[end + 6..]),
        _ => html.to_owned(),
    }
}

/// The value of attribute `name` of the first element that has it, with askama's entities
/// decoded as a browser would.
fn attribute(html: &str, name: &str) -> String {
    let marker = format!(r#"{name}=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Every visible input, select or textarea has a `<label for>` naming its id.
fn assert_every_field_is_labelled(html: &str) {
    for tag in html.split("<input").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        if tag.contains(r#"type="hidden""#) {
            continue;
        }
        let id = attribute(tag, "id");
        assert!(
            html.contains(&format!(r#"<label for="{id}">"#)),
            "#{id} has no label: {html}"
        );
    }
    let mut ids: Vec<String> = html
        .split(" id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "an id is used twice: {html}");
}

/// The passkey form (from its opening tag to its end): hidden until the script shows it.
fn passkey_form(html: &str) -> &str {
    let start = html
        .find("data-passkey hidden>")
        .unwrap_or_else(|| panic!("no hidden passkey form: {html}"));
    let start = html[..start].rfind("<form").unwrap();
    let end = html[start..].find("</form>").unwrap() + start;
    &html[start..end]
}

fn login(passkey_request: Option<&str>) -> String {
    LoginPage {
        client_name: Some("Example"),
        username: "alice",
        error: None,
        csrf_token: "csrf-123",
        form_action: "/login",
        interaction_id: "ix-9",
        passkey_request,
        passkey_action: "/login/passkey",
    }
    .render()
    .unwrap()
}

#[test]
fn a_login_page_offering_passkeys_loads_the_script_and_joins_the_passkey_autofill() {
    let html = login(Some(OPTIONS));
    assert_safe_scripted_page(&html);
    assert!(
        html.contains(
            r#"id="username" name="username" value="alice" autocomplete="username webauthn""#
        ),
        "{html}"
    );
    let form = passkey_form(&html);
    assert!(
        form.starts_with(r#"<form method="post" action="/login/passkey""#),
        "{form}"
    );
    assert!(has_hidden(form, "csrf_token", "csrf-123"), "{form}");
    assert!(has_hidden(form, "interaction_id", "ix-9"), "{form}");
    assert!(has_hidden(form, "credential", ""), "{form}");
    assert!(form.contains(">Sign in with a passkey</button>"), "{form}");
    assert!(
        form.contains(r#"type="button""#),
        "the script submits, not the button"
    );
    assert!(
        form.contains(r#"data-webauthn="get" data-conditional"#),
        "{form}"
    );
    assert_eq!(attribute(form, "data-options"), OPTIONS);
    assert_every_field_is_labelled(&html);
}

#[test]
fn a_login_page_without_passkeys_ships_no_script_and_no_passkey_form() {
    let page = LoginPage {
        client_name: None,
        username: "",
        error: None,
        csrf_token: "c",
        form_action: "/login",
        interaction_id: "i",
        passkey_request: None,
        passkey_action: "/login/passkey",
    };
    assert!(!page.has_script());
    let html = page.render().unwrap();
    assert_safe_page(&html);
    assert!(!html.contains("webauthn"), "{html}");
    assert!(!html.contains("/login/passkey"), "{html}");
}

#[test]
fn hostile_options_stay_inside_their_attribute_and_decode_to_what_the_server_sent() {
    let hostile = format!(
        r#"{{"publicKey":{{"rpId":"{}"}}}}"#,
        HOSTILE.replace('"', "\\\"")
    );
    let html = login(Some(&hostile));
    assert_safe_scripted_page(&html);
    assert_eq!(attribute(passkey_form(&html), "data-options"), hostile);
}

fn second_factor(
    has_totp: bool,
    has_recovery_codes: bool,
    passkey_request: Option<&str>,
    error: Option<&str>,
) -> String {
    SecondFactorPage {
        client_name: Some(HOSTILE),
        csrf_token: "csrf-123",
        form_action: "/login/factor",
        interaction_id: "ix-9",
        has_totp,
        has_recovery_codes,
        passkey_request,
        error,
    }
    .render()
    .unwrap()
}

#[test]
fn the_second_factor_page_offers_each_method_the_user_has_with_its_own_form() {
    let html = second_factor(true, true, Some(OPTIONS), None);
    assert_safe_scripted_page(&html);
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
    assert_eq!(
        html.matches(r#"<form method="post" action="/login/factor""#)
            .count(),
        3,
        "{html}"
    );
    assert_eq!(
        html.matches(r#"name="csrf_token" value="csrf-123""#)
            .count(),
        3
    );
    assert_eq!(
        html.matches(r#"name="interaction_id" value="ix-9""#)
            .count(),
        3
    );
    for method in ["totp", "recovery", "passkey"] {
        assert!(has_hidden(&html, "method", method), "{method}: {html}");
    }
    assert!(html.contains(
        r#"id="totp-code" name="code" inputmode="numeric" autocomplete="one-time-code""#
    ));
    assert!(html.contains(r#"id="recovery-code" name="code" autocomplete="off""#));
    let form = passkey_form(&html);
    assert!(has_hidden(form, "method", "passkey"), "{form}");
    assert!(has_hidden(form, "credential", ""), "{form}");
    assert!(form.contains(r#"data-webauthn="get""#), "{form}");
    assert!(!form.contains("data-conditional"), "no autofill here");
    assert_eq!(attribute(form, "data-options"), OPTIONS);
    assert!(!html.contains("role=\"alert\">"), "no error yet");
    assert_every_field_is_labelled(&html);
}

#[test]
fn a_second_factor_page_without_passkeys_ships_no_script() {
    let html = second_factor(true, false, None, None);
    assert_safe_page(&html);
    assert!(!html.contains("data-passkey"), "{html}");
    assert!(
        !html.contains("recovery-code"),
        "no recovery codes, no field"
    );
    let html = second_factor(false, true, None, None);
    assert_safe_page(&html);
    assert!(!html.contains("totp-code"), "no TOTP, no field");
    assert!(html.contains("recovery-code"));
}

#[test]
fn a_second_factor_error_is_announced_once_and_tied_to_both_code_fields() {
    let html = second_factor(true, true, None, Some("That code did not work."));
    assert!(html.contains(
        r#"<p class="error" id="factor-error" role="alert">That code did not work.</p>"#
    ));
    assert_eq!(
        html.matches(r#"aria-invalid="true" aria-describedby="factor-error""#)
            .count(),
        2,
        "{html}"
    );
}

fn enrolment(passkey_creation: Option<&str>, secret: &str, uri: &str) -> String {
    EnrolmentPage {
        client_name: Some("Example"),
        csrf_token: "csrf-123",
        form_action: "/login/enrol",
        interaction_id: "ix-9",
        totp: TotpSetup {
            secret,
            otpauth_uri: uri,
        },
        passkey_creation,
        error: None,
    }
    .render()
    .unwrap()
}

#[test]
fn the_enrolment_page_draws_the_qr_code_on_the_server_and_shows_the_secret_as_text() {
    let html = enrolment(None, "JBSW Y3DP EHPK 3PXP", OTPAUTH);
    assert_safe_page(&without_qr(&html));
    let setup = TotpSetup {
        secret: "",
        otpauth_uri: OTPAUTH,
    };
    let svg = setup.qr_svg().unwrap().to_string();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    assert!(
        html.contains(&format!(
            r#"<div class="qr" role="img" aria-label="QR code to scan with your authenticator app">{svg}</div>"#
        )),
        "{html}"
    );
    assert!(!html.contains("<?xml"), "no XML prologue inside HTML");
    assert!(html.contains(r#"<code class="secret" id="totp-secret">JBSW Y3DP EHPK 3PXP</code>"#));
    assert!(has_hidden(&html, "method", "totp"));
    assert!(has_hidden(&html, "csrf_token", "csrf-123"));
    assert!(has_hidden(&html, "interaction_id", "ix-9"));
    assert!(
        html.contains(r#"id="totp-name" name="name""#),
        "the optional name"
    );
    assert!(!html.contains("data-passkey"), "no passkey without options");
    assert_every_field_is_labelled(&html);
}

#[test]
fn the_qr_code_carries_the_uri_and_nothing_else_of_it_reaches_the_page() {
    // A hostile URI is only ever data for the QR encoder: none of it appears as markup or text.
    let hostile_uri = format!("otpauth://totp/x?secret=A&issuer={HOSTILE}");
    let html = enrolment(None, HOSTILE, &hostile_uri);
    assert_safe_page(&without_qr(&html));
    assert!(!html.contains("otpauth://"), "{html}");
    assert!(html.contains("<svg"), "the QR code is drawn");
    let a = TotpSetup {
        secret: "",
        otpauth_uri: OTPAUTH,
    }
    .qr_svg()
    .unwrap()
    .to_string();
    let b = TotpSetup {
        secret: "",
        otpauth_uri: &hostile_uri,
    }
    .qr_svg()
    .unwrap()
    .to_string();
    assert_ne!(a, b, "the drawing depends on the URI");
}

#[test]
fn a_uri_too_long_for_a_qr_code_leaves_the_secret_as_text() {
    let long = format!("otpauth://totp/x?secret={}", "A".repeat(8000));
    assert!(
        TotpSetup {
            secret: "",
            otpauth_uri: &long
        }
        .qr_svg()
        .is_none()
    );
    let html = enrolment(None, "JBSW Y3DP", &long);
    assert_safe_page(&html);
    assert!(!html.contains("<svg"));
    assert!(html.contains(">JBSW Y3DP</code>"));
}

#[test]
fn the_enrolment_page_offers_a_passkey_instead_only_with_creation_options() {
    let html = enrolment(Some(OPTIONS), "JBSW", OTPAUTH);
    assert_safe_scripted_page(&without_qr(&html));
    let form = passkey_form(&html);
    assert!(form.starts_with(r#"<form method="post" action="/login/enrol""#));
    assert!(has_hidden(form, "method", "passkey"), "{form}");
    assert!(has_hidden(form, "credential", ""), "{form}");
    assert!(has_hidden(form, "csrf_token", "csrf-123"), "{form}");
    assert!(form.contains(r#"data-webauthn="create""#), "{form}");
    assert!(
        form.contains(">Register a passkey instead</button>"),
        "{form}"
    );
    assert_eq!(attribute(form, "data-options"), OPTIONS);
}

#[test]
fn recovery_codes_are_listed_and_a_sign_in_continues_with_its_step() {
    let codes = vec!["abcd-efgh-ijkl-mnop".to_owned(), HOSTILE.to_owned()];
    let html = RecoveryCodesPage {
        codes: &codes,
        csrf_token: "csrf-123",
        form_action: "/login/recovery-codes",
        step_id: Some("ix-9"),
        account_url: "/account/security",
    }
    .render()
    .unwrap();
    assert_safe_page(&html);
    assert!(
        html.contains("<li><code>abcd-efgh-ijkl-mnop</code></li>"),
        "{html}"
    );
    assert!(html.contains("shown only this once"), "the warning");
    assert!(html.contains(r#"<form method="post" action="/login/recovery-codes">"#));
    assert!(has_hidden(&html, "interaction_id", "ix-9"));
    assert!(has_hidden(&html, "csrf_token", "csrf-123"));
    assert!(!html.contains("/account/security"), "{html}");
}

#[test]
fn recovery_codes_on_the_account_page_link_back_to_it() {
    let codes = vec!["abcd-efgh-ijkl-mnop".to_owned()];
    let html = RecoveryCodesPage {
        codes: &codes,
        csrf_token: "csrf-123",
        form_action: "/login/recovery-codes",
        step_id: None,
        account_url: "/account/security",
    }
    .render()
    .unwrap();
    assert_safe_page(&html);
    assert!(!html.contains("<form"), "{html}");
    assert!(html.contains(r#"<a href="/account/security">"#), "{html}");
}

fn account(
    factors: Vec<FactorItem<'_>>,
    totp: Option<TotpSetup<'_>>,
    passkey_creation: Option<&str>,
    recovery_codes_left: u32,
) -> String {
    AccountSecurityPage {
        user_display: HOSTILE,
        csrf_token: "csrf-123",
        form_action: "/account/security",
        factors,
        recovery_codes_left,
        totp,
        passkey_creation,
        notice: Some("The passkey was added."),
        problem: None,
        must_keep_a_factor: false,
    }
    .render()
    .unwrap()
}

#[test]
fn the_account_page_lists_factors_with_rename_and_remove_forms() {
    let factors = vec![
        FactorItem {
            id: "f-1",
            kind: "totp",
            name: HOSTILE,
            created_at: "2026-12-04T10:00:00Z",
            last_used_at: Some("2026-12-05T08:30:00Z"),
        },
        FactorItem {
            id: "f-2",
            kind: "passkey",
            name: "Laptop",
            created_at: "2026-12-04T11:00:00Z",
            last_used_at: None,
        },
    ];
    let html = account(factors, None, None, 1);
    assert_safe_page(&html);
    assert!(!html.contains("&#34;&#62;<script"), "{html}");
    assert!(html.contains("Authenticator app · added <time datetime=\"2026-12-04T10:00:00Z\">2026-12-04</time> · last used"));
    assert!(html.contains(
        "Passkey · added <time datetime=\"2026-12-04T11:00:00Z\">2026-12-04</time></span>"
    ));
    assert_eq!(html.matches(r#"name="action" value="rename""#).count(), 2);
    assert_eq!(html.matches(r#"name="action" value="remove""#).count(), 2);
    assert!(has_hidden(&html, "factor_id", "f-1"));
    assert!(has_hidden(&html, "factor_id", "f-2"));
    assert!(
        html.contains(r#"id="rename-2" name="name" value="Laptop""#),
        "{html}"
    );
    assert_eq!(
        html.matches(r#"name="password" autocomplete="current-password""#)
            .count(),
        3,
        "remove (twice) and new recovery codes ask for the password"
    );
    assert_eq!(html.matches(r#"name="proof_code""#).count(), 3);
    assert!(has_hidden(&html, "action", "totp-start"));
    assert!(has_hidden(&html, "action", "recovery-codes"));
    assert!(html.contains("You have 1 unused recovery code."), "{html}");
    assert!(html.contains(r#"<p class="notice" role="status">The passkey was added.</p>"#));
    assert_eq!(
        html.matches(r#"name="csrf_token" value="csrf-123""#)
            .count(),
        6
    );
    assert_every_field_is_labelled(&html);
}

#[test]
fn the_account_page_shows_a_totp_setup_in_progress_and_a_passkey_form_with_options() {
    let setup = TotpSetup {
        secret: "JBSW Y3DP",
        otpauth_uri: OTPAUTH,
    };
    let html = account(vec![], Some(setup), Some(OPTIONS), 10);
    assert_safe_scripted_page(&without_qr(&html));
    assert!(html.contains("<svg"), "the QR code");
    assert!(has_hidden(&html, "action", "totp-confirm"));
    assert!(!html.contains(r#"value="totp-start""#), "{html}");
    assert!(html.contains(r#"id="totp-code" name="code""#));
    assert!(html.contains("You have not set up a second factor yet."));
    assert!(html.contains("You have 10 unused recovery codes."));
    let form = passkey_form(&html);
    assert!(has_hidden(form, "action", "passkey-add"), "{form}");
    assert!(has_hidden(form, "credential", ""), "{form}");
    assert!(form.contains(r#"id="passkey-name" name="name""#), "{form}");
    assert!(form.contains(r#"data-webauthn="create""#), "{form}");
    assert_every_field_is_labelled(&html);

    let html = account(vec![], None, None, 0);
    assert_safe_page(&html);
    assert!(!html.contains("data-passkey"));
}

#[test]
fn only_the_qr_code_is_ever_written_unescaped() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let mut unescaped = Vec::new();
    // The consoles keep their templates in subdirectories (console/, account/, admin/).
    let mut paths = Vec::new();
    let mut dirs = vec![dir];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("|safe") {
            let start = text[..at].rfind("{{").unwrap();
            unescaped.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                text[start..at + 5].to_owned(),
            ));
        }
        assert!(!text.contains("escape=\"none\""), "{path:?}");
    }
    assert_eq!(
        unescaped,
        vec![("totp_setup.html".to_owned(), "{{ qr|safe".to_owned())]
    );
}
