//! The admin console's pages (`/admin/...`): users and clients. Each handler reads the browser
//! and its form, calls the engine's admin console ([`palisade_flow::console::admin`]) with the
//! administration service, and renders the view it answers here.

pub mod clients;
pub mod home;
pub mod users;

use super::frame;
use super::sessions;
use crate::app::AppState;
use crate::browser::page;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use palisade_flow::console::Section;
use palisade_flow::console::admin::{
    AdminNotice, AdminProblem, AdminView, ClientView, ClientsView, GRANT_CHOICES, Missing,
    MissingView, Said, TypedClient, UserView, UsersView,
};
use palisade_pages::catalogue::admin::{AdminText, EN};
use palisade_pages::catalogue::sessions::EN as SESSIONS_EN;
use palisade_pages::console::admin::{
    ClientFields, ClientPage, ClientRow, ClientsPage, GrantChoice, MintedTokenBox, MissingPage,
    TokenRow, UserApplicationRow, UserPage, UserRow, UserSessionRow, UsersPage,
};

/// The admin console's strings (one language for now: see the catalogue).
fn text() -> &'static AdminText {
    &EN
}

/// Renders a page of this area: 404 for a missing user or client, 400 for a refused input.
pub fn render(state: &AppState, view: AdminView) -> HttpResponse {
    match view {
        AdminView::Users(view) => users_page(state, &view),
        AdminView::User(view) => user_page(state, &view),
        AdminView::Clients(view) => clients_page(state, &view),
        AdminView::Client(view) => client_page(state, &view),
        AdminView::Missing(view) => missing_page(state, &view),
    }
}

/// The words of a notice and of a problem.
fn said(said: &Said) -> (Option<String>, Option<String>) {
    let t = text();
    let notice = said.notice.as_ref().map(|n| match n {
        AdminNotice::UserCreated => t.user_created.to_owned(),
        AdminNotice::UserDisabled => t.user_disabled.to_owned(),
        AdminNotice::UserEnabled => t.user_enabled.to_owned(),
        AdminNotice::UserUnlocked { was_locked: true } => t.user_unlocked.to_owned(),
        AdminNotice::UserUnlocked { was_locked: false } => t.user_was_not_locked.to_owned(),
        AdminNotice::FactorsReset { factors_deleted } => t.factors_reset(*factors_deleted),
        AdminNotice::UserSignedOut => t.user_signed_out.to_owned(),
        AdminNotice::UserDeleted { username } => t.user_deleted(username),
        AdminNotice::ClientCreated => t.client_created.to_owned(),
        AdminNotice::ClientUpdated => t.client_updated.to_owned(),
        AdminNotice::SecretRotated => t.secret_rotated.to_owned(),
        AdminNotice::ClientRemoved { client_id } => t.client_removed(client_id),
        AdminNotice::TokenMinted => t.token_minted.to_owned(),
        AdminNotice::TokenRevoked => t.token_revoked.to_owned(),
    });
    let problem = said.problem.as_ref().map(|p| match p {
        // The service's own sentence: it names the rule the input broke.
        AdminProblem::Refused(words) => sentence(words),
        AdminProblem::ConfirmationMismatch => t.confirmation_mismatch.to_owned(),
        AdminProblem::BadTokenLimits => t.bad_token_limits.to_owned(),
        AdminProblem::BadClientType => t.bad_client_type.to_owned(),
    });
    (notice, problem)
}

/// The service writes for the wire (lower case, no full stop); a page shows a sentence.
fn sentence(words: &str) -> String {
    let mut chars = words.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A refused input answers 400 with the page and its problem.
fn with_problem_status(mut res: HttpResponse, said: &Said) -> HttpResponse {
    if said.problem.is_some() && res.status().is_success() {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

fn users_page(state: &AppState, view: &UsersView) -> HttpResponse {
    let (notice, problem) = said(&view.said);
    let base = state.endpoint(Section::Users.path());
    let page_href = |page: u32| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !view.search.is_empty() {
            query.append_pair("q", &view.search);
        }
        query.append_pair("page", &page.to_string());
        format!("{base}?{}", query.finish())
    };
    let rendered = UsersPage {
        frame: frame(
            state,
            &view.frame,
            None,
            notice.as_deref(),
            problem.as_deref(),
        ),
        csrf_token: &view.frame.csrf_token,
        text: text(),
        form_action: base.clone(),
        search: &view.search,
        page_caption: text().users_page(view.page, &view.search),
        users: view
            .users
            .iter()
            .map(|u| UserRow {
                href: format!("{base}/{}", encode(&u.id)),
                username: &u.username,
                email: u.email.as_deref(),
                display_name: u.display_name.as_deref(),
                is_disabled: u.is_disabled,
                created_at: &u.created_at,
            })
            .collect(),
        previous_href: (view.page > 1).then(|| page_href(view.page - 1)),
        next_href: view.has_next.then(|| page_href(view.page + 1)),
        may_write: view.may_write,
        typed_username: &view.typed.username,
        typed_email: &view.typed.email,
        typed_display_name: &view.typed.display_name,
    }
    .render();
    with_problem_status(page(rendered, false), &view.said)
}

fn user_page(state: &AppState, view: &UserView) -> HttpResponse {
    let (notice, problem) = said(&view.said);
    let users = state.endpoint(Section::Users.path());
    let rendered = UserPage {
        frame: frame(
            state,
            &view.frame,
            Some(&view.username),
            notice.as_deref(),
            problem.as_deref(),
        ),
        csrf_token: &view.frame.csrf_token,
        text: text(),
        form_action: format!("{users}/{}", encode(&view.id)),
        users_href: users,
        roles_href: view
            .may_read_roles
            .then(|| state.endpoint(Section::Roles.path())),
        id: &view.id,
        username: &view.username,
        email: view.email.as_deref(),
        display_name: view.display_name.as_deref(),
        is_disabled: view.is_disabled,
        created_at: &view.created_at,
        locked_until: view.locked_until.as_deref(),
        roles: &view.roles,
        totp_factors: view.totp_factors,
        passkeys: view.passkeys,
        recovery_codes_left: view.recovery_codes_left,
        may_write: view.may_write,
        outranks_viewer: view.outranks_viewer,
        is_viewer: view.is_viewer,
        sessions: view
            .sessions
            .iter()
            .map(|s| UserSessionRow {
                browser: s
                    .user_agent
                    .as_deref()
                    .map(sessions::browser_name)
                    .unwrap_or_else(|| SESSIONS_EN.unknown_browser.to_owned()),
                address: s
                    .client_ip
                    .clone()
                    .unwrap_or_else(|| SESSIONS_EN.unknown_address.to_owned()),
                signed_in_at: s.created_at.to_rfc3339(),
                signed_in_shown: sessions::shown(s.created_at),
                last_seen_at: s.last_seen_at.to_rfc3339(),
                last_seen_shown: sessions::shown(s.last_seen_at),
            })
            .collect(),
        applications: view
            .applications
            .iter()
            .map(|a| UserApplicationRow {
                client_name: a.client_name.clone(),
                client_id: a.client_id.0.clone(),
                scopes: a.scopes.join(" "),
                last_used_at: a.last_used_at.to_rfc3339(),
                last_used_shown: sessions::shown(a.last_used_at),
            })
            .collect(),
    }
    .render();
    with_problem_status(page(rendered, false), &view.said)
}

fn grant_label(value: &str) -> &'static str {
    let t = text();
    match value {
        "authorization_code" => t.grant_authorization_code,
        "refresh_token" => t.grant_refresh_token,
        "client_credentials" => t.grant_client_credentials,
        _ => t.grant_device_code,
    }
}

fn fields(typed: &TypedClient) -> ClientFields<'_> {
    ClientFields {
        name: &typed.name,
        is_public: typed.is_public,
        redirect_uris: &typed.redirect_uris,
        scope: &typed.scope,
        grants: GRANT_CHOICES
            .iter()
            .map(|g| GrantChoice {
                value: g.as_str(),
                label: grant_label(g.as_str()),
                checked: typed.grant_types.iter().any(|t| t == g.as_str()),
            })
            .collect(),
    }
}

fn clients_page(state: &AppState, view: &ClientsView) -> HttpResponse {
    let (notice, problem) = said(&view.said);
    let base = state.endpoint(Section::Clients.path());
    let rendered = ClientsPage {
        frame: frame(
            state,
            &view.frame,
            None,
            notice.as_deref(),
            problem.as_deref(),
        ),
        csrf_token: &view.frame.csrf_token,
        text: text(),
        form_action: base.clone(),
        clients: view
            .clients
            .iter()
            .map(|c| ClientRow {
                href: format!("{base}/{}", encode(&c.id)),
                id: &c.id,
                name: &c.name,
                is_public: c.is_public,
                grant_types: c.grant_types.join(", "),
                created_at: &c.created_at,
            })
            .collect(),
        tokens: view
            .tokens
            .iter()
            .map(|t| TokenRow {
                id: &t.id,
                created_at: &t.created_at,
                expires_at: t.expires_at.as_deref(),
                uses: t.uses,
                max_uses: t.max_uses,
            })
            .collect(),
        minted: view.minted.as_ref().map(|m| MintedTokenBox {
            token: &m.token,
            expires_at: m.expires_at.as_deref(),
            max_uses: m.max_uses,
        }),
        may_write: view.may_write,
        fields: fields(&view.typed),
    }
    .render();
    with_problem_status(page(rendered, false), &view.said)
}

fn client_page(state: &AppState, view: &ClientView) -> HttpResponse {
    let (notice, problem) = said(&view.said);
    let clients = state.endpoint(Section::Clients.path());
    let rendered = ClientPage {
        frame: frame(
            state,
            &view.frame,
            Some(&view.name),
            notice.as_deref(),
            problem.as_deref(),
        ),
        csrf_token: &view.frame.csrf_token,
        text: text(),
        form_action: format!("{clients}/{}", encode(&view.id)),
        clients_href: clients,
        id: &view.id,
        is_public: view.is_public,
        auth_method: &view.auth_method,
        created_at: &view.created_at,
        registered_dynamically: view.registered_dynamically,
        uses_secret: view.uses_secret,
        secret: view.secret.as_deref(),
        may_write: view.may_write,
        outranks_viewer: view.outranks_viewer,
        fields: fields(&view.typed),
    }
    .render();
    with_problem_status(page(rendered, false), &view.said)
}

fn missing_page(state: &AppState, view: &MissingView) -> HttpResponse {
    let t = text();
    let (message, back_label) = match view.what {
        Missing::User => (t.missing_user, t.back_to_users),
        Missing::Client => (t.missing_client, t.back_to_clients),
        Missing::RegistrationToken => (t.missing_token, t.back_to_clients),
    };
    let rendered = MissingPage {
        frame: frame(state, &view.frame, None, None, None),
        message,
        back_href: state.endpoint(view.what.section().path()),
        back_label,
    }
    .render();
    let mut res = page(rendered, false);
    if res.status().is_success() {
        *res.status_mut() = StatusCode::NOT_FOUND;
    }
    res
}

/// A path segment: ids are generated (UUIDs, URL-safe tokens), but a link never trusts that.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
