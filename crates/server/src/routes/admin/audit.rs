//! Audit events: writing one for every admin mutation (docs/threat-model.md AD-05), and
//! `GET /admin/v1/audit` to read them back by actor, target, action and time.
//!
//! An event names who (`user:<id>` / `client:<id>`), what (`admin.user.create`), on what
//! (`user:<id>`, `role:<name>`, `client:<id>`, `key:<kid>`), the outcome and the peer address;
//! `details` holds non-secret facts only (role names, permission names, changed fields) —
//! never a password, a secret, a hash or a token. Each event is also a tracing line with target
//! `audit`, so a log pipeline sees it even if the database write fails.

use super::error::{ApiError, ok_json};
use super::{Caller, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery};
use palisade_core::ports::AuditLog;
use serde_json::{Value, json};

/// Records what `caller` did to `target`. A failure to write is logged, not returned: the
/// change it describes has already been made, and the log line above still carries it.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    target: &str,
    outcome: AuditOutcome,
    details: Option<Value>,
) {
    let action = caller.action();
    let details_text = details
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    tracing::info!(
        target: "audit",
        actor = %caller.actor,
        action,
        target_id = target,
        outcome = outcome.as_str(),
        client_ip = caller.client_ip.as_deref().unwrap_or("-"),
        details = %details_text,
    );
    let event = AuditEvent {
        occurred_at: state.clock.now(),
        actor: caller.actor.clone(),
        action: action.to_owned(),
        target: Some(target.to_owned()),
        outcome,
        client_ip: caller.client_ip.clone(),
        details: details.map(|d| d.to_string()),
    };
    if let Err(e) = state.sql.record(event).await {
        tracing::error!(error = %e, action, "could not write the audit event");
    }
}

/// A successful change.
pub async fn success(state: &AppState, caller: &Caller, target: &str, details: Option<Value>) {
    record(state, caller, target, AuditOutcome::Success, details).await;
}

/// A change refused because it would hand out or touch more than the caller holds.
pub async fn refused(state: &AppState, caller: &Caller, target: &str, error: ApiError) -> ApiError {
    record(
        state,
        caller,
        target,
        AuditOutcome::Failure,
        Some(json!({ "reason": error.to_string() })),
    )
    .await;
    error
}

/// `GET /admin/v1/audit?actor=&target=&action=&since=&until=&limit=`: exact matches, `since`
/// inclusive and `until` exclusive (RFC 3339), newest first, at most `limit` (1..=1000, 100).
pub async fn query(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = input::query(&req)?;
    let time = |name: &'static str| -> Result<Option<DateTime<Utc>>, ApiError> {
        input::param(&q, name)
            .map(|raw| {
                DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "{name} must be an RFC 3339 time, e.g. 2025-07-01T12:00:00Z"
                        ))
                    })
            })
            .transpose()
    };
    let query = AuditQuery {
        actor: input::param(&q, "actor").map(str::to_owned),
        target: input::param(&q, "target").map(str::to_owned),
        action: input::param(&q, "action").map(str::to_owned),
        since: time("since")?,
        until: time("until")?,
        limit: input::number(&q, "limit", 100, 1, 1000)?,
    };
    let events: Vec<Value> = state
        .sql
        .query(query)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(ok_json(200, &json!({ "events": events })))
}

fn view(e: AuditEvent) -> Value {
    json!({
        "occurred_at": e.occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "outcome": e.outcome.as_str(),
        "client_ip": e.client_ip,
        "details": e.details.map(|d| serde_json::from_str::<Value>(&d).unwrap_or(Value::String(d))),
    })
}
