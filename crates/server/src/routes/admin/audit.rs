//! `GET /admin/v1/audit`: reading the audit trail back by actor, target, action and time
//! (docs/threat-model.md AD-05).
//! Events are written by `palisade_flow::admin::Auditor` (one shape for every admin action).

use super::error::{ApiError, ok_json};
use super::{Caller, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use palisade_core::model::{AuditEvent, AuditQuery};
use serde_json::{Value, json};

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
        ..AuditQuery::default()
    };
    let events: Vec<Value> = state
        .admin
        .auditor()
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
