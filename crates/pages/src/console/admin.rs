//! The admin console's pages: users (list with search and pages, one user with the actions on
//! them) and clients (list with registration tokens, one client with its edit form). A form
//! or button the viewer may not use is not rendered (`may_write`); the engine refuses it
//! anyway when posted.

use super::ConsoleFrame;
use crate::Layout;
use crate::catalogue::admin::AdminText;
use askama::Template;

/// A user in the list.
#[derive(Debug)]
pub struct UserRow<'a> {
    pub href: String,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub is_disabled: bool,
    /// RFC 3339.
    pub created_at: &'a str,
}

/// `/admin/users`.
#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage<'a> {
    pub frame: ConsoleFrame<'a>,
    /// The session's CSRF token, in every form.
    pub csrf_token: &'a str,
    pub text: &'static AdminText,
    pub form_action: String,
    pub search: &'a str,
    pub page_caption: String,
    pub users: Vec<UserRow<'a>>,
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
    pub may_write: bool,
    /// What the create form shows again after a refusal.
    pub typed_username: &'a str,
    pub typed_email: &'a str,
    pub typed_display_name: &'a str,
}
impl Layout for UsersPage<'_> {}

/// `/admin/users/{id}`.
#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserPage<'a> {
    pub frame: ConsoleFrame<'a>,
    /// The session's CSRF token, in every form.
    pub csrf_token: &'a str,
    pub text: &'static AdminText,
    pub form_action: String,
    pub users_href: String,
    /// The roles page, when the viewer may open it.
    pub roles_href: Option<String>,
    pub id: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub is_disabled: bool,
    pub created_at: &'a str,
    pub locked_until: Option<&'a str>,
    pub roles: &'a [String],
    pub totp_factors: usize,
    pub passkeys: usize,
    pub recovery_codes_left: u32,
    pub may_write: bool,
    /// The user holds permissions the viewer does not: no action is offered.
    pub outranks_viewer: bool,
    pub is_viewer: bool,
    pub sessions: Vec<UserSessionRow>,
    pub applications: Vec<UserApplicationRow>,
}
impl Layout for UserPage<'_> {}

/// One of a user's live sessions, on their admin page.
#[derive(Debug)]
pub struct UserSessionRow {
    /// "Firefox on Linux".
    pub browser: String,
    pub address: String,
    /// RFC 3339, and as shown.
    pub signed_in_at: String,
    pub signed_in_shown: String,
    pub last_seen_at: String,
    pub last_seen_shown: String,
}

/// One of a user's connected applications, on their admin page.
#[derive(Debug)]
pub struct UserApplicationRow {
    pub client_name: String,
    pub client_id: String,
    pub scopes: String,
    /// RFC 3339, and as shown.
    pub last_used_at: String,
    pub last_used_shown: String,
}

/// A client in the list.
#[derive(Debug)]
pub struct ClientRow<'a> {
    pub href: String,
    pub id: &'a str,
    pub name: &'a str,
    pub is_public: bool,
    pub grant_types: String,
    pub created_at: &'a str,
}

/// A registration token in the list.
#[derive(Debug)]
pub struct TokenRow<'a> {
    pub id: &'a str,
    pub created_at: &'a str,
    pub expires_at: Option<&'a str>,
    pub uses: i32,
    pub max_uses: Option<i32>,
}

/// A registration token just made, shown once.
#[derive(Debug)]
pub struct MintedTokenBox<'a> {
    pub token: &'a str,
    pub expires_at: Option<&'a str>,
    pub max_uses: Option<i32>,
}

/// A grant type checkbox.
#[derive(Debug)]
pub struct GrantChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// What a client form shows.
#[derive(Debug)]
pub struct ClientFields<'a> {
    pub name: &'a str,
    pub is_public: bool,
    pub redirect_uris: &'a str,
    pub scope: &'a str,
    pub grants: Vec<GrantChoice>,
}

/// `/admin/clients`.
#[derive(Template)]
#[template(path = "admin/clients.html")]
pub struct ClientsPage<'a> {
    pub frame: ConsoleFrame<'a>,
    /// The session's CSRF token, in every form.
    pub csrf_token: &'a str,
    pub text: &'static AdminText,
    pub form_action: String,
    pub clients: Vec<ClientRow<'a>>,
    pub tokens: Vec<TokenRow<'a>>,
    pub minted: Option<MintedTokenBox<'a>>,
    pub may_write: bool,
    pub fields: ClientFields<'a>,
}
impl Layout for ClientsPage<'_> {}

/// `/admin/clients/{id}`.
#[derive(Template)]
#[template(path = "admin/client.html")]
pub struct ClientPage<'a> {
    pub frame: ConsoleFrame<'a>,
    /// The session's CSRF token, in every form.
    pub csrf_token: &'a str,
    pub text: &'static AdminText,
    pub form_action: String,
    pub clients_href: String,
    pub id: &'a str,
    pub is_public: bool,
    pub auth_method: &'a str,
    pub created_at: &'a str,
    pub registered_dynamically: bool,
    pub uses_secret: bool,
    /// Issued by this very answer; shown once.
    pub secret: Option<&'a str>,
    pub may_write: bool,
    /// The client's admin scopes grant permissions the viewer does not hold: no change is
    /// offered.
    pub outranks_viewer: bool,
    pub fields: ClientFields<'a>,
}
impl Layout for ClientPage<'_> {}

/// A user or client that does not exist.
#[derive(Template)]
#[template(path = "admin/missing.html")]
pub struct MissingPage<'a> {
    pub frame: ConsoleFrame<'a>,
    pub message: &'static str,
    pub back_href: String,
    pub back_label: &'static str,
}
impl Layout for MissingPage<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CONSOLE_EN, admin::EN};
    use crate::console::NavLink;

    fn frame() -> ConsoleFrame<'static> {
        ConsoleFrame {
            text: &CONSOLE_EN,
            console_name: CONSOLE_EN.admin_console,
            heading: "Users",
            user_display: "root",
            nav: vec![NavLink {
                href: "/admin/users".into(),
                label: "Users",
                is_current: true,
            }],
            other_console: None,
            sign_out_href: "/logout".into(),
            notice: None,
            problem: None,
        }
    }

    fn user_page(may_write: bool, is_viewer: bool) -> String {
        UserPage {
            frame: frame(),
            csrf_token: "csrf",
            text: &EN,
            form_action: "/admin/users/u1".into(),
            users_href: "/admin/users".into(),
            roles_href: None,
            id: "u1",
            username: "<bob>",
            email: None,
            display_name: None,
            is_disabled: false,
            created_at: "2026-12-05T03:00:00Z",
            locked_until: None,
            roles: &[],
            totp_factors: 1,
            passkeys: 0,
            recovery_codes_left: 10,
            may_write,
            outranks_viewer: false,
            is_viewer,
            sessions: vec![UserSessionRow {
                browser: "<Firefox> on Linux".into(),
                address: "198.51.100.7".into(),
                signed_in_at: "2026-12-05T03:00:00+00:00".into(),
                signed_in_shown: "2026-12-05 03:00 UTC".into(),
                last_seen_at: "2026-12-05T03:10:00+00:00".into(),
                last_seen_shown: "2026-12-05 03:10 UTC".into(),
            }],
            applications: vec![UserApplicationRow {
                client_name: "<Example> RP".into(),
                client_id: "rp-1".into(),
                scopes: "openid profile".into(),
                last_used_at: "2026-12-05T03:05:00+00:00".into(),
                last_used_shown: "2026-12-05 03:05 UTC".into(),
            }],
        }
        .render()
        .unwrap()
    }

    #[test]
    fn a_users_sessions_and_applications_are_listed_and_escaped() {
        let html = user_page(false, false);
        assert!(
            html.contains("&#60;Firefox&#62; on Linux")
                || html.contains("&lt;Firefox&gt; on Linux")
        );
        assert!(!html.contains("<Firefox>") && !html.contains("<Example>"));
        assert!(
            html.contains(
                r#"<time datetime="2026-12-05T03:10:00+00:00">2026-12-05 03:10 UTC</time>"#
            )
        );
        assert!(html.contains("<code>rp-1</code>") && html.contains("openid profile"));
    }

    /// Every visible field has a label, and no id is used twice.
    fn assert_labelled_with_unique_ids(html: &str) {
        for opening in ["<input", "<textarea", "<select"] {
            for tag in html.split(opening).skip(1) {
                let tag = &tag[..tag.find('>').unwrap()];
                if tag.contains(r#"type="hidden""#) {
                    continue;
                }
                let id = tag.split(r#"id=""#).nth(1).expect("a field has an id");
                let id = &id[..id.find('"').unwrap()];
                assert!(
                    html.contains(&format!(r#"<label for="{id}">"#)),
                    "#{id} has no label: {html}"
                );
            }
        }
        let mut ids: Vec<&str> = html
            .split(" id=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "an id is used twice: {html}");
    }

    fn fields() -> ClientFields<'static> {
        ClientFields {
            name: "Shop",
            is_public: false,
            redirect_uris: "https://shop.example/cb",
            scope: "openid",
            grants: vec![
                GrantChoice {
                    value: "authorization_code",
                    label: EN.grant_authorization_code,
                    checked: true,
                },
                GrantChoice {
                    value: "client_credentials",
                    label: EN.grant_client_credentials,
                    checked: false,
                },
            ],
        }
    }

    #[test]
    fn every_field_of_every_admin_page_is_labelled() {
        let users = UsersPage {
            frame: frame(),
            csrf_token: "csrf",
            text: &EN,
            form_action: "/admin/users".into(),
            search: "bo",
            page_caption: EN.users_page(2, "bo"),
            users: vec![UserRow {
                href: "/admin/users/u1".into(),
                username: "bob",
                email: Some("bob@example.com"),
                display_name: None,
                is_disabled: true,
                created_at: "2026-12-05T03:00:00Z",
            }],
            previous_href: Some("/admin/users?q=bo&page=1".into()),
            next_href: None,
            may_write: true,
            typed_username: "",
            typed_email: "",
            typed_display_name: "",
        }
        .render()
        .unwrap();
        assert!(users.contains(r#"td data-label="Username""#));
        assert!(users.contains(r#"rel="prev""#) && !users.contains(r#"rel="next""#));
        assert_labelled_with_unique_ids(&users);
        assert_labelled_with_unique_ids(&user_page(true, false));
        let clients = ClientsPage {
            frame: frame(),
            csrf_token: "csrf",
            text: &EN,
            form_action: "/admin/clients".into(),
            clients: vec![],
            tokens: vec![TokenRow {
                id: "t1",
                created_at: "2026-12-05T03:00:00Z",
                expires_at: None,
                uses: 0,
                max_uses: Some(3),
            }],
            minted: Some(MintedTokenBox {
                token: "secret-token",
                expires_at: None,
                max_uses: None,
            }),
            may_write: true,
            fields: fields(),
        }
        .render()
        .unwrap();
        assert!(clients.contains(r#"<code id="minted-token">secret-token</code>"#));
        assert!(clients.contains(EN.shown_once));
        assert_labelled_with_unique_ids(&clients);
        let client = |may_write, secret| {
            ClientPage {
                frame: frame(),
                csrf_token: "csrf",
                text: &EN,
                form_action: "/admin/clients/c1".into(),
                clients_href: "/admin/clients".into(),
                id: "c1",
                is_public: false,
                auth_method: "client_secret_basic",
                created_at: "2026-12-05T03:00:00Z",
                registered_dynamically: false,
                uses_secret: true,
                secret,
                may_write,
                outranks_viewer: false,
                fields: fields(),
            }
            .render()
            .unwrap()
        };
        let writer = client(true, Some("s3cret"));
        assert!(writer.contains(r#"<code id="client-secret">s3cret</code>"#));
        assert!(writer.contains(EN.rotate_secret_consequence));
        assert!(writer.contains(&EN.remove_client_consequence[..40]));
        assert_labelled_with_unique_ids(&writer);
        let reader = client(false, None);
        assert!(!reader.contains("<form") && !reader.contains("client-secret"));
        assert!(reader.contains(EN.grant_authorization_code));
        assert!(!reader.contains(EN.grant_client_credentials));
    }

    #[test]
    fn a_reader_sees_no_action_and_a_writer_sees_each_with_its_consequence() {
        let read_only = user_page(false, false);
        assert!(!read_only.contains("<form method=\"post\""), "{read_only}");
        assert!(!read_only.contains("<bob>"));
        let writer = user_page(true, false);
        for (action, consequence) in [
            ("disable", EN.disable_consequence),
            ("unlock", EN.unlock_consequence),
            ("reset-factors", EN.reset_factors_consequence),
            ("sign-out", EN.sign_out_consequence),
            ("delete", EN.delete_user_consequence),
        ] {
            assert!(
                writer.contains(&format!(r#"name="action" value="{action}""#)),
                "{action}"
            );
            assert!(writer.contains(consequence), "{action}");
        }
        assert!(writer.contains(r#"<time datetime="2026-12-05T03:00:00Z">"#));
        let themselves = user_page(true, true);
        assert!(!themselves.contains(r#"value="delete""#));
    }
}
