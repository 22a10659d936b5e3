//! The admin console's signing keys (`/admin/keys`): the lifecycle as a timeline, rotate and revoke.
//!
//! `GET` shows the timeline; `POST` (through [`BrowserForm`]) with `action=rotate&alg=` or
//! `action=revoke&kid=` answers with the confirmation page, whose form posts the same with
//! `confirmed=yes` ([`palisade_flow::console::keys`], through `AppState::key_admin`).

use super::sessions::shown;
use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, page, respond};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::model::KeyState;
use palisade_flow::console::keys::{
    KeyConfirmation, KeyLine, KeysAction, KeysNotice, KeysSubmission, KeysView,
};
use palisade_pages::catalogue::keys::{EN, KeysText};
use palisade_pages::console::keys::{KeyConfirmPage, KeyGroup, KeyRow, KeysPage};

fn text() -> &'static KeysText {
    &EN
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let outcome = state.engine.show_keys(&browser, &state.key_admin).await;
    respond(&state, outcome)
}

pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = KeysSubmission {
        csrf_token: form.get("csrf_token"),
        action: KeysAction::from_form(|name| form.get(name)),
        confirmed: form.get("confirmed") == Some("yes"),
    };
    let outcome = state
        .engine
        .keys_action(&browser, &state.key_admin, submission)
        .await;
    respond(&state, outcome)
}

fn state_label(state: KeyState) -> &'static str {
    let t = text();
    match state {
        KeyState::Next => t.next,
        KeyState::Current => t.current,
        KeyState::Retired => t.retired,
        KeyState::Revoked => t.revoked,
    }
}

fn row(key: &KeyLine) -> KeyRow {
    let t = text();
    let mut dates = vec![(t.created, key.created_at)];
    match key.activated_at {
        Some(at) => dates.push((t.signing_since, at)),
        None if key.state == KeyState::Next => dates.push((t.signs_from, key.activates_at)),
        None => {}
    }
    if let Some(at) = key.retired_at {
        dates.push((t.retired_on, at));
    }
    if let Some(at) = key.remove_after {
        dates.push((t.leaves_jwks, at));
    }
    KeyRow {
        kid: key.kid.clone(),
        state: state_label(key.state),
        state_class: key.state.as_str(),
        dates: dates
            .into_iter()
            .map(|(label, at)| (label, at.to_rfc3339(), shown(at)))
            .collect(),
        may_revoke: key.state != KeyState::Revoked,
        revoke_label: (t.revoke_label)(&key.kid),
    }
}

/// Renders a page of this area.
pub fn render(state: &AppState, view: KeysView) -> HttpResponse {
    let t = text();
    let form_action = state.endpoint("/admin/keys");
    match view {
        KeysView::Timeline(timeline) => {
            let notice = timeline.notice.map(|n| match n {
                KeysNotice::Staged { kid, alg } => (t.staged)(&kid, &alg),
                KeysNotice::Revoked { kid, was } => (t.revoked_notice)(&kid, state_label(was)),
                KeysNotice::AlreadyRevoked { kid } => (t.already_revoked)(&kid),
            });
            let groups = timeline
                .algorithms
                .iter()
                .map(|g| KeyGroup {
                    alg: g.alg.clone(),
                    caption: (t.caption)(&g.alg),
                    rotate_label: (t.rotate_label)(&g.alg),
                    keys: g.keys.iter().map(row).collect(),
                })
                .collect();
            page(
                askama::Template::render(&KeysPage {
                    frame: super::frame(state, &timeline.frame, None, notice.as_deref(), None),
                    text: t,
                    csrf_token: &timeline.frame.csrf_token,
                    form_action: &form_action,
                    groups,
                    may_write: timeline.may_write,
                }),
                false,
            )
        }
        KeysView::Confirm(confirm) => {
            let (heading, action, field, value, consequences, confirm_label, is_danger) =
                match &confirm.action {
                    KeyConfirmation::Rotate { alg } => (
                        t.confirm_rotate_heading,
                        "rotate",
                        "alg",
                        alg.clone(),
                        t.rotate_consequences
                            .iter()
                            .map(|s| (*s).to_owned())
                            .collect(),
                        (t.confirm_rotate)(alg),
                        false,
                    ),
                    KeyConfirmation::Revoke {
                        key,
                        is_current,
                        replacement,
                    } => {
                        let mut lines: Vec<String> = Vec::new();
                        if *is_current {
                            lines.push(t.revoke_current_now.to_owned());
                            lines.push(match replacement {
                                Some(kid) => (t.replaced_by)(kid),
                                None => t.replaced_by_fresh.to_owned(),
                            });
                        }
                        lines.extend(t.revoke_consequences.iter().map(|s| (*s).to_owned()));
                        (
                            t.confirm_revoke_heading,
                            "revoke",
                            "kid",
                            key.kid.clone(),
                            lines,
                            t.confirm_revoke.to_owned(),
                            true,
                        )
                    }
                };
            page(
                askama::Template::render(&KeyConfirmPage {
                    frame: super::frame(state, &confirm.frame, Some(heading), None, None),
                    text: t,
                    csrf_token: &confirm.frame.csrf_token,
                    form_action: &form_action,
                    cancel_href: &form_action,
                    action,
                    field,
                    value: &value,
                    consequences,
                    confirm_label,
                    is_danger,
                }),
                false,
            )
        }
    }
}
