//! The audit trail as people read it: the user's own activity (`/account/activity`) and the admin console's audit log (`/admin/audit`, with its export).
//!
//! `GET /account/activity?page=`, `GET /admin/audit?user=&client=&action=&from=&to=&page=`,
//! `GET /admin/audit/export?format=csv|jsonl&…the same filter` (an attachment;
//! [`palisade_flow::console::audit`]). A query string that cannot be read (not UTF-8) is read
//! as empty: these pages only read.

use super::sessions::shown;
use crate::app::AppState;
use crate::browser::{browser_of, page, refusal_page, respond};
use crate::forms;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;
use palisade_core::model::AuditOutcome;
use palisade_flow::console::audit::{
    AuditFilterInput, AuditLine, AuditProblem, AuditView, ExportFormat, Paging,
};
use palisade_flow::interaction::Refusal;
use palisade_pages::catalogue::audit::{AuditText, EN};
use palisade_pages::console::audit::{ActivityPage, ActivityRow, AuditLogPage, AuditRow, Pager};

fn text() -> &'static AuditText {
    &EN
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    forms::pairs(req.query_string().as_bytes()).unwrap_or_default()
}

pub async fn activity(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let pairs = query_pairs(&req);
    let outcome = state
        .engine
        .show_activity(&browser, forms::get(&pairs, "page"))
        .await;
    respond(&state, outcome)
}

pub async fn log(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let pairs = query_pairs(&req);
    let filter = AuditFilterInput::from_query(|name| forms::get(&pairs, name));
    let outcome = state
        .engine
        .show_audit_log(&browser, filter, forms::get(&pairs, "page"))
        .await;
    respond(&state, outcome)
}

pub async fn export(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let pairs = query_pairs(&req);
    let Some(format) = ExportFormat::parse(forms::get(&pairs, "format")) else {
        return refusal_page(&Refusal::page(OAuthError::invalid_request(
            "format must be csv or jsonl",
        )));
    };
    let filter = AuditFilterInput::from_query(|name| forms::get(&pairs, name));
    match state.engine.export_audit(&browser, filter, format).await {
        Ok(export) => {
            let name = format!(
                "palisade-audit-{}.{}",
                state.clock.now().format("%Y%m%dT%H%M%SZ"),
                format.extension()
            );
            HttpResponse::Ok()
                .content_type(format.media_type())
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header(("X-Palisade-Export-Rows", export.rows.to_string()))
                .insert_header((
                    "X-Palisade-Export-Truncated",
                    if export.truncated { "true" } else { "false" },
                ))
                .body(export.body)
        }
        Err(refusal) => refusal_page(&refusal),
    }
}

/// Renders a page of this area.
pub fn render(state: &AppState, view: AuditView) -> HttpResponse {
    let t = text();
    match view {
        AuditView::Activity(activity) => {
            let base = state.endpoint("/account/activity");
            let rows = activity.events.iter().map(activity_row).collect();
            page(
                askama::Template::render(&ActivityPage {
                    frame: super::frame(state, &activity.frame, None, None, None),
                    text: t,
                    rows,
                    pager: pager(&base, &[], activity.paging),
                }),
                false,
            )
        }
        AuditView::Log(log) => {
            let base = state.endpoint("/admin/audit");
            let f = &log.filter;
            let filter_pairs = [
                ("user", f.user.as_str()),
                ("client", f.client.as_str()),
                ("action", f.action.as_str()),
                ("from", f.from.as_str()),
                ("to", f.to.as_str()),
            ];
            let export = |format: &str| {
                let mut pairs = vec![("format", format)];
                pairs.extend(filter_pairs.iter().filter(|(_, v)| !v.is_empty()));
                link(&state.endpoint("/admin/audit/export"), &pairs)
            };
            let problem = log.problem.map(|p| match p {
                AuditProblem::BadDate => t.bad_date,
                AuditProblem::UnknownUser => t.unknown_user,
            });
            page(
                askama::Template::render(&AuditLogPage {
                    frame: super::frame(state, &log.frame, None, None, problem),
                    text: t,
                    form_action: &base,
                    user: &f.user,
                    client: &f.client,
                    action: &f.action,
                    from: &f.from,
                    to: &f.to,
                    rows: log.events.iter().map(audit_row).collect(),
                    pager: pager(&base, &filter_pairs, log.paging),
                    export_csv_href: export("csv"),
                    export_jsonl_href: export("jsonl"),
                }),
                false,
            )
        }
    }
}

fn link(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    let query = query.finish();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

fn pager(base: &str, filter: &[(&str, &str)], paging: Paging) -> Pager {
    let at = |page: u32| {
        let number = page.to_string();
        let mut pairs = filter.to_vec();
        if page > 1 {
            pairs.push(("page", number.as_str()));
        }
        link(base, &pairs)
    };
    Pager {
        previous_href: (paging.page > 1).then(|| at(paging.page - 1)),
        next_href: paging.has_next.then(|| at(paging.page + 1)),
        label: (text().page)(paging.page),
    }
}

fn outcome(line: &AuditLine) -> (&'static str, bool) {
    match line.outcome {
        AuditOutcome::Success => (text().succeeded, false),
        AuditOutcome::Failure => (text().failed, true),
    }
}

/// The activity page's sentence for an event.
fn sentence(line: &AuditLine) -> String {
    let t = text();
    let failed = line.outcome == AuditOutcome::Failure;
    let action = line.action.as_str();
    let base = match action {
        "login" if failed => t.sign_in_failed,
        "login" => t.signed_in,
        "login.second_factor" if failed => t.second_factor_failed,
        "login.second_factor" => t.second_factor,
        "login.passkey" if failed => t.passkey_failed,
        "login.passkey" => t.passkey,
        "user.lockout" => t.locked,
        "user.unlock" => t.unlocked,
        "factor.enrol" => t.factor_added,
        "factor.rename" => t.factor_renamed,
        "factor.remove" => t.factor_removed,
        "factor.recovery_codes.regenerate" => t.recovery_codes_new,
        "factor.recovery_code.used" => t.recovery_code_used,
        "account.reauthenticate" => t.reauthenticated,
        "account.session.end" => t.session_ended,
        a if a.starts_with("account.password") => t.password_changed,
        a if a.starts_with("account.profile") => t.profile_changed,
        a if a.starts_with("admin.user.") => t.by_administrator,
        other => return (t.other)(other),
    };
    match (&line.reason, failed) {
        (Some(reason), true) => format!("{base} {}", (t.because)(reason)),
        _ => base.to_owned(),
    }
}

fn activity_row(line: &AuditLine) -> ActivityRow {
    let (outcome, is_failure) = outcome(line);
    ActivityRow {
        at: line.occurred_at.to_rfc3339(),
        at_shown: shown(line.occurred_at),
        what: sentence(line),
        outcome,
        is_failure,
        address: line.client_ip.clone().unwrap_or_default(),
    }
}

fn audit_row(line: &AuditLine) -> AuditRow {
    let (outcome, is_failure) = outcome(line);
    let party = |raw: &str, name: &Option<String>| name.clone().unwrap_or_else(|| raw.to_owned());
    AuditRow {
        at: line.occurred_at.to_rfc3339(),
        at_shown: shown(line.occurred_at),
        actor: party(&line.actor, &line.actor_name),
        actor_id: line.actor.clone(),
        target: line
            .target
            .as_deref()
            .map(|t| party(t, &line.target_name))
            .unwrap_or_default(),
        target_id: line.target.clone().unwrap_or_default(),
        action: line.action.clone(),
        outcome,
        is_failure,
        address: line.client_ip.clone().unwrap_or_default(),
        details: line.details.clone().unwrap_or_default(),
    }
}
