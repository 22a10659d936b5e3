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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::keys::EN;
    use crate::console::audit::tests::{assert_every_field_is_labelled, frame};

    fn page(may_write: bool) -> String {
        KeysPage {
            frame: frame("Signing keys"),
            text: &EN,
            csrf_token: "tok",
            form_action: "/admin/keys",
            groups: vec![KeyGroup {
                alg: "ES256".into(),
                caption: "ES256 keys".into(),
                rotate_label: "Rotate ES256".into(),
                keys: vec![KeyRow {
                    kid: "k1".into(),
                    state: "Current",
                    state_class: "current",
                    dates: vec![(
                        "Created",
                        "2026-12-05T04:00:00+00:00".into(),
                        "2026-12-05 04:00 UTC".into(),
                    )],
                    may_revoke: true,
                    revoke_label: "Revoke k1".into(),
                }],
            }],
            may_write,
        }
        .render()
        .unwrap()
    }

    #[test]
    fn a_reader_gets_no_form_and_a_writer_gets_rotate_and_revoke() {
        let read_only = page(false);
        assert!(!read_only.contains("<form"), "{read_only}");
        assert!(read_only.contains(EN.read_only));
        let writable = page(true);
        assert_every_field_is_labelled(&writable);
        assert!(writable.contains(r#"name="kid" value="k1""#));
        assert!(writable.contains(r#"name="alg" value="ES256""#));
        assert!(
            !writable.contains(r#"name="confirmed""#),
            "asking comes first"
        );
    }
}
