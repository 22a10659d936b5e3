//! `/admin/users` (search and pages, create) and `/admin/users/{user_id}` (a user and the
//! actions on them), through [`palisade_flow::console::admin`].

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use crate::forms;
use crate::respond::error_page;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::console::admin::{NewUserForm, Posted, UserAction};

/// `GET /admin/users?q=&page=`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = match forms::pairs(req.query_string().as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(&req, &state);
    let outcome = state
        .engine
        .show_admin_users(
            &state.admin,
            &browser,
            forms::get(&query, "q"),
            forms::get(&query, "page"),
        )
        .await;
    respond(&state, outcome)
}

/// `POST /admin/users`: `csrf_token`, `username`, `email`, `display_name`, `password`.
pub async fn create(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let field = |name| form.get(name).unwrap_or_default();
    let new = NewUserForm {
        username: field("username"),
        email: field("email"),
        display_name: field("display_name"),
        password: field("password"),
    };
    let outcome = state
        .engine
        .admin_create_user(&state.admin, &browser, form.get("csrf_token"), new)
        .await;
    respond(&state, outcome)
}

/// `GET /admin/users/{user_id}`.
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let id = req.match_info().get("user_id").unwrap_or_default();
    let outcome = state
        .engine
        .show_admin_user(&state.admin, &browser, id)
        .await;
    respond(&state, outcome)
}

/// `POST /admin/users/{user_id}`: `csrf_token` and `action` (`disable`, `enable`, `unlock`,
/// `reset-factors`, `sign-out`, `delete`).
pub async fn act(req: HttpRequest, form: BrowserForm, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let id = req.match_info().get("user_id").unwrap_or_default();
    let posted = Posted {
        csrf_token: form.get("csrf_token").map(str::to_owned),
        action: form.get("action").and_then(UserAction::parse),
    };
    let outcome = state
        .engine
        .admin_user_action(&state.admin, &browser, id, posted)
        .await;
    respond(&state, outcome)
}
