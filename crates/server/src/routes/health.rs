//! Liveness and readiness probes (readiness/mod.rs says what "ready" means).
//!
//! - `GET /healthz`: 200 as long as the process serves HTTP. For a liveness probe: restarting
//!   a node cures nothing a dependency outage causes.
//! - `GET /readyz`: 200 unless this node should leave the balancer's rotation (draining, no
//!   usable key ring, its database pool exhausted too long); a shared dependency that is down
//!   is named in `degraded` with a 200.
//! - `GET /readyz/dependencies`: the same JSON, 200 only when every shared dependency is up.
//!   For monitoring and alerts, never for a balancer: every node answers it alike.

use crate::app::AppState;
use crate::readiness::Report;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use serde_json::json;

pub async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(json!({ "status": "ok" }))
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let report = state.readiness.report().await;
    respond(report.is_ready(), &report)
}

pub async fn dependencies(state: web::Data<AppState>) -> HttpResponse {
    let report = state.readiness.report().await;
    respond(report.are_dependencies_up(), &report)
}

fn respond(is_ok: bool, report: &Report) -> HttpResponse {
    let status = if is_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(report)
}
