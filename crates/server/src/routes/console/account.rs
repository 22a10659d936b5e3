//! The account console's pages: `GET`/`POST /account` (the profile) and
//! `GET`/`POST /account/applications` (connected applications). The security page, with the
//! password panel, is [`crate::routes::account_security`].

use super::frame;
use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, page, respond};
use crate::forms;
use crate::respond::error_page;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use palisade_flow::console::account::{
    AccountView, ApplicationsNotice, ApplicationsSubmission, ApplicationsView, ProfileProblem,
    ProfileSubmission, ProfileView,
};
use palisade_pages::catalogue::account::{self as catalogue, AccountText, EN};
use palisade_pages::console::account::{ApplicationRow, ApplicationsPage, ProfilePage};

fn text() -> &'static AccountText {
    &EN
}

/// Renders a page of this area.
pub fn render(state: &AppState, view: AccountView) -> HttpResponse {
    match view {
        AccountView::Profile(view) => profile_page(state, &view),
        AccountView::Applications(view) => applications_page(state, &view),
    }
}

/// `GET /account`.
pub async fn show_profile(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let outcome = state.engine.show_profile(&browser).await;
    respond(&state, outcome)
}

/// `POST /account`: `csrf_token`, `display_name`, `email`.
pub async fn save_profile(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = ProfileSubmission {
        csrf_token: form.get("csrf_token"),
        display_name: form.get("display_name"),
        email: form.get("email"),
    };
    let outcome = state.engine.update_profile(submission, &browser).await;
    respond(&state, outcome)
}

/// `GET /account/applications?page=N`.
pub async fn show_applications(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = match forms::pairs(req.query_string().as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(&req, &state);
    let outcome = state
        .engine
        .show_applications(forms::get(&query, "page"), &browser)
        .await;
    respond(&state, outcome)
}

/// `POST /account/applications`: `csrf_token`, `action=revoke`, `client_id`.
pub async fn act_on_application(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = ApplicationsSubmission {
        csrf_token: form.get("csrf_token"),
        action: form.get("action"),
        client_id: form.get("client_id"),
    };
    let outcome = state.engine.applications_action(submission, &browser).await;
    respond(&state, outcome)
}

fn profile_page(state: &AppState, view: &ProfileView) -> HttpResponse {
    let t = text();
    let (problem, invalid_field) = match view.problem {
        None => (None, None),
        Some(ProfileProblem::InvalidDisplayName) => {
            (Some(t.invalid_display_name), Some("display_name"))
        }
        Some(ProfileProblem::InvalidEmail) => (Some(t.invalid_email), Some("email")),
    };
    let notice = view.saved.then_some(t.profile_saved);
    let action = state.endpoint("/account");
    let page_view = ProfilePage {
        frame: frame(state, &view.frame, None, notice, problem),
        text: t,
        csrf_token: &view.frame.csrf_token,
        form_action: &action,
        username: &view.username,
        display_name: &view.display_name,
        email: &view.email,
        has_email: !view.email.is_empty() && view.problem.is_none(),
        email_verified: view.email_verified,
        invalid_field,
    };
    page(page_view.render(), false)
}

fn applications_page(state: &AppState, view: &ApplicationsView) -> HttpResponse {
    let t = text();
    let disconnected;
    let (notice, problem) = match &view.notice {
        None => (None, None),
        Some(ApplicationsNotice::Disconnected(name)) => {
            disconnected = catalogue::disconnected(name);
            (Some(disconnected.as_str()), None)
        }
        Some(ApplicationsNotice::NotConnected) => (None, Some(t.not_connected)),
        Some(ApplicationsNotice::UnknownAction) => (None, Some(t.unknown_action)),
    };
    let action = state.endpoint("/account/applications");
    let day = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d").to_string();
    let page_view = ApplicationsPage {
        frame: frame(state, &view.frame, None, notice, problem),
        text: t,
        csrf_token: &view.frame.csrf_token,
        form_action: &action,
        previous_href: view
            .has_previous
            .then(|| state.endpoint(&format!("/account/applications?page={}", view.page - 1))),
        next_href: view
            .has_next
            .then(|| state.endpoint(&format!("/account/applications?page={}", view.page + 1))),
        applications: view
            .applications
            .iter()
            .map(|app| ApplicationRow {
                client_id: &app.client_id.0,
                client_name: &app.client_name,
                scopes: app.scopes.join(" "),
                connected_at: app.connected_at.to_rfc3339(),
                connected_on: day(&app.connected_at),
                last_used_at: app.last_used_at.to_rfc3339(),
                last_used_on: day(&app.last_used_at),
                disconnect_label: catalogue::disconnect_named(&app.client_name),
            })
            .collect(),
    };
    page(page_view.render(), false)
}
