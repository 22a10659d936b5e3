//! Liveness and readiness probes.
//!
//! `/healthz` answers as long as the process serves HTTP. `/readyz` answers 200 only when the
//! database and the ephemeral store both answer within a deadline, so a load balancer takes a
//! node out of rotation within a second of losing either.

use crate::app::AppState;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use palisade_core::ports::HealthCheck;
use serde_json::json;
use std::time::Duration;

/// How long a readiness probe waits for each store.
const PROBE_DEADLINE: Duration = Duration::from_millis(800);

pub async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(json!({ "status": "ok" }))
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let (database, ephemeral) = tokio::join!(probe(&state.sql), probe(state.ephemeral.as_ref()),);
    let all_ok = database.is_none() && ephemeral.is_none();
    let body = json!({
        "status": if all_ok { "ready" } else { "unavailable" },
        "database": database.unwrap_or("ok"),
        "ephemeral_store": ephemeral.unwrap_or("ok"),
    });
    let mut res = if all_ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body)
}

/// `None` when healthy, otherwise a short reason fit for an operator (no connection strings).
async fn probe(store: &dyn HealthCheck) -> Option<&'static str> {
    match tokio::time::timeout(PROBE_DEADLINE, store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness probe failed");
            Some("unreachable")
        }
        Err(_) => {
            tracing::warn!("readiness probe timed out");
            Some("timed out")
        }
    }
}
