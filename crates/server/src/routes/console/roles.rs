//! The roles pages of the admin console: `GET`/`POST /admin/roles` (roles, a role's holders,
//! grant and revoke) and `GET`/`POST /admin/reviews` (the access review). The engine decides
//! ([`palisade_flow::console::roles`]); this module reads the request and renders the view.

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use crate::forms;
use crate::respond::{error_page, html};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use palisade_flow::console::roles::{
    HoldersPage, ReviewPage, ReviewQuery, ReviewSubmission, RolesOutcome, RolesOverview,
    RolesQuery, RolesSubmission, RolesView,
};
use palisade_pages::catalogue::roles::{self as catalogue, EN as TEXT};
use palisade_pages::console::roles::{
    HolderLine, ReviewLine, ReviewsPage, RoleHoldersPage, RoleLine, RolesPage, Stamp,
};

/// `GET /admin/roles[?role=&page=]`.
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = match forms::pairs(req.query_string().as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(&req, &state);
    let outcome = state
        .engine
        .show_roles(
            &state.admin,
            &browser,
            RolesQuery {
                role: forms::get(&query, "role"),
                page: forms::get(&query, "page"),
            },
        )
        .await;
    respond(&state, outcome)
}

/// `POST /admin/roles`: `csrf_token`, `action` (`grant`: `role`, `username`, `expires`;
/// `revoke`: `role`, `user_id`).
pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = RolesSubmission {
        csrf_token: form.get("csrf_token"),
        action: form.get("action"),
        role: form.get("role"),
        username: form.get("username"),
        expires: form.get("expires"),
        user_id: form.get("user_id"),
    };
    let outcome = state
        .engine
        .roles_action(&state.admin, &browser, submission)
        .await;
    respond(&state, outcome)
}

/// `GET /admin/reviews[?stale_after_days=&page=]`.
pub async fn show_review(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = match forms::pairs(req.query_string().as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(&req, &state);
    let outcome = state
        .engine
        .show_review(
            &state.admin,
            &browser,
            ReviewQuery {
                stale_after_days: forms::get(&query, "stale_after_days"),
                page: forms::get(&query, "page"),
            },
        )
        .await;
    respond(&state, outcome)
}

/// `POST /admin/reviews`: `csrf_token`, `decision` (`confirm` or `revoke`),
/// `stale_after_days`, and `grant` (`<user id>:<role>`) once per ticked grant.
pub async fn submit_review(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = ReviewSubmission {
        csrf_token: form.get("csrf_token"),
        decision: form.get("decision"),
        stale_after_days: form.get("stale_after_days"),
        grants: form
            .fields
            .iter()
            .filter(|(k, _)| k == "grant")
            .map(|(_, v)| v.as_str())
            .collect(),
    };
    let outcome = state
        .engine
        .review_action(&state.admin, &browser, submission)
        .await;
    respond(&state, outcome)
}

/// Who granted, as the page names them: the username of a user, else the actor as recorded.
fn shown_actor<'a>(
    names: &'a std::collections::BTreeMap<String, String>,
    actor: Option<&'a str>,
) -> Option<&'a str> {
    actor.map(|a| names.get(a).map_or(a, String::as_str))
}

fn stamp(t: Option<DateTime<Utc>>) -> Option<Stamp> {
    t.map(|t| Stamp {
        datetime: t.to_rfc3339_opts(SecondsFormat::Secs, true),
        shown: t.format("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

/// The notice or the problem an outcome is worded as.
fn worded(outcome: &Option<RolesOutcome>) -> (Option<String>, Option<String>) {
    let Some(outcome) = outcome else {
        return (None, None);
    };
    let text = match outcome {
        RolesOutcome::Granted {
            username,
            role,
            expires_at,
        } => catalogue::granted(
            username,
            role,
            stamp(*expires_at).map(|s| s.shown).as_deref(),
        ),
        RolesOutcome::Revoked { username, role } => catalogue::revoked(username, role),
        RolesOutcome::Decided {
            confirmed,
            revoked,
            not_held,
        } => catalogue::decided(*confirmed, *revoked, *not_held),
        RolesOutcome::UnknownUser => TEXT.unknown_user.to_owned(),
        RolesOutcome::NothingSelected => TEXT.nothing_selected.to_owned(),
        RolesOutcome::Invalid(message) => message.clone(),
    };
    if outcome.is_problem() {
        (None, Some(text))
    } else {
        (Some(text), None)
    }
}

/// A page that reports a problem with what was sent answers 400.
fn answer(rendered: Result<String, askama::Error>, is_problem: bool) -> HttpResponse {
    let mut res = html(rendered);
    if is_problem && res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

fn page_href(state: &AppState, path: &str, query: &str, page: u32) -> String {
    state.endpoint(&format!("{path}?{query}page={page}"))
}

/// Renders a page of this area.
pub fn render(state: &AppState, view: RolesView) -> HttpResponse {
    match view {
        RolesView::Overview(view) => overview(state, &view),
        RolesView::Holders(view) => holders(state, &view),
        RolesView::Review(view) => review(state, &view),
    }
}

fn overview(state: &AppState, view: &RolesOverview) -> HttpResponse {
    let roles = view
        .roles
        .iter()
        .map(|(r, held)| RoleLine {
            name: r.role.name.as_str(),
            description: r.role.description.as_deref(),
            permissions: r.permissions.iter().map(|p| p.as_str()).collect(),
            require_mfa: r.role.require_mfa,
            href: state.endpoint(&format!("/admin/roles?role={}", r.role.name)),
            holders: catalogue::holders(*held),
        })
        .collect();
    html(
        RolesPage {
            frame: super::frame(state, &view.frame, None, None, None),
            text: &TEXT,
            roles,
        }
        .render(),
    )
}

fn holders(state: &AppState, view: &HoldersPage) -> HttpResponse {
    let details = &view.role.details;
    let page = &view.role.holders;
    let role = details.role.name.as_str();
    let heading = catalogue::role_heading(role);
    let (notice, problem) = worded(&view.outcome);
    let query = format!("role={role}&");
    let holders = page
        .grants
        .iter()
        .map(|h| HolderLine {
            user_id: &h.grant.user_id.0,
            username: h.username.as_str(),
            granted_by: shown_actor(&view.actor_names, h.grant.granted_by.as_deref()),
            granted_at: stamp(h.grant.granted_at),
            expires_at: stamp(h.grant.expires_at),
            confirmed_at: stamp(h.grant.confirmed_at),
            last_sign_in_at: stamp(h.last_sign_in_at),
        })
        .collect();
    let rendered = RoleHoldersPage {
        frame: super::frame(
            state,
            &view.frame,
            Some(&heading),
            notice.as_deref(),
            problem.as_deref(),
        ),
        text: &TEXT,
        role,
        description: details.role.description.as_deref(),
        permissions: details.permissions.iter().map(|p| p.as_str()).collect(),
        holders,
        may_change: view.may_change,
        csrf_token: &view.frame.csrf_token,
        form_action: state.endpoint("/admin/roles"),
        all_roles_href: state.endpoint("/admin/roles"),
        username: &view.username,
        expires: &view.expires,
        min_expiry: state.clock.now().format("%Y-%m-%d").to_string(),
        previous_href: (page.page > 0)
            .then(|| page_href(state, "/admin/roles", &query, page.page - 1)),
        next_href: page
            .has_next
            .then(|| page_href(state, "/admin/roles", &query, page.page + 1)),
        page_label: catalogue::page_of(page.page),
    }
    .render();
    answer(rendered, problem.is_some())
}

fn review(state: &AppState, view: &ReviewPage) -> HttpResponse {
    let (notice, problem) = worded(&view.outcome);
    let page = &view.grants;
    let query = format!("stale_after_days={}&", view.stale_after_days);
    let grants = page
        .grants
        .iter()
        .map(|g| ReviewLine {
            key: format!("{}:{}", g.grant.user_id, g.grant.role),
            username: g.username.as_str(),
            role: g.grant.role.as_str(),
            granted_by: shown_actor(&view.actor_names, g.grant.granted_by.as_deref()),
            granted_at: stamp(g.grant.granted_at),
            confirmed_at: stamp(g.grant.confirmed_at),
            expires_at: stamp(g.grant.expires_at),
            last_sign_in_at: stamp(g.last_sign_in_at),
        })
        .collect();
    let rendered = ReviewsPage {
        frame: super::frame(
            state,
            &view.frame,
            None,
            notice.as_deref(),
            problem.as_deref(),
        ),
        text: &TEXT,
        stale_after_days: view.stale_after_days,
        grants,
        may_decide: view.may_decide,
        csrf_token: &view.frame.csrf_token,
        form_action: state.endpoint("/admin/reviews"),
        previous_href: (page.page > 0)
            .then(|| page_href(state, "/admin/reviews", &query, page.page - 1)),
        next_href: page
            .has_next
            .then(|| page_href(state, "/admin/reviews", &query, page.page + 1)),
        page_label: catalogue::page_of(page.page),
    }
    .render();
    answer(rendered, problem.is_some())
}
